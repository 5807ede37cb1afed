"""Challengers against a real PostgreSQL: shadow scores under the champion's prediction ids (each
challenger reading the input with its own codec), share sampling, canary serving, failures that
never reach an answer, and the paired comparison with its promotion suggestion."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from harness.postgres import PostgresServer
from inference.bundles import TrainedModel, publish, train_model
from inference.pg import flush_log, sql
from porto.bundle import version_prefix
from porto.registry import Registry
from porto.store import FileStore
from porto_inference.monitoring.challengers import model_figures

CHAMPION = "20260101-000000-aaaa"
CHALLENGER = "20260102-000000-bbbb"


@pytest.fixture(scope="module")
def trained_without_calc() -> TrainedModel:
    """A champion whose codec takes the ``ps_calc_*`` columns out of each record (ignored),
    while the full-featured challenger needs them."""
    return train_model(3000, seed=3, iterations=30, drop_calc=True)


def _home(root: Path, champion: TrainedModel, challenger: TrainedModel) -> Path:
    store = FileStore(root / "artifacts")
    publish(store, champion, promote=True, version=CHAMPION)
    publish(store, challenger, version=CHALLENGER)
    Registry(store, "porto").set_alias("challenger", CHALLENGER)
    return root


@pytest.fixture
def other_features(
    tmp_path: Path, trained_without_calc: TrainedModel, trained: TrainedModel
) -> Path:
    """Champion without ``ps_calc_*``, challenger (alias ``challenger``) with them."""
    return _home(tmp_path, trained_without_calc, trained)


@pytest.fixture
def same_features(tmp_path: Path, trained: TrainedModel, trained_other: TrainedModel) -> Path:
    """Champion and challenger with the same feature schema."""
    return _home(tmp_path, trained, trained_other)


def _loaded(client: TestClient, timeout: float = 60.0) -> dict[str, Any]:
    """/ready once every configured challenger is loaded or has failed."""
    deadline = time.monotonic() + timeout
    while True:
        ready: dict[str, Any] = client.get("/ready").json()
        states = ready["challengers"]
        if all(s["loaded"] or s["error"] for s in states):
            return ready
        assert time.monotonic() < deadline, ready
        time.sleep(0.05)


def _shadow_rows(url: str, expected: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = sql(url, "SELECT * FROM challenger_predictions ORDER BY scored_at")
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def _metric(client: TestClient, name: str, **labels: str) -> float:
    text = client.get("/metrics").text
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:{{(.*)}})? (\S+)$", line)
        if match is None:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return total


def _client(make: Callable[..., TestClient], home: Path, url: str, **extra: Any) -> TestClient:
    values: dict[str, Any] = {
        "home": home,
        "prediction_log": True,
        "database_url": url,
        "challengers": ["challenger"],
        "shadow_share": 1.0,
    }
    values.update(extra)
    client = make(**values)
    _loaded(client)
    return client


@pytest.mark.integration
def test_shadow_scores_carry_the_served_ids_and_equal_the_challengers_own(
    make_client: Callable[..., TestClient],
    pg_url: str,
    other_features: Path,
    records: list[dict[str, Any]],
) -> None:
    client = _client(make_client, other_features, pg_url)
    ready = client.get("/ready").json()
    assert ready["challengers"] == [
        {
            "ref": "challenger",
            "version": CHALLENGER,
            "loaded": True,
            "canary": False,
            "error": None,
            "shadow_error": None,
        }
    ]
    served: list[tuple[str, dict[str, Any]]] = []  # (prediction id, record as sent)
    for record in records[:3]:
        answer = client.post("/predict", json=record).json()
        assert answer["model_version"] == CHAMPION
        served.append((answer["prediction_id"], record))
    batch = client.post("/predict/batch", json=records[3:23]).json()
    assert batch["model_version"] == CHAMPION
    pairs = zip(batch["predictions"], records[3:23], strict=True)
    served += [(p["prediction_id"], r) for p, r in pairs]
    columns = list(records[0])
    csv = "\n".join(
        [",".join(columns), *(",".join(str(r[c]) for c in columns) for r in records[23:33])]
    )
    by_csv = client.post(
        "/predict/batch", content=csv.encode(), headers={"content-type": "text/csv"}
    ).json()
    pairs = zip(by_csv["predictions"], records[23:33], strict=True)
    served += [(p["prediction_id"], r) for p, r in pairs]
    assert flush_log(client)

    rows = _shadow_rows(pg_url, len(served))
    by_id = {str(r["prediction_id"]): r for r in rows}
    assert set(by_id) == {pid for pid, _ in served}
    assert {(r["source"], r["model_version"], r["model_name"]) for r in rows} == {
        ("shadow", CHALLENGER, "porto")
    }
    # The challenger's own scores of the same records (a request naming it is not shadowed).
    own = client.post(
        "/predict/batch", params={"model_version": "challenger"}, json=[r for _, r in served]
    ).json()
    assert own["model_version"] == CHALLENGER
    for (pid, _), mine in zip(served, own["predictions"], strict=True):
        assert by_id[pid]["score"] == pytest.approx(mine["probability"], abs=1e-12)
        assert by_id[pid]["predicted_class"] == mine["class"]
        assert by_id[pid]["threshold"] == own["threshold"]
    logged = sql(
        pg_url,
        "SELECT prediction_id::text AS id, created_at FROM prediction_log WHERE model_version = $1",
        CHAMPION,
    )
    assert {r["id"]: r["created_at"] for r in logged} == {
        pid: by_id[pid]["created_at"] for pid, _ in served
    }
    time.sleep(0.3)
    assert len(sql(pg_url, "SELECT 1 FROM challenger_predictions")) == len(served)
    assert _metric(client, "challenger_shadow_rows_total", model_version=CHALLENGER) == len(served)


@pytest.mark.integration
def test_v2_infer_is_shadowed_and_a_version_named_is_not(
    make_client: Callable[..., TestClient],
    pg_url: str,
    same_features: Path,
    records: list[dict[str, Any]],
) -> None:
    client = _client(make_client, same_features, pg_url)
    names = Registry(FileStore(same_features / "artifacts"), "porto").get(CHAMPION)
    data = [[float(r[n]) for n in names.feature_schema.names] for r in records[:5]]
    body = {
        "inputs": [{"name": "input", "shape": [5, len(data[0])], "datatype": "FP64", "data": data}]
    }
    answer = client.post("/v2/models/porto/infer", json=body)
    assert answer.status_code == 200, answer.text
    outputs = {o["name"]: o["data"] for o in answer.json()["outputs"]}
    named = client.post(f"/v2/models/porto/versions/{CHAMPION}/infer", json=body)
    assert named.status_code == 200
    client.post("/predict", params={"model_version": CHAMPION}, json=records[5])
    assert flush_log(client)
    rows = _shadow_rows(pg_url, 5)
    time.sleep(0.3)
    rows = sql(pg_url, "SELECT prediction_id::text AS id, score FROM challenger_predictions")
    assert {r["id"] for r in rows} == set(outputs["prediction_id"])
    own = client.post(
        "/predict/batch", params={"model_version": CHALLENGER}, json=records[:5]
    ).json()
    got = {r["id"]: r["score"] for r in rows}
    for pid, mine in zip(outputs["prediction_id"], own["predictions"], strict=True):
        assert got[pid] == pytest.approx(mine["probability"], abs=1e-12)


@pytest.mark.integration
@pytest.mark.parametrize("share", [0.0, 1.0])
def test_shadow_share_zero_scores_nothing_and_one_everything(
    make_client: Callable[..., TestClient],
    pg_url: str,
    same_features: Path,
    records: list[dict[str, Any]],
    share: float,
) -> None:
    client = _client(make_client, same_features, pg_url, shadow_share=share)
    for record in records[:10]:
        assert client.post("/predict", json=record).status_code == 200
    assert flush_log(client)
    rows = _shadow_rows(pg_url, 10 if share else 1, timeout=10 if share else 1)
    assert len(rows) == (10 if share else 0)


@pytest.mark.integration
def test_canary_share_one_serves_the_challenger_and_zero_the_champion(
    make_client: Callable[..., TestClient],
    pg_url: str,
    same_features: Path,
    records: list[dict[str, Any]],
) -> None:
    client = _client(make_client, same_features, pg_url, canary_share=1.0)
    assert client.get("/ready").json()["challengers"][0]["canary"] is True
    versions = {client.post("/predict", json=r).json()["model_version"] for r in records[:5]}
    assert versions == {CHALLENGER}
    assert client.post("/predict/batch", json=records[5:10]).json()["model_version"] == CHALLENGER
    named = client.post("/predict", params={"model_version": CHAMPION}, json=records[10])
    assert named.json()["model_version"] == CHAMPION
    assert flush_log(client)
    logged = sql(
        pg_url,
        "SELECT model_version, count(*) AS n FROM prediction_log GROUP BY 1 ORDER BY 1",
    )
    assert {r["model_version"]: r["n"] for r in logged} == {CHAMPION: 1, CHALLENGER: 10}
    time.sleep(0.3)
    assert sql(pg_url, "SELECT 1 FROM challenger_predictions") == []  # canary rows: no shadow
    assert _metric(client, "predictions_total", model_version=CHALLENGER) == 10

    plain = _client(make_client, same_features, pg_url, canary_share=0.0, shadow_share=0.0)
    assert {plain.post("/predict", json=r).json()["model_version"] for r in records[:5]} == {
        CHAMPION
    }


@pytest.mark.integration
def test_a_challenger_that_cannot_load_is_reported_and_skipped(
    make_client: Callable[..., TestClient],
    pg_url: str,
    same_features: Path,
    records: list[dict[str, Any]],
) -> None:
    model_file = same_features / "artifacts" / version_prefix("porto", CHALLENGER) / "model.cbm"
    model_file.write_bytes(model_file.read_bytes()[:-10] + b"tampered!!")
    client = _client(
        make_client, same_features, pg_url, challengers=["challenger", "nope"], canary_share=1.0
    )
    states = {s["ref"]: s for s in client.get("/ready").json()["challengers"]}
    assert states["challenger"]["loaded"] is False
    assert "checksum" in states["challenger"]["error"] or "sha256" in states["challenger"]["error"]
    assert states["nope"]["loaded"] is False and "nope" in states["nope"]["error"]
    ready = client.get("/ready").json()
    assert ready["status"] == "ready" and ready["model_error"] is None
    for record in records[:5]:
        answer = client.post("/predict", json=record)
        assert answer.status_code == 200
        assert answer.json()["model_version"] == CHAMPION  # the canary cannot serve
    assert client.post("/predict/batch", json=records[:5]).status_code == 200
    assert _metric(client, "challenger_loaded", challenger="challenger") == 0
    assert _metric(client, "challenger_loaded", challenger="nope") == 0
    assert _metric(client, "challenger_shadow_skipped_total", reason="not_loaded") == 20
    assert flush_log(client)
    assert sql(pg_url, "SELECT 1 FROM challenger_predictions") == []


@pytest.mark.integration
def test_database_down_leaves_answers_alone(
    make_client: Callable[..., TestClient],
    pg_url: str,
    postgres_server: PostgresServer,
    same_features: Path,
    records: list[dict[str, Any]],
) -> None:
    client = _client(make_client, same_features, pg_url)
    postgres_server.stop(mode="fast")
    try:
        for record in records[:5]:
            answer = client.post("/predict", json=record)
            assert answer.status_code == 200
            assert answer.json()["model_version"] == CHAMPION
        deadline = time.monotonic() + 30
        while _metric(client, "challenger_shadow_skipped_total", reason="database") < 5:
            assert time.monotonic() < deadline, client.get("/metrics").text
            time.sleep(0.1)
        assert client.post("/predict/batch", json=records[:5]).status_code == 200
        (state,) = client.get("/ready").json()["challengers"]
        assert state["loaded"] is True
        assert state["shadow_error"].startswith("database at ")
    finally:
        postgres_server.start()


@pytest.mark.integration
def test_comparison_pairs_the_labels_and_suggests_promotion(
    make_client: Callable[..., TestClient],
    pg_url: str,
    same_features: Path,
    records: list[dict[str, Any]],
) -> None:
    client = _client(make_client, same_features, pg_url, promote_min_labels=60)
    batch = client.post("/predict/batch", json=records).json()
    assert flush_log(client)
    served = batch["predictions"]
    shadow = {
        str(r["prediction_id"]): r
        for r in _shadow_rows(pg_url, len(served))
        if r["source"] == "shadow"
    }
    assert len(shadow) == len(served)
    # Labels that follow the challenger's ranking: it must come out better.
    challenger_scores = np.asarray([shadow[p["prediction_id"]]["score"] for p in served])
    labels = (challenger_scores >= np.median(challenger_scores)).astype(int)
    labelled = served[:80]
    feedback = [
        {"prediction_id": p["prediction_id"], "label": int(y)}
        for p, y in zip(labelled, labels[:80], strict=True)
    ]
    assert client.post("/feedback", json=feedback).json()["applied"] == 80

    answer = client.get("/monitoring/challengers", params={"minutes": 60, "bucket_minutes": 5})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["configured"][0]["version"] == CHALLENGER
    (report,) = body["challengers"]
    assert report["model_version"] == CHALLENGER
    assert report["champion_versions"] == [CHAMPION]
    assert report["labels"] == 80
    y = labels[:80]
    champion = model_figures(
        np.asarray([p["probability"] for p in labelled]),
        np.asarray([p["class"] for p in labelled]),
        y,
    )
    challenger = model_figures(
        challenger_scores[:80],
        np.asarray([shadow[p["prediction_id"]]["predicted_class"] for p in labelled]),
        y,
    )
    for role, expected in (("champion", champion), ("challenger", challenger)):
        got = report[role]
        for key, value in expected.model_dump().items():
            assert got[key] == pytest.approx(value), (role, key)
    assert sum(b["labels"] for b in report["series"]) == 80
    assert all(b["champion"]["samples"] == b["labels"] for b in report["series"])
    promotion = report["promotion"]
    assert promotion["promote"] is True, promotion
    assert promotion["reason"].startswith(f"promote {CHALLENGER}")
    assert f"/models/{CHALLENGER}/promote" in promotion["how"]
    assert promotion["auc_gain"] == pytest.approx(challenger.roc_auc - champion.roc_auc)

    # The gauges the dashboard draws hold the same figures.
    monitor_figures = client.portal.call(_refresh_gauges, client)
    assert monitor_figures[CHALLENGER][1].roc_auc == pytest.approx(challenger.roc_auc)
    assert _metric(
        client, "challenger_roc_auc", model_version=CHALLENGER, role="challenger"
    ) == pytest.approx(challenger.roc_auc)
    assert _metric(client, "challenger_labels", model_version=CHALLENGER) == 80

    strict = _client(make_client, same_features, pg_url, promote_min_labels=500)
    refused = strict.get("/monitoring/challengers").json()["challengers"][0]["promotion"]
    assert refused["promote"] is False
    assert refused["reason"] == "not enough labels: 80 of the 500 needed"
    picky = _client(
        make_client, same_features, pg_url, promote_min_labels=60, promote_min_auc_gain=1.0
    )
    refused = picky.get("/monitoring/challengers").json()["challengers"][0]["promotion"]
    assert refused["promote"] is False and refused["reason"].startswith("not better by 1")

    bad = client.get("/monitoring/challengers", params={"minutes": 10_000, "bucket_minutes": 1})
    assert bad.status_code == 422


async def _refresh_gauges(client: TestClient) -> Any:
    from porto_inference.monitoring.challengers import ChallengerMonitor

    service = client.app.state.service  # type: ignore[attr-defined]
    monitor = ChallengerMonitor(service.settings, service.metrics, service.prediction_log)
    return await monitor.refresh()


def test_no_challengers_is_an_empty_comparison(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    assert client.get("/ready").json()["challengers"] == []
    # Without a prediction log there is nothing to compare: the monitoring routes' 503.
    assert client.get("/monitoring/challengers").status_code == 503


@pytest.mark.integration
def test_rows_a_challenger_cannot_read_are_counted_and_reported(
    make_client: Callable[..., TestClient],
    pg_url: str,
    other_features: Path,
    records: list[dict[str, Any]],
) -> None:
    """V2 rows of a 2-D tensor hold the champion's features only: the challenger, which also
    needs ps_calc_*, cannot read them. The answer is the champion's as always."""
    client = _client(make_client, other_features, pg_url)
    names = Registry(FileStore(other_features / "artifacts"), "porto").get(CHAMPION)
    data = [[float(r[n]) for n in names.feature_schema.names] for r in records[:4]]
    body = {
        "inputs": [{"name": "input", "shape": [4, len(data[0])], "datatype": "FP64", "data": data}]
    }
    answer = client.post("/v2/models/porto/infer", json=body)
    assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 30
    while _metric(client, "challenger_shadow_skipped_total", reason="encode_error") < 4:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    (state,) = client.get("/ready").json()["challengers"]
    assert state["shadow_error"].startswith("encode_error at ")
    assert "ps_calc" in state["shadow_error"]
    # The next rows it can read clear the report.
    assert client.post("/predict", json=records[10]).status_code == 200
    assert flush_log(client)
    _shadow_rows(pg_url, 1)
    deadline = time.monotonic() + 30
    while client.get("/ready").json()["challengers"][0]["shadow_error"] is not None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
