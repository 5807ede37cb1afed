"""GET /monitoring/* against a real PostgreSQL: what the UI's monitoring page draws, bounded and
validated; and the pure drift/quality computations on their own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from harness.postgres import PostgresServer
from inference.pg import flush_log
from porto.bundle import Manifest
from porto.reference import ReferenceStats
from porto.registry import Registry
from porto.store import FileStore
from porto_inference.monitoring.quality import quality
from porto_inference.monitoring.reports import drift_report, quality_report, severity


def _error(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


@pytest.mark.integration
def test_monitoring_answers_from_the_log(
    make_client: Callable[..., TestClient],
    pg_url: str,
    records: list[dict[str, Any]],
    champion: Manifest,
) -> None:
    client = make_client(prediction_log=True, database_url=pg_url)
    single = client.post("/predict", json=records[0]).json()
    batch = client.post("/predict/batch", json=records[1:60]).json()
    assert flush_log(client)
    scored = [single["probability"], *(p["probability"] for p in batch["predictions"])]

    recent = client.get("/monitoring/predictions", params={"limit": 5})
    assert recent.status_code == 200, recent.text
    rows = recent.json()["predictions"]
    assert len(rows) == 5
    assert [r["created_at"] for r in rows] == sorted((r["created_at"] for r in rows), reverse=True)
    assert rows[0]["model_version"] == champion.version
    assert {"prediction_id", "score", "class", "threshold", "label", "record_id"} <= set(rows[0])
    assert "features" not in rows[0]
    with_features = client.get("/monitoring/predictions", params={"limit": 60, "features": True})
    by_id = {r["prediction_id"]: r for r in with_features.json()["predictions"]}
    assert by_id[single["prediction_id"]]["features"] == {
        k: v for k, v in records[0].items() if k != "id"
    }
    assert by_id[single["prediction_id"]]["record_id"] == str(records[0]["id"])

    throughput = client.get("/monitoring/throughput", params={"minutes": 5}).json()
    assert len(throughput["series"]) == 5
    assert throughput["total"] == 60
    assert throughput["series"][-1]["predictions"] + throughput["series"][-2]["predictions"] == 60
    assert throughput["series"][0]["minute"] < throughput["series"][-1]["minute"]

    scores = client.get(
        "/monitoring/scores", params={"minutes": 10, "bucket_minutes": 5, "bins": 10}
    ).json()
    assert len(scores["edges"]) == 11
    assert sum(b["count"] for b in scores["buckets"]) == 60
    assert sum(sum(b["histogram"]) for b in scores["buckets"]) == 60
    expected = np.histogram(scores_array := np.asarray(scored), bins=10, range=(0, 1))[0]
    got = np.sum([b["histogram"] for b in scores["buckets"]], axis=0)
    assert got.tolist() == expected.tolist()
    assert min(b["p10"] for b in scores["buckets"]) >= scores_array.min() - 1e-9
    high = float(np.quantile(scores_array, 0.5))
    zoomed = client.get(
        "/monitoring/scores", params={"minutes": 10, "bucket_minutes": 10, "high": high}
    ).json()
    assert zoomed["edges"][-1] == pytest.approx(high)
    got = np.sum([b["histogram"] for b in zoomed["buckets"]], axis=0)
    assert got[-1] >= 30  # everything above the median lands in the top bin
    assert got.sum() == 60

    drift = client.get("/monitoring/drift", params={"minutes": 10}).json()
    assert drift["model_version"] == champion.version
    assert drift["rows"] == 60
    names = {f["feature"] for f in drift["features"]}
    assert names == set(champion.feature_schema.names)
    psis = [f["psi"] for f in drift["features"]]
    assert psis == sorted(psis, reverse=True)
    first = drift["features"][0]
    assert len(first["bins"]) == len(first["reference"]) == len(first["live"])
    assert abs(sum(first["live"]) - 1) < 1e-9
    assert drift["score"]["psi"] >= 0

    # Labels: live quality equals the quality of the same rows computed here.
    labels = [
        {"prediction_id": p["prediction_id"], "label": i % 2}
        for i, p in enumerate(batch["predictions"][:40])
    ]
    assert client.post("/feedback", json=labels).json()["applied"] == 40
    live = client.get("/monitoring/quality", params={"minutes": 60}).json()
    assert live["labelled"] == 40
    (version,) = live["versions"]
    assert version["model_version"] == champion.version
    picked = batch["predictions"][:40]
    expected_q = quality(
        np.asarray([p["probability"] for p in picked]),
        np.asarray([p["class"] for p in picked]),
        np.asarray([i % 2 for i in range(40)]),
    )
    assert version["samples"] == 40
    assert version["f1"] == pytest.approx(expected_q.f1)
    assert version["roc_auc"] == pytest.approx(expected_q.roc_auc)
    assert sum(s["samples"] for s in version["series"]) == 40


@pytest.mark.integration
def test_drift_finds_a_shifted_feature(
    make_client: Callable[..., TestClient],
    pg_url: str,
    records: list[dict[str, Any]],
    champion: Manifest,
) -> None:
    client = make_client(prediction_log=True, database_url=pg_url)
    numeric = next(
        f for f in champion.feature_schema.features if f.kind == "numeric" and f.dtype == "float"
    )
    assert numeric.max is not None
    shifted = [{**r, numeric.name: numeric.max * 3 + 5} for r in records]
    assert client.post("/predict/batch", json=shifted).status_code == 200
    assert flush_log(client)
    drift = client.get("/monitoring/drift", params={"model_version": "champion"}).json()
    top = drift["features"][0]
    assert top["feature"] == numeric.name
    assert top["severity"] == "major"
    assert top["live"][-2] == pytest.approx(1.0)  # all in the open top bin
    # The same numbers as the live drift gauges, which saw the same rows in memory.
    service = client.app.state.service  # type: ignore[attr-defined]
    client.portal.call(service.drift.process)  # type: ignore[union-attr]
    for feature in drift["features"]:
        assert feature["psi"] == pytest.approx(service.drift.psi[feature["feature"]])
    assert drift["score"]["psi"] == pytest.approx(service.drift.score_psi)


@pytest.mark.integration
def test_parameters_are_validated(make_client: Callable[..., TestClient], pg_url: str) -> None:
    client = make_client(prediction_log=True, database_url=pg_url)
    bad = [
        ("/monitoring/predictions", {"limit": 0}, "limit"),
        ("/monitoring/predictions", {"limit": 5000}, "limit"),
        ("/monitoring/predictions", {"minutes": 0}, "minutes"),
        ("/monitoring/predictions", {"minutes": 10**6}, "minutes"),
        ("/monitoring/predictions", {"features": "perhaps"}, "features"),
        ("/monitoring/predictions", {"model_version": "x" * 200}, "model_version"),
        ("/monitoring/throughput", {"minutes": 100_000}, "minutes"),
        ("/monitoring/scores", {"bins": 1}, "bins"),
        ("/monitoring/scores", {"high": 0}, "high"),
        ("/monitoring/scores", {"high": 1.5}, "high"),
        ("/monitoring/scores", {"minutes": 10080, "bucket_minutes": 1}, "bucket_minutes"),
        ("/monitoring/drift", {"limit": 10**6}, "limit"),
        ("/monitoring/quality", {"minutes": "soon"}, "minutes"),
    ]
    for path, params, field in bad:
        response = client.get(path, params=params)
        assert response.status_code == 422, (path, params, response.text)
        error = _error(response)
        assert error["type"] == "validation_error"
        assert any(d["field"] == field for d in error["details"]), (path, error)
    assert client.get("/monitoring/drift", params={"model_version": "nope"}).status_code == 404
    assert (
        client.get("/monitoring/predictions", params={"model_version": "nope"}).status_code == 404
    )
    # SQL stays parameterised: a hostile version string is just an unknown version.
    hostile = client.get("/monitoring/predictions", params={"model_version": "x';drop--"})
    assert hostile.status_code == 404


@pytest.mark.integration
def test_api_key_and_database_states(
    make_client: Callable[..., TestClient], postgres_server: PostgresServer, pg_url: str
) -> None:
    keyed = make_client(prediction_log=True, database_url=pg_url, api_key="s3cret-key")
    assert keyed.get("/monitoring/throughput").status_code == 401
    assert (
        keyed.get("/monitoring/throughput", headers={"X-API-Key": "s3cret-key"}).status_code == 200
    )
    ok = keyed.get("/monitoring/throughput", headers={"Authorization": "Bearer s3cret-key"})
    assert ok.status_code == 200
    assert keyed.get("/models").status_code == 200  # reading the catalogue needs no key

    off = make_client()  # prediction log off
    response = off.get("/monitoring/predictions")
    assert response.status_code == 503
    assert _error(response)["type"] == "database_unavailable"
    assert "prediction log is off" in _error(response)["message"]

    client = make_client(prediction_log=True, database_url=pg_url)
    assert client.get("/monitoring/predictions").status_code == 200
    postgres_server.stop()
    try:
        down = client.get("/monitoring/throughput")
        assert down.status_code == 503
        assert _error(down)["type"] == "database_unavailable"
    finally:
        postgres_server.start()
    assert client.get("/monitoring/throughput").status_code == 200


def test_drift_report_tolerates_odd_logged_values(champion: Manifest, home: Any) -> None:
    """Rows with absent features, strings and nulls (as a permissive client may log them) are
    binned as missing instead of failing the report."""
    from porto.bundle import read_json

    store = FileStore(home / "artifacts")
    manifest = Registry(store, "porto").get(champion.version)
    reference = ReferenceStats.model_validate(read_json(store, manifest, "reference.json"))
    name = manifest.feature_schema.names[0]
    rows = [
        {"features": {name: "not a number"}, "score": 0.2},
        {"features": {name: None}, "score": 1.0},
        {"features": {}, "score": 0.0},
    ]
    report = drift_report(manifest, reference, rows, minutes=60, limit=10)
    assert (report.model_version, report.minutes, report.limit) == (manifest.version, 60, 10)
    assert report.rows == 3
    feature = next(f for f in report.features if f.feature == name)
    assert feature.missing_rate == 1.0
    assert report.score is not None
    assert sum(report.score.live) == pytest.approx(1.0)
    assert drift_report(manifest, reference, [], minutes=60, limit=10).features == []


def test_quality_report_buckets_by_label_time_and_by_prediction_time() -> None:
    t0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    t1 = datetime(2026, 1, 1, 11, 30, tzinfo=UTC)
    p0 = datetime(2026, 1, 1, 8, 10, tzinfo=UTC)
    p1 = datetime(2026, 1, 1, 9, 20, tzinfo=UTC)

    def row(version: str, score: float, cls: int, label: int, at: datetime, made: datetime):
        return {
            "model_version": version,
            "score": score,
            "predicted_class": cls,
            "label": label,
            "label_time": at,
            "created_at": made,
        }

    rows = [
        row("a", 0.9, 1, 1, t0, p0),
        row("a", 0.1, 0, 0, t0, p1),
        row("a", 0.8, 1, 0, t1, p1),
        row("a", 0.3, 0, 1, t1, p1),
        row("b", 0.2, 0, 1, t1, p0),
    ]
    report = quality_report(rows, minutes=1440, limit=100, bucket_minutes=60)
    assert (report.minutes, report.limit, report.bucket_minutes) == (1440, 100, 60)
    assert report.labelled == 5
    a, b = report.versions
    assert (a.model_version, a.samples, b.samples) == ("a", 4, 1)
    assert [s.samples for s in a.series] == [2, 2]
    assert a.series[0].start.startswith("2026-01-01T10:00")
    assert a.series[0].f1 == 1.0
    # By when the predictions were made: 08:00 holds one, 09:00 three.
    assert [(s.start[11:16], s.samples) for s in a.by_prediction_time] == [
        ("08:00", 1),
        ("09:00", 3),
    ]
    # Normalised Gini = 2 AUC - 1: pairs (0.9 > 0.1), (0.9 > 0.8), (0.3 > 0.1), (0.3 < 0.8).
    assert a.roc_auc == pytest.approx(0.75)
    assert a.gini == pytest.approx(0.5)
    assert a.by_prediction_time[1].gini == pytest.approx(2 * a.by_prediction_time[1].roc_auc - 1)
    assert b.roc_auc is None and b.gini is None  # one class only
    assert severity(0.05) == "stable" and severity(0.2) == "moderate" and severity(0.3) == "major"
