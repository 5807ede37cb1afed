"""Fitting a model of the configured flavor (:mod:`porto.flavors`: CatBoost, or the
scikit-learn logistic-regression baseline).

Every flavor takes the model-ready frame of :func:`porto.schema.model_frame` (numbers as float with
NaN for missing, categories as canonical strings), the same frame inference builds, so a model
never sees data prepared differently from how it will be served.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from porto.flavors import flavor
from porto.flavors.base import Model
from porto.schema import FeatureSchema

from porto_training import termination
from porto_training.config import Imbalance
from porto_training.progress import Progress


@dataclass
class TrainedModel:
    """A fitted model and what it took to fit it."""

    model: Model
    params: dict[str, Any]
    iterations: int | None = None
    history: dict[str, list[float]] = field(default_factory=dict)

    @property
    def estimator(self) -> Any:
        """The model library's own fitted object."""
        return self.model.estimator

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Return P(target = 1) for each row of the model-ready ``frame``."""
        return self.model.predict_proba(frame)


class ProgressObserver:
    """A fit's observer over the run's progress display and its SIGTERM flag."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def plan(self, iterations: int) -> None:
        """Announce the fit's iteration budget."""
        self.progress.plan(iterations)

    def iteration(self, done: int, losses: dict[str, float] | None = None) -> None:
        """Report an iteration and its losses."""
        self.progress.iteration(done, losses)

    def stop_requested(self) -> bool:
        """Stop as soon as SIGTERM arrived (the stage then raises Terminated)."""
        return termination.received()


def positive_weight(y: np.ndarray, imbalance: Imbalance) -> float:
    """Return the weight of a positive row relative to a negative one under ``imbalance``."""
    positives = max(1, int(np.sum(y)))
    ratio = (len(y) - positives) / positives
    if imbalance is Imbalance.BALANCED:
        return ratio
    if imbalance is Imbalance.SQRT_BALANCED:
        return math.sqrt(ratio)
    return 1.0


def fit_model(
    model_type: str,
    params: dict[str, Any],
    schema: FeatureSchema,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_val: pd.DataFrame,
    y_val: np.ndarray,
    *,
    seed: int,
    imbalance: Imbalance,
    progress: Progress | None = None,
) -> TrainedModel:
    """Return a model of flavor ``model_type`` fitted on the training rows (a flavor may stop
    early on the validation rows: CatBoost does, keeping its best iteration)."""
    fitted = flavor(model_type).fit(
        params,
        schema,
        (x_train, y_train),
        (x_val, y_val),
        seed=seed,
        pos_weight=positive_weight(y_train, imbalance),
        observer=ProgressObserver(progress) if progress is not None else None,
    )
    return TrainedModel(
        model=fitted.model,
        params=dict(params),
        iterations=fitted.iterations,
        history=fitted.history,
    )
