"""Model files: CatBoost and scikit-learn models survive a save/load round trip with identical
predictions, and a skops file holding anything outside the allow-list is refused before any of
it is loaded."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from catboost import CatBoostClassifier
from porto.errors import IntegrityError
from porto.flavors import MODEL_FILES, dump_model, load_model
from porto.flavors.catboost import CATBOOST
from porto.flavors.sklearn import SKLEARN, SKOPS_TRUSTED
from porto.schema import FeatureKind, FeatureSchema, model_frame
from porto.synthetic import SyntheticData
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler


@pytest.fixture(scope="module")
def xy(synthetic_small: SyntheticData, small_schema: FeatureSchema) -> tuple[pd.DataFrame, Any]:
    """Model-ready features (NaN for missing numbers, strings for categories) and labels."""
    frame = synthetic_small.frame
    return model_frame(frame, small_schema), frame["target"].to_numpy()


def _columns(schema: FeatureSchema) -> tuple[list[str], list[str]]:
    cats = [f.name for f in schema.features if f.kind is FeatureKind.CATEGORICAL]
    return [n for n in schema.names if n not in cats], cats


def _baseline_pipeline(schema: FeatureSchema, class_weight: Any = None) -> Pipeline:
    """The shape of porto's sklearn baseline: impute + indicators + scale, one-hot, logistic."""
    numeric, categorical = _columns(schema)
    numbers = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
            ("scale", StandardScaler()),
        ]
    )
    encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64)
    prepare = ColumnTransformer(
        [("num", numbers, numeric), ("cat", encoder, categorical)], remainder="drop"
    )
    model = LogisticRegression(max_iter=1000, random_state=0, class_weight=class_weight)
    return Pipeline([("prepare", prepare), ("model", model)])


def test_model_file_names() -> None:
    assert MODEL_FILES == {CATBOOST: "model.cbm", SKLEARN: "model.skops"}


def test_catboost_round_trip(
    xy: tuple[pd.DataFrame, Any], small_schema: FeatureSchema, tmp_path: Any
) -> None:
    x, y = xy
    model = CatBoostClassifier(
        iterations=25,
        depth=4,
        random_seed=0,
        verbose=False,
        thread_count=2,
        allow_writing_files=False,
        cat_features=small_schema.categorical_indices,
    ).fit(x, y)
    data = dump_model(CATBOOST, model)
    assert data[:4] == b"CBM1"  # CatBoost's own format, not a pickle
    predictor = load_model(CATBOOST, data)
    assert predictor.model_type == CATBOOST
    probabilities = predictor.predict_proba(x)
    assert probabilities.dtype == np.float64
    assert probabilities.shape == (len(x),)
    np.testing.assert_allclose(probabilities, model.predict_proba(x)[:, 1], rtol=1e-9)
    assert 0 < probabilities.min() < probabilities.max() < 1


@pytest.fixture(scope="module")
def baseline(xy: tuple[pd.DataFrame, Any], small_schema: FeatureSchema) -> Pipeline:
    """The baseline fitted once, with class weights as training sets them (a dict in the file)."""
    x, y = xy
    return _baseline_pipeline(small_schema, {0: 1.0, 1: 12.5}).fit(x.iloc[:2000], y[:2000])


def test_sklearn_pipeline_round_trip(xy: tuple[pd.DataFrame, Any], baseline: Pipeline) -> None:
    x, _ = xy
    predictor = load_model(SKLEARN, dump_model(SKLEARN, baseline))
    assert predictor.model_type == SKLEARN
    probabilities = predictor.predict_proba(x)
    assert probabilities.dtype == np.float64
    np.testing.assert_array_equal(probabilities, baseline.predict_proba(x)[:, 1])


def test_sklearn_model_handles_unseen_categories_after_reload(
    xy: tuple[pd.DataFrame, Any], baseline: Pipeline
) -> None:
    x, _ = xy
    predictor = load_model(SKLEARN, dump_model(SKLEARN, baseline))
    row = x.iloc[:1].copy()
    row["ps_car_11_cat"] = "999"
    row["ps_reg_03"] = np.nan
    assert np.isfinite(predictor.predict_proba(row)).all()


def test_random_forest_is_outside_the_allow_list(xy: tuple[pd.DataFrame, Any]) -> None:
    x, y = xy
    numeric = x.select_dtypes("number").fillna(0)
    forest = RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0).fit(numeric, y)
    with pytest.raises(IntegrityError, match=r"outside the allow-list.*sklearn\.tree\._tree\.Tree"):
        load_model(SKLEARN, dump_model(SKLEARN, forest))


def test_function_transformer_is_outside_the_allow_list(xy: tuple[pd.DataFrame, Any]) -> None:
    """skops trusts FunctionTransformer and numpy functions by default; porto's list does not."""
    x, y = xy
    numeric = x.select_dtypes("number").fillna(0).clip(lower=0)
    pipeline = Pipeline(
        [("log", FunctionTransformer(np.log1p)), ("model", LogisticRegression(max_iter=200))]
    ).fit(numeric, y)
    with pytest.raises(IntegrityError, match="FunctionTransformer"):
        load_model(SKLEARN, dump_model(SKLEARN, pipeline))


class Sneaky(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """An estimator from outside sklearn: loading it would import and run this module's code."""

    def fit(self, x: Any, y: Any) -> Sneaky:
        self.classes_ = np.unique(y)
        return self


def test_foreign_estimator_is_refused_without_being_loaded(
    xy: tuple[pd.DataFrame, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = xy
    data = dump_model(SKLEARN, Sneaky().fit(x, y))
    loaded: list[bytes] = []
    monkeypatch.setattr(sio, "loads", lambda *a, **k: loaded.append(a[0]))
    with pytest.raises(IntegrityError, match="Sneaky"):
        load_model(SKLEARN, data)
    assert loaded == []


@pytest.mark.parametrize("model_type", [CATBOOST, SKLEARN])
def test_corrupt_bytes_are_an_integrity_error(model_type: str) -> None:
    with pytest.raises(IntegrityError, match=f"cannot load {model_type} model"):
        load_model(model_type, b"definitely not a model")


def test_unknown_model_type() -> None:
    with pytest.raises(IntegrityError, match=r"unknown model type 'xgboost' \(known: catboost"):
        load_model("xgboost", b"")
    with pytest.raises(ValueError, match="unknown model type"):
        dump_model("xgboost", object())


def test_allow_list_is_exact_type_names() -> None:
    """Entries must be fully qualified names as skops reports them, without duplicates."""
    assert len(SKOPS_TRUSTED) == len(set(SKOPS_TRUSTED))
    assert all("." in name and " " not in name for name in SKOPS_TRUSTED)
