"""The two model types: CatBoost (categorical features and missing values handled natively) and a
scikit-learn logistic-regression baseline.

Both take the model-ready frame of :func:`porto.schema.model_frame` (numbers as float with NaN for
missing, categories as canonical strings), the same frame inference builds, so a model never sees
data prepared differently from how it will be served.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from porto.model_format import CATBOOST, SKLEARN
from porto.schema import FeatureKind, FeatureSchema

from porto_training import termination
from porto_training.config import Imbalance
from porto_training.progress import Progress

#: CatBoost settings porto always sets: the progress callback replaces CatBoost's own logging,
#: and a training job must not litter its working directory with ``catboost_info/``.
_CATBOOST_FIXED = {"verbose": False, "allow_writing_files": False}


@dataclass
class TrainedModel:
    """A fitted estimator and what it took to fit it."""

    model_type: str
    estimator: Any
    params: dict[str, Any]
    iterations: int | None = None
    history: dict[str, list[float]] = field(default_factory=dict)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Return P(target = 1) for each row of the model-ready ``frame``."""
        return np.asarray(self.estimator.predict_proba(frame)[:, 1], dtype="float64")


def positive_weight(y: np.ndarray, imbalance: Imbalance) -> float:
    """Return the weight of a positive row relative to a negative one under ``imbalance``."""
    positives = max(1, int(np.sum(y)))
    ratio = (len(y) - positives) / positives
    if imbalance is Imbalance.BALANCED:
        return ratio
    if imbalance is Imbalance.SQRT_BALANCED:
        return math.sqrt(ratio)
    return 1.0


def build_catboost(
    params: dict[str, Any], schema: FeatureSchema, *, seed: int, pos_weight: float
) -> Any:
    """Return an unfitted CatBoostClassifier with ``params`` and the schema's categoricals."""
    from catboost import CatBoostClassifier

    kwargs = {k: v for k, v in params.items() if k != "early_stopping_rounds"}
    kwargs.update(_CATBOOST_FIXED)
    kwargs.setdefault("random_seed", seed)
    if pos_weight != 1.0:
        kwargs["class_weights"] = {0: 1.0, 1: pos_weight}
    cats = [f.name for f in schema.features if f.kind is FeatureKind.CATEGORICAL]
    return CatBoostClassifier(cat_features=cats or None, **kwargs)


def build_sklearn(
    params: dict[str, Any], schema: FeatureSchema, *, seed: int, pos_weight: float
) -> Any:
    """Return an unfitted baseline Pipeline: impute (+ missing indicators) and scale numbers,
    one-hot encode categories, logistic regression. Every type in it is on
    :data:`porto.model_format.SKOPS_TRUSTED`, so the saved model loads without pickle."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [f.name for f in schema.features if f.kind is not FeatureKind.CATEGORICAL]
    categorical = [f.name for f in schema.features if f.kind is FeatureKind.CATEGORICAL]
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        number_steps = Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", add_indicator=True)),
                ("scale", StandardScaler()),
            ]
        )
        transformers.append(("num", number_steps, numeric))
    if categorical:
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64)
        transformers.append(("cat", encoder, categorical))
    kwargs: dict[str, Any] = {"max_iter": 1000, **params}
    kwargs.setdefault("random_state", seed)
    if pos_weight != 1.0:
        kwargs["class_weight"] = {0: 1.0, 1: pos_weight}
    return Pipeline(
        [
            ("prepare", ColumnTransformer(transformers, remainder="drop")),
            ("model", LogisticRegression(**kwargs)),
        ]
    )


class _CatBoostCallback:
    """Forwards CatBoost's per-iteration log-loss to the progress reporter."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.history: dict[str, list[float]] = {}

    def after_iteration(self, info: Any) -> bool:
        losses: dict[str, float] = {}
        for dataset, values in info.metrics.items():
            series = values.get("Logloss")
            if series:
                name = "learn" if dataset == "learn" else "validation"
                losses[name] = float(series[-1])
                self.history.setdefault(name, []).append(losses[name])
        self.progress.iteration(int(info.iteration), losses)
        # False stops the loop: after SIGTERM, stop at once (the stage then raises Terminated).
        return not termination.received()


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
    """Return a model fitted on the training rows.

    CatBoost stops early on the validation rows (``early_stopping_rounds``) and keeps its best
    iteration; the baseline has no iterations to stop and ignores the validation rows.
    """
    weight = positive_weight(y_train, imbalance)
    if model_type == CATBOOST:
        model = build_catboost(params, schema, seed=seed, pos_weight=weight)
        callback = _CatBoostCallback(progress) if progress is not None else None
        if progress is not None:
            progress.plan(int(model.get_param("iterations") or 1000))
        model.fit(
            x_train,
            y_train,
            eval_set=(x_val, y_val),
            use_best_model=True,
            early_stopping_rounds=params.get("early_stopping_rounds"),
            callbacks=[callback] if callback is not None else None,
        )
        return TrainedModel(
            model_type=CATBOOST,
            estimator=model,
            params=dict(params),
            iterations=int(model.tree_count_),
            history=callback.history if callback is not None else {},
        )
    if model_type == SKLEARN:
        pipeline = build_sklearn(params, schema, seed=seed, pos_weight=weight)
        pipeline.fit(x_train, y_train)
        n_iter = int(np.max(pipeline.named_steps["model"].n_iter_))
        if progress is not None:
            progress.iteration(n_iter)
        return TrainedModel(
            model_type=SKLEARN, estimator=pipeline, params=dict(params), iterations=n_iter
        )
    raise ValueError(f"unknown model type {model_type!r}")
