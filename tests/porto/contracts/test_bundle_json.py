"""The contracts read the JSON files of bundles published before they existed (copied in
``bundles/`` from a catboost run with a search and a scikit-learn run, as the training job wrote
them) and write them back byte for byte: bundles already in users' buckets stay readable, and
new bundles are the same files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from porto.contracts.insights import (
    IMPORTANCE_FILE,
    LEARNING_CURVE_FILE,
    MUTUAL_INFO_FILE,
    SHAP_FILE,
    FeatureRanking,
    LearningCurve,
)
from porto.contracts.plots import PLOTS, plot_file
from porto.contracts.run import METRICS_FILE, ChampionDecision, RunMetrics
from pydantic import BaseModel, ValidationError

BUNDLES = Path(__file__).resolve().parent / "bundles"

#: (bundle, file, contract, json.dumps indent the job writes it with)
FILES: list[tuple[str, str, type[BaseModel], int | None]] = [
    ("catboost", METRICS_FILE, RunMetrics, 2),
    ("sklearn", METRICS_FILE, RunMetrics, 2),
    *(
        (bundle, rel, FeatureRanking, 2)
        for bundle in ("catboost", "sklearn")
        for rel in (IMPORTANCE_FILE, SHAP_FILE, MUTUAL_INFO_FILE)
    ),
    ("catboost", LEARNING_CURVE_FILE, LearningCurve, 2),
    *(("catboost", plot_file(name), model, None) for name, model in PLOTS.items()),
]


@pytest.mark.parametrize(("bundle", "rel", "contract", "indent"), FILES)
def test_a_published_file_reads_and_writes_back_byte_for_byte(
    bundle: str, rel: str, contract: type[BaseModel], indent: int | None
) -> None:
    raw = (BUNDLES / bundle / rel).read_bytes()
    parsed = contract.model_validate_json(raw)
    assert json.dumps(parsed.model_dump(mode="json"), indent=indent).encode() == raw


def test_run_metrics_read_typed() -> None:
    metrics = RunMetrics.model_validate_json((BUNDLES / "catboost" / METRICS_FILE).read_bytes())
    assert metrics.holdout == "test"
    cm = metrics.confusion_matrix
    assert cm.tn + cm.fp + cm.fn + cm.tp == metrics.rows == metrics.split.test
    assert metrics.class_balance.all.rows == sum(
        part.rows
        for part in (
            metrics.class_balance.train,
            metrics.class_balance.validation,
            metrics.class_balance.test,
        )
    )
    assert metrics.search is not None and len(metrics.search.trials) == 2
    assert metrics.oracle_roc_auc is not None
    assert metrics.champion_comparison.promoted is True
    assert metrics.champion_comparison.champion_version is None


def test_optional_figures_are_left_out_not_null() -> None:
    data = json.loads((BUNDLES / "catboost" / METRICS_FILE).read_bytes())
    del data["search"], data["oracle_roc_auc"]
    metrics = RunMetrics.model_validate(data)
    assert metrics.search is None and metrics.oracle_roc_auc is None
    assert metrics.model_dump(mode="json") == data
    # ...while the comparison's own nulls are part of its record.
    decision = ChampionDecision(challenger_auc=0.6, promoted=True, reason="first")
    assert decision.model_dump(mode="json")["champion_version"] is None


def test_keys_a_reader_does_not_know_are_accepted() -> None:
    data = json.loads((BUNDLES / "sklearn" / METRICS_FILE).read_bytes())
    data["a_figure_added_later"] = 1.0
    assert RunMetrics.model_validate(data).roc_auc == data["roc_auc"]
    ranking = FeatureRanking.model_validate({"method": "m", "values": {"a": 1.0}, "extra": 2})
    assert ranking.model_dump(mode="json") == {"method": "m", "values": {"a": 1.0}}


def test_a_file_missing_a_figure_is_refused() -> None:
    data = json.loads((BUNDLES / "sklearn" / METRICS_FILE).read_bytes())
    del data["roc_auc"]
    with pytest.raises(ValidationError, match="roc_auc"):
        RunMetrics.model_validate(data)
