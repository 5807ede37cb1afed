"""Model behaviour on synthetic data with a planted signal: the model must learn it, must not learn
from shuffled labels, and must ignore what is not a feature."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from porto.schema import FeatureSchema, infer_schema, model_frame
from porto.synthetic import generate
from porto_training.config import Imbalance, load_config
from porto_training.models import TrainedModel, fit_model
from porto_training.split import Split, stratified_split
from sklearn.metrics import roc_auc_score


@dataclass(frozen=True)
class Prepared:
    frame: pd.DataFrame
    probability: np.ndarray
    y: np.ndarray
    split: Split
    schema: FeatureSchema
    x: pd.DataFrame


@pytest.fixture(scope="module")
def prepared() -> Prepared:
    """30,000 synthetic rows, split and made model-ready with the default config's rules."""
    data = generate(30_000, seed=21)
    y = data.frame["target"].to_numpy()
    split = stratified_split(y, validation_fraction=0.15, test_fraction=0.25, seed=0)
    schema = infer_schema(
        data.frame.iloc[split.train],
        target="target",
        id_column="id",
        missing_value=-1,
        rules=load_config().data.columns,
    )
    return Prepared(data.frame, data.probability, y, split, schema, model_frame(data.frame, schema))


def _fit(p: Prepared, y: np.ndarray, model_type: str) -> TrainedModel:
    cfg = load_config(overrides=[f"model.type={model_type}", "model.catboost.iterations=300"])
    s = p.split
    return fit_model(
        model_type,
        cfg.model.params(),
        p.schema,
        p.x.iloc[s.train],
        y[s.train],
        p.x.iloc[s.validation],
        y[s.validation],
        seed=0,
        imbalance=Imbalance.NONE,
    )


def _test_auc(model: TrainedModel, p: Prepared) -> float:
    return float(roc_auc_score(p.y[p.split.test], model.predict_proba(p.x.iloc[p.split.test])))


@pytest.mark.parametrize("model_type", ["catboost", "sklearn"])
def test_model_learns_the_planted_signal_and_not_shuffled_labels(
    prepared: Prepared, model_type: str
) -> None:
    auc = _test_auc(_fit(prepared, prepared.y, model_type), prepared)
    shuffled = np.random.default_rng(0).permutation(prepared.y)
    shuffled_auc = _test_auc(_fit(prepared, shuffled, model_type), prepared)
    test = prepared.split.test
    oracle = roc_auc_score(prepared.y[test], prepared.probability[test])
    assert auc > 0.6
    assert auc > shuffled_auc + 0.05
    assert abs(shuffled_auc - 0.5) < 0.06
    assert auc < oracle + 0.02  # no leak: nothing beats the true probabilities


def test_scores_ignore_the_id_column(prepared: Prepared) -> None:
    model = _fit(prepared, prepared.y, "catboost")
    rows = prepared.frame.iloc[prepared.split.test].copy()
    before = model.predict_proba(model_frame(rows, prepared.schema))
    rows["id"] = rows["id"].to_numpy()[::-1]
    after = model.predict_proba(model_frame(rows, prepared.schema))
    np.testing.assert_array_equal(before, after)
