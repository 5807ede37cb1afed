"""POST /predict and /predict/batch with ``explain=true``: exact per-feature contributions that
add up to the model's raw score, for CatBoost (TreeSHAP) and the logistic baseline (linear
terms), in JSON and CSV; bad ``explain`` values and oversized explained batches are refused
before anything is scored or logged."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from catboost import Pool
from fastapi.testclient import TestClient
from inference.bundles import TrainedModel, publish
from porto.bundle import Manifest
from porto.contracts.api import BatchResponse, PredictResponse
from porto.flavors import flavor
from porto.flavors.sklearn import SKLEARN
from porto.schema import model_frame
from porto.store import open_store


def _raw(trained: TrainedModel, records: list[dict[str, Any]]) -> np.ndarray:
    """CatBoost's own raw score (log-odds) for ``records``."""
    frame = model_frame(pd.DataFrame(records), trained.schema)
    pool = Pool(frame, cat_features=trained.schema.categorical_indices)
    return np.asarray(trained.model.predict(pool, prediction_type="RawFormulaVal"))


def _check(explanation: dict[str, Any], probability: float, names: list[str]) -> float:
    """The explanation adds up (to 1e-6) and gives the probability; return its raw score."""
    assert list(explanation) == ["base_value", "raw_score", "contributions"]
    contributions = explanation["contributions"]
    assert list(contributions) == names
    total = explanation["base_value"] + math.fsum(contributions.values())
    assert total == pytest.approx(explanation["raw_score"], abs=1e-6)
    assert 1 / (1 + math.exp(-explanation["raw_score"])) == pytest.approx(probability, abs=1e-9)
    return float(explanation["raw_score"])


def test_single_record(
    client: TestClient, records: list[dict[str, Any]], trained: TrainedModel, champion: Manifest
) -> None:
    names = champion.feature_schema.names
    r = client.post("/predict?explain=true", json=records[0])
    assert r.status_code == 200, r.text
    body = r.json()
    PredictResponse.model_validate(body)
    raw = _check(body["explanation"], body["probability"], names)
    assert raw == pytest.approx(float(_raw(trained, records[:1])[0]), abs=1e-6)
    # The same probability as without explain, and no explanation unless asked.
    plain = client.post("/predict", json=records[0]).json()
    assert plain["probability"] == body["probability"] and "explanation" not in plain
    off = client.post("/predict?explain=false", json=records[0]).json()
    assert "explanation" not in off


def test_batches_json_and_csv(
    client: TestClient, records: list[dict[str, Any]], trained: TrainedModel, champion: Manifest
) -> None:
    names = champion.feature_schema.names
    rows = records[:40]
    raw = _raw(trained, rows)
    r = client.post("/predict/batch", params={"explain": "1"}, json=rows)
    assert r.status_code == 200, r.text
    body = r.json()
    BatchResponse.model_validate(body)
    for item, expected in zip(body["predictions"], raw, strict=True):
        assert _check(item["explanation"], item["probability"], names) == pytest.approx(
            float(expected), abs=1e-6
        )
    csv = pd.DataFrame(rows[:5]).to_csv(index=False)
    by_csv = client.post(
        "/predict/batch?explain=true", content=csv, headers={"content-type": "text/csv"}
    )
    assert by_csv.status_code == 200, by_csv.text
    for item, expected in zip(by_csv.json()["predictions"], raw[:5], strict=True):
        assert _check(item["explanation"], item["probability"], names) == pytest.approx(
            float(expected), abs=1e-6
        )
    plain = client.post("/predict/batch", json=rows[:3]).json()
    assert all("explanation" not in item for item in plain["predictions"])


@pytest.mark.parametrize("value", ["maybe", "2", "truee"])
def test_a_bad_explain_value_is_422(
    client: TestClient, records: list[dict[str, Any]], value: str
) -> None:
    for path, body in (("/predict", records[0]), ("/predict/batch", records[:2])):
        r = client.post(path, params={"explain": value}, json=body)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"] == [
            {"field": "explain", "message": "expected true or false"}
        ]


@pytest.mark.integration
def test_an_explained_batch_over_the_limit_is_413_and_not_logged(
    make_client: Callable[..., TestClient], pg_url: str, records: list[dict[str, Any]]
) -> None:
    from inference.pg import flush_log, sql

    client = make_client(prediction_log=True, database_url=pg_url, explain_max_rows=5)
    r = client.post("/predict/batch?explain=true", json=records[:6])
    assert r.status_code == 413, r.text
    message = r.json()["error"]["message"]
    assert "explain=true" in message and "limit is 5" in message
    assert client.post("/predict/batch?explain=true", json=records[:5]).status_code == 200
    assert client.post("/predict/batch", json=records[:6]).status_code == 200
    assert flush_log(client)
    assert sql(pg_url, "SELECT count(*) AS n FROM prediction_log")[0]["n"] == 11


def test_the_logistic_baseline_explains_with_its_linear_terms(
    make_client: Callable[..., TestClient],
    tmp_path: Path,
    trained: TrainedModel,
    records: list[dict[str, Any]],
) -> None:
    schema = trained.schema
    frame = model_frame(trained.frame, schema)
    y = trained.frame["target"].to_numpy()
    fitted = flavor(SKLEARN).fit(
        {},
        schema,
        (frame.iloc[:2000], y[:2000]),
        (frame.iloc[2000:], y[2000:]),
        seed=0,
        pos_weight=1.0,
    )
    pipeline = fitted.model.estimator
    publish(
        open_store(str(tmp_path / "artifacts")),
        trained,
        promote=True,
        model_type=SKLEARN,
        estimator=pipeline,
    )
    client = make_client(home=tmp_path)
    r = client.post("/predict/batch?explain=true", json=records[:10])
    assert r.status_code == 200, r.text
    decision = pipeline.decision_function(model_frame(pd.DataFrame(records[:10]), schema))
    intercept = float(pipeline.named_steps["model"].intercept_[0])
    for item, expected in zip(r.json()["predictions"], decision, strict=True):
        explanation = item["explanation"]
        assert _check(explanation, item["probability"], schema.names) == pytest.approx(
            float(expected), abs=1e-6
        )
        assert explanation["base_value"] == pytest.approx(intercept, abs=1e-12)
