"""The answers of /ready, /models, /models/reload, the promotion and /monitoring/* are exactly
what their contracts (porto.contracts.serving, .monitoring, .api) render: the same keys in the
same order, ints as ints, absent fields absent and null ones null. The UI parses these
answers with the same contracts, so a drift between the service and a contract shows here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from harness.ports import wait_until
from harness.timing import DEADLINE
from httpx import Response
from inference.bundles import TrainedModel, publish
from inference.pg import flush_log
from porto.bundle import Manifest, version_prefix
from porto.contracts.api import ModelsResponse
from porto.contracts.monitoring import (
    DriftReport,
    LiveQuality,
    RecentPredictions,
    ScoreHistory,
    Throughput,
)
from porto.contracts.serving import PromoteResponse, ReadyResponse
from porto.registry import Registry
from porto.store import open_store
from pydantic import BaseModel


def _rendered(contract: type[BaseModel], body: bytes) -> bytes:
    """``body`` parsed by ``contract`` and written back as FastAPI writes a response model."""
    model = contract.model_validate_json(body)
    return model.model_dump_json(by_alias=True, exclude_unset=True).encode()


def _assert_contract(contract: type[BaseModel], response: Response) -> dict[str, Any]:
    assert response.status_code in (200, 503), response.text
    assert response.content == _rendered(contract, response.content)
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.integration
def test_serving_and_monitoring_answers_are_their_contracts(
    make_client: Callable[..., TestClient],
    pg_url: str,
    records: list[dict[str, Any]],
    champion: Manifest,
) -> None:
    client = make_client(prediction_log=True, database_url=pg_url)

    ready = _assert_contract(ReadyResponse, client.get("/ready"))
    assert list(ready) == ["status", "model", "model_error", "database", "challengers"]
    assert ready["challengers"] == []  # none configured
    assert list(ready["model"]) == [
        "name",
        "version",
        "alias",
        "loaded_at",
        "load_seconds",
        "fallback",
    ]
    assert ready["model_error"] is None and ready["model"]["fallback"] is None
    assert isinstance(ready["database"]["queued_rows"], int)

    models = _assert_contract(ModelsResponse, client.get("/models"))
    assert models["served"]["version"] == champion.version and models["last_error"] is None

    promoted = _assert_contract(PromoteResponse, client.post(f"/models/{champion.version}/promote"))
    assert list(promoted) == [
        "name",
        "version",
        "alias",
        "previous",
        "changed",
        "served",
        "error",
        "propagation_s",
    ]
    assert promoted["changed"] is False and promoted["error"] is None

    reloaded = client.post("/models/reload").json()
    assert list(reloaded) == ["changed", "served", "last_error"]
    assert reloaded["served"] == {**promoted["served"]}

    single = client.post("/predict", json=records[0]).json()
    batch = client.post("/predict/batch", json=records[1:40]).json()
    assert flush_log(client)
    labels = [
        {"prediction_id": p["prediction_id"], "label": i % 2}
        for i, p in enumerate([single, *batch["predictions"][:20]])
    ]
    assert client.post("/feedback", json=labels).json()["applied"] == 21

    recent = _assert_contract(
        RecentPredictions, client.get("/monitoring/predictions", params={"limit": 5})
    )
    assert "features" not in recent["predictions"][0]
    assert isinstance(recent["predictions"][0]["class"], int)
    with_features = _assert_contract(
        RecentPredictions,
        client.get("/monitoring/predictions", params={"limit": 40, "features": True}),
    )
    assert all("features" in row for row in with_features["predictions"])
    _assert_contract(Throughput, client.get("/monitoring/throughput", params={"minutes": 3}))
    _assert_contract(
        ScoreHistory,
        client.get("/monitoring/scores", params={"minutes": 10, "bucket_minutes": 5}),
    )
    drift = _assert_contract(DriftReport, client.get("/monitoring/drift"))
    assert list(drift) == [
        "model_version",
        "minutes",
        "limit",
        "rows",
        "available",
        "thresholds",
        "features",
        "score",
    ]
    live = _assert_contract(LiveQuality, client.get("/monitoring/quality"))
    (version,) = live["versions"]
    assert list(version) == [
        "model_version",
        "samples",
        "positives",
        "f1",
        "precision",
        "recall",
        "roc_auc",
        "gini",
        "series",
        "by_prediction_time",
    ]
    assert next(iter(version["series"][0])) == "start"
    assert next(iter(version["by_prediction_time"][0])) == "start"
    if version["roc_auc"] is not None:
        assert version["gini"] == 2 * version["roc_auc"] - 1


@pytest.mark.integration
def test_drift_without_logged_rows_or_reference_keeps_its_short_answers(
    make_client: Callable[..., TestClient], pg_url: str, champion: Manifest
) -> None:
    client = make_client(prediction_log=True, database_url=pg_url)
    empty = _assert_contract(DriftReport, client.get("/monitoring/drift"))
    assert list(empty) == [
        "model_version",
        "minutes",
        "limit",
        "rows",
        "available",
        "features",
        "score",
    ]
    assert empty["rows"] == 0 and empty["score"] is None


def test_not_ready_and_a_refused_version_answer_as_their_contracts(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    open_store(str(tmp_path / "artifacts"))
    client = make_client(home=tmp_path)
    response = client.get("/ready")
    assert response.status_code == 503
    ready = _assert_contract(ReadyResponse, response)
    assert ready["status"] == "not_ready" and ready["model"] is None
    assert list(ready["model_error"]) == ["version", "reason", "error", "at"]
    assert ready["model_error"]["version"] is None
    assert ready["database"]["state"] == "disabled"
    models = _assert_contract(ModelsResponse, client.get("/models"))
    assert models["served"] is None and models["last_error"]["reason"] == "not_found"


def test_a_fallback_answers_as_its_contract(
    make_client: Callable[..., TestClient], tmp_path: Path, trained: TrainedModel
) -> None:
    store = open_store(str(tmp_path / "artifacts"))
    v1 = publish(store, trained, promote=True).version
    client = make_client(home=tmp_path, poll_interval_s=0.1)
    v2 = publish(store, trained, promote=False).version
    model = tmp_path / "artifacts" / version_prefix("porto", v2) / "model.cbm"
    model.write_bytes(model.read_bytes()[:-1])  # a truncated upload
    Registry(store, "porto").set_alias("champion", v2)
    wait_until(
        lambda: client.get("/ready").json()["model"]["fallback"] is not None,
        DEADLINE,
        "the fallback",
    )
    ready = _assert_contract(ReadyResponse, client.get("/ready"))
    assert ready["model"]["version"] == v1
    assert list(ready["model"]["fallback"]) == [
        "alias",
        "version",
        "reason",
        "error",
        "source",
        "since",
    ]
    assert ready["model_error"]["version"] == v2
    models = _assert_contract(ModelsResponse, client.get("/models"))
    assert models["served"] == ready["model"] and models["last_error"] == ready["model_error"]
