"""CatBoost: categorical features and missing values handled natively, saved in CatBoost's own
``.cbm`` format, scored through a :class:`catboost.Pool` built straight from the request's rows.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from porto.contracts.insights import FeatureRanking
from porto.errors import IntegrityError
from porto.flavors.base import (
    SMALL_BATCH,
    ClassifierModel,
    Contributions,
    FitObserver,
    Fitted,
    ModelInput,
    ranked,
)
from porto.flavors.catboost_trees import TreeEvaluator, compile_trees
from porto.schema import FeatureKind, FeatureSchema

CATBOOST = "catboost"
#: Up to this many rows, a model the tree evaluator compiled is scored by it instead of through
#: CatBoost, whose per-call set-up dominates a few rows. Measured on 2 shared cores with
#: bench_api's model (300 depth-6 trees), per call: 1 row 0.024 ms against CatBoost's 0.100,
#: 8 rows 0.062 / 0.150, 24 rows 0.122 / 0.218; above, CatBoost reads a categorical frame.
TREE_ROWS = SMALL_BATCH

#: Settings porto always sets: the observer replaces CatBoost's own logging, and a training job
#: must not litter its working directory with ``catboost_info/``.
_FIXED = {"verbose": False, "allow_writing_files": False}


class CatBoostModel(ClassifierModel):
    """A fitted CatBoostClassifier."""

    model_type = CATBOOST
    trees: TreeEvaluator | None = None
    """The small-batch evaluator, once :meth:`check_schema` compiled and checked it."""

    def predict(self, rows: ModelInput, *, threads: int) -> np.ndarray:
        """Return P(target = 1) per row: up to :data:`TREE_ROWS` rows given as codes, by the
        compiled trees; else through a Pool of an object array for up to :data:`SMALL_BATCH`
        rows (cheapest to build), of a frame of categorical columns for more (CatBoost then
        hashes each distinct category once instead of once per row); all give what
        :meth:`predict_proba` gives."""
        if self.trees is not None and rows.rows <= TREE_ROWS:
            coded = rows.coded()
            if coded is not None:
                return self.trees.predict(coded)
        pool = _pool(rows, threads)
        proba = self.estimator.predict(pool, prediction_type="Probability", thread_count=threads)
        return np.ascontiguousarray(proba[:, 1], dtype=np.float64)

    def explain(self, rows: ModelInput, *, threads: int) -> Contributions:
        """CatBoost's exact TreeSHAP (``ShapValues``) per row: the last column is the expected
        raw score (the base), the others sum with it to the row's raw score."""
        shap = np.asarray(
            self.estimator.get_feature_importance(
                _pool(rows, threads), type="ShapValues", thread_count=threads
            ),
            dtype=np.float64,
        )
        return Contributions(base=shap[:, -1].copy(), values=shap[:, :-1].copy())

    def check_schema(self, schema: FeatureSchema) -> None:
        """The model's own feature names and categorical positions must be the schema's; then
        its trees are compiled for small batches (and checked against CatBoost: see
        :mod:`porto.flavors.catboost_trees`)."""
        trained_names = list(self.estimator.feature_names_ or [])
        if trained_names and trained_names != schema.names:
            raise IntegrityError("trained on other features than its manifest lists")
        if sorted(self.estimator.get_cat_feature_indices()) != schema.categorical_indices:
            raise IntegrityError("categorical features differ from the manifest")
        self.trees = compile_trees(self.estimator, schema)

    def feature_importance(self, schema: FeatureSchema, sample: pd.DataFrame) -> FeatureRanking:
        """PredictionValuesChange: how much the prediction moves when the feature's split values
        change, normalised to sum to 100 (``sample`` is not needed)."""
        values = np.asarray(self.estimator.get_feature_importance(), dtype="float64")
        return ranked("catboost PredictionValuesChange", schema.names, values)

    def shap_importance(self, schema: FeatureSchema, sample: pd.DataFrame) -> FeatureRanking:
        """CatBoost's native exact TreeSHAP (``ShapValues``), mean |SHAP| over ``sample``."""
        from catboost import Pool

        pool = Pool(sample, cat_features=_categorical_names(schema) or None)
        shap = np.asarray(self.estimator.get_feature_importance(pool, type="ShapValues"))
        values = np.abs(shap[:, :-1]).mean(axis=0)  # the last column is the expected value
        return ranked("catboost ShapValues, mean |SHAP|", schema.names, values, rows=len(sample))


