"""What every model flavor provides, and the small interfaces its callers hand it.

A flavor is everything porto knows about one model library: the file a model is saved as, how an
unfitted estimator is built and fitted, how the file is written and read back safely, how a
loaded model scores and explains itself. Callers (training, inference) hold a :class:`Flavor`
and a :class:`Model` and never ask which library is behind them.

The model libraries are imported inside the flavors' functions, never at module level: the UI
installs porto without them and still imports the core.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from porto.contracts.insights import FeatureRanking
from porto.schema import FeatureSchema

#: Up to this many rows a flavor may score through a per-row input (cheapest to build for a few
#: rows) and above through a columnar one; a loader warms both up with one batch either side.
SMALL_BATCH = 24


class FitObserver(Protocol):
    """Watches a fit: training passes an adapter over its progress display and its SIGTERM flag,
    so this package needs neither."""

    def plan(self, iterations: int) -> None:
        """Announce how many iterations the fit may take at most."""
        ...

    def iteration(self, done: int, losses: dict[str, float] | None = None) -> None:
        """Report ``done`` iterations completed, with the latest loss per dataset."""
        ...

    def stop_requested(self) -> bool:
        """Whether the fit must stop at once (the run is being terminated)."""
        ...


@dataclass(frozen=True)
class CodedRows:
    """Rows as numbers and category codes, the shape inference's codec holds them in.

    ``numbers``: one column per numeric feature, in model order, float64 with NaN for missing.
    ``codes``: one column per categorical feature, in model order; a code indexes that feature's
    list in ``categories`` (canonical strings; a list may grow, never reorder).
    """

    numbers: np.ndarray
    codes: np.ndarray
    categories: Sequence[Sequence[str]]


class ModelInput(Protocol):
    """Rows to score, offered in the shapes a flavor may prefer; each shape is built only when
    the flavor asks for it (inference builds them straight from its encoded batch)."""

    @property
    def rows(self) -> int:
        """How many rows there are."""
        ...

    @property
    def categorical_positions(self) -> list[int]:
        """Positions of the categorical columns in model column order."""
        ...

    def object_rows(self) -> np.ndarray:
        """The rows as a 2-D object array in model column order (numbers as floats with NaN,
        categories as canonical strings): the cheapest shape for a few rows."""
        ...

    def frame(self, *, categorical: bool) -> pd.DataFrame:
        """The rows as a frame in model column order: numbers as float64 with NaN, categories as
        canonical strings (``categorical``: as pandas categoricals of those strings)."""
        ...

    def coded(self) -> CodedRows | None:
        """The rows as numbers and category codes, when the caller holds them that way (None
        otherwise: the flavor then asks for another shape)."""
        ...


@dataclass(frozen=True)
class Contributions:
    """Why a model gave each row its score: per row, a base value and one contribution per
    feature (model order), in the model's raw-score units (log-odds), such that base + the sum
    of the row's contributions is the row's raw score, and sigmoid(raw score) its probability."""

    base: np.ndarray
    """(rows,) float64."""
    values: np.ndarray
    """(rows, features) float64, columns in model feature order."""

    @property
    def raw_scores(self) -> np.ndarray:
        """base + contributions per row: the model's log-odds."""
        return np.asarray(self.base + self.values.sum(axis=1), dtype=np.float64)


class Model(Protocol):
    """A fitted model of one flavor, fresh from training or loaded from its verified file."""

    @property
    def model_type(self) -> str:
        """The flavor's name, as manifests record it."""
        ...

    @property
    def estimator(self) -> Any:
        """The model library's own object (what the flavor's ``dump`` writes)."""
        ...

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Return P(target = 1) (float64) for each row of the model-ready ``frame`` of
        :func:`porto.schema.model_frame` (columns in model order)."""
        ...

    def predict(self, rows: ModelInput, *, threads: int) -> np.ndarray:
        """Return P(target = 1) (float64) for ``rows`` through the flavor's fastest path, using
        at most ``threads`` threads; the same numbers :meth:`predict_proba` gives."""
        ...

    def explain(self, rows: ModelInput, *, threads: int) -> Contributions:
        """Return each row's exact per-feature contributions to its raw score (the scores
        :meth:`predict` gives are sigmoid of their sums)."""
        ...

    def check_schema(self, schema: FeatureSchema) -> None:
        """Raise :class:`porto.errors.IntegrityError` if the model was evidently trained on other
        features than ``schema`` (a manifest that does not describe its own model)."""
        ...

    def feature_importance(self, schema: FeatureSchema, sample: pd.DataFrame) -> FeatureRanking:
        """Return each feature's importance as the model sees it, as :func:`ranked` shapes it."""
        ...

    def shap_importance(self, schema: FeatureSchema, sample: pd.DataFrame) -> FeatureRanking:
        """Return the mean |SHAP value| per feature over ``sample`` (log-odds units), as
        :func:`ranked` shapes it."""
        ...


class ClassifierModel:
    """What every flavor whose library has scikit-learn's classifier interface shares: the
    estimator it wraps and P(class 1) from ``predict_proba``."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Return P(target = 1) for each row of the model-ready ``frame``."""
        return np.asarray(self.estimator.predict_proba(frame)[:, 1], dtype="float64")


@dataclass
class Fitted:
    """A model fresh from :meth:`Flavor.fit` and what it took to fit it."""

    model: Model
    iterations: int
    history: dict[str, list[float]] = field(default_factory=dict)


class Flavor(Protocol):
    """One model library: build, fit, save, load."""

    @property
    def name(self) -> str:
        """The value of ``model.type`` in the training config and ``model_type`` in manifests."""
        ...

    @property
    def model_file(self) -> str:
        """The name of the model file in a bundle."""
        ...

    def build(
        self, params: dict[str, Any], schema: FeatureSchema, *, seed: int, pos_weight: float
    ) -> Any:
        """Return an unfitted estimator with ``params`` (the config's section for this flavor),
        ``seed`` where the config sets none, and positives weighted ``pos_weight``."""
        ...

    def fit(
        self,
        params: dict[str, Any],
        schema: FeatureSchema,
        train: tuple[pd.DataFrame, np.ndarray],
        validation: tuple[pd.DataFrame, np.ndarray],
        *,
        seed: int,
        pos_weight: float,
        observer: FitObserver | None = None,
    ) -> Fitted:
        """Return the estimator of :meth:`build` fitted on the ``train`` rows (a flavor may
        stop early on the ``validation`` rows), reporting to ``observer``."""
        ...

    def dump(self, estimator: Any) -> bytes:
        """Return the bytes of ``estimator`` in the flavor's safe (non-pickle) format."""
        ...

    def load(self, data: bytes) -> Model:
        """Return the model in verified ``data``; IntegrityError if they cannot be loaded."""
        ...


def ranked(
    method: str, names: list[str], values: np.ndarray, *, rows: int | None = None
) -> FeatureRanking:
    """Return one value per feature, largest first: what the bundle stores under ``insights/``
    and the UI shows."""
    pairs = sorted(zip(names, (float(v) for v in values), strict=True), key=lambda kv: -kv[1])
    return FeatureRanking(method=method, rows=rows, values=dict(pairs))