class CatBoostFlavor:
    """Build, fit, save and load CatBoost classifiers."""

    name = CATBOOST
    model_file = "model.cbm"

    def build(
        self, params: dict[str, Any], schema: FeatureSchema, *, seed: int, pos_weight: float
    ) -> Any:
        """Return an unfitted CatBoostClassifier with ``params`` and the schema's categoricals."""
        from catboost import CatBoostClassifier

        kwargs = {k: v for k, v in params.items() if k != "early_stopping_rounds"}
        kwargs.update(_FIXED)
        kwargs.setdefault("random_seed", seed)
        if pos_weight != 1.0:
            kwargs["class_weights"] = {0: 1.0, 1: pos_weight}
        return CatBoostClassifier(cat_features=_categorical_names(schema) or None, **kwargs)

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
        """Fit with early stopping on the validation rows (``early_stopping_rounds``), keeping
        the best iteration; the observer sees every iteration's log-loss and can stop the loop."""
        model = self.build(params, schema, seed=seed, pos_weight=pos_weight)
        callback = _Callback(observer) if observer is not None else None
        if observer is not None:
            observer.plan(int(model.get_param("iterations") or 1000))
        model.fit(
            *train,
            eval_set=validation,
            use_best_model=True,
            early_stopping_rounds=params.get("early_stopping_rounds"),
            callbacks=[callback] if callback is not None else None,
        )
        return Fitted(
            model=CatBoostModel(model),
            iterations=int(model.tree_count_),
            history=callback.history if callback is not None else {},
        )

    def dump(self, estimator: Any) -> bytes:
        """Return the model's ``.cbm`` bytes (CatBoost writes them only to a file)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / self.model_file
            estimator.save_model(str(path), format="cbm")
            return path.read_bytes()

    def load(self, data: bytes) -> CatBoostModel:
        """Return the model in ``.cbm`` bytes; IntegrityError if they are not one."""
        try:
            from catboost import CatBoostClassifier

            model = CatBoostClassifier()
            model.load_model(blob=data, format="cbm")
        except Exception as exc:
            raise IntegrityError(f"cannot load {CATBOOST} model: {exc}") from exc
        return CatBoostModel(model)


class _Callback:
    """Forwards CatBoost's per-iteration log-loss to the observer, and stops when it asks."""

    def __init__(self, observer: FitObserver) -> None:
        self.observer = observer
        self.history: dict[str, list[float]] = {}

    def after_iteration(self, info: Any) -> bool:
        losses: dict[str, float] = {}
        for dataset, values in info.metrics.items():
            series = values.get("Logloss")
            if series:
                name = "learn" if dataset == "learn" else "validation"
                losses[name] = float(series[-1])
                self.history.setdefault(name, []).append(losses[name])
        self.observer.iteration(int(info.iteration), losses)
        # False stops the loop: after SIGTERM, stop at once (training then raises Terminated).
        return not self.observer.stop_requested()


def _pool(rows: ModelInput, threads: int) -> Any:
    """The rows as a Pool, through the cheaper input for their count."""
    from catboost import Pool

    data: Any = rows.object_rows() if rows.rows <= SMALL_BATCH else rows.frame(categorical=True)
    # thread_count on the Pool too: by default CatBoost fans data loading out to every core,
    # which in a worker that already owns one core only adds wake-ups.
    return Pool(data, cat_features=rows.categorical_positions, thread_count=threads)


def _categorical_names(schema: FeatureSchema) -> list[str]:
    return [f.name for f in schema.features if f.kind is FeatureKind.CATEGORICAL]
