"""The prediction log against real PostgreSQL servers: the harness's Debian server and the
embedded pgserver. Round trip, feedback, an outage under load, a full queue, shutdown flush."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from harness.ports import wait_until
from harness.postgres import PostgresServer
from harness.timing import DEADLINE
from inference.pg import count, flush_log, sql
from porto.bundle import Manifest
from porto_inference.ids import new_prediction_ids

pytestmark = pytest.mark.integration


def _status(client: TestClient) -> dict[str, Any]:
    service = client.app.state.service  # type: ignore[attr-defined]
    status: dict[str, Any] = service.prediction_log.status()
    return status


def _round_trip(client: TestClient, url: str, records: list[dict[str, Any]], champion: Manifest):
    single = client.post("/predict", json=records[0], headers={"X-Request-ID": "rt-1"}).json()
    batch = client.post("/predict/batch", json=records[1:11]).json()
    csv = pd.DataFrame(records[11:16]).to_csv(index=False)
    by_csv = client.post("/predict/batch", content=csv, headers={"content-type": "text/csv"}).json()
    names = champion.feature_schema.names
    positional = client.post("/predict", json={"features": [records[16][n] for n in names]}).json()
    assert flush_log(client)
    query = (
        "SELECT p.*, f.features AS named FROM prediction_log AS p "
        "JOIN prediction_log_features AS f USING (prediction_id)"
    )
    rows = {str(r["prediction_id"]): r for r in sql(url, query)}
    assert len(rows) == 1 + 10 + 5 + 1

    row = rows[single["prediction_id"]]
    assert row["model_name"] == "porto"
    assert row["model_version"] == champion.version
    assert row["endpoint"] == "/predict"
    assert row["request_id"] == "rt-1"
    assert row["record_id"] == str(records[0]["id"])
    assert row["score"] == single["probability"]
    assert row["predicted_class"] == single["class"]
    assert row["threshold"] == champion.threshold
    assert row["latency_ms"] > 0
    assert row["label"] is None
    sent = {k: v for k, v in records[0].items() if k != "id"}
    assert orjson.loads(row["named"]) == sent

    for i, answer in enumerate(batch["predictions"]):
        logged = rows[answer["prediction_id"]]
        assert logged["endpoint"] == "/predict/batch"
        assert logged["score"] == answer["probability"]
        assert orjson.loads(logged["named"]) == {
            k: v for k, v in records[1 + i].items() if k != "id"
        }
    csv_row = rows[by_csv["predictions"][0]["prediction_id"]]
    features = orjson.loads(csv_row["named"])
    assert set(features) == set(names)
    assert csv_row["record_id"] == str(records[11]["id"])
    pos_row = rows[positional["prediction_id"]]
    assert orjson.loads(pos_row["named"]) == {n: records[16][n] for n in names}
    # Each row holds its values alone; the names are logged once for the version.
    assert orjson.loads(row["features"]) == [sent[n] for n in names]
    assert max(len(r["features"]) for r in rows.values()) < 400
    schemas = sql(
        url,
        "SELECT model_name, feature_names FROM prediction_log_schemas WHERE model_version = $1",
        champion.version,
    )
    assert [(s["model_name"], s["feature_names"]) for s in schemas] == [("porto", names)]
    return single, batch


@pytest.mark.parametrize("server", ["debian", "embedded"])
def test_round_trip_and_feedback(
    server: str,
    request: pytest.FixtureRequest,
    make_client: Callable[..., TestClient],
    records: list[dict[str, Any]],
    champion: Manifest,
    tmp_path: Path,
    home: Path,
) -> None:
    if server == "debian":
        url = request.getfixturevalue("pg_url")
        client = make_client(prediction_log=True, database_url=url)
    else:
        # The embedded server lives under its own PORTO_HOME; the model comes from the shared one.
        client = make_client(
            prediction_log=True,
            home=tmp_path,
            store_uri=str(home / "artifacts"),
        )
        url = client.app.state.service.prediction_log.url  # type: ignore[attr-defined]
        assert str(tmp_path / "pgdata") in url
    assert client.get("/ready").json()["database"]["state"] == "up"
    single, batch = _round_trip(client, url, records, champion)

    # Feedback: one, many, and unknown ids that do not stop the rest.
    one = client.post("/feedback", json={"prediction_id": single["prediction_id"], "label": 1})
    assert one.status_code == 200, one.text
    assert one.json() == {"received": 1, "applied": 1, "pending": [], "unknown": [], "refused": []}
    ids = [p["prediction_id"] for p in batch["predictions"][:3]]
    old_unknown = "01000000-0000-7000-8000-000000000000"  # a UUIDv7 from 1978
    many = client.post(
        "/feedback",
        json=[
            {"prediction_id": ids[0], "label": 0},
            {"prediction_id": ids[1].upper(), "label": 1},
            {"prediction_id": "not-a-prediction", "label": 1},
            {"prediction_id": old_unknown, "label": 0},
            {"prediction_id": ids[2], "label": True},
        ],
    ).json()
    assert many["applied"] == 3
    assert sorted(many["unknown"]) == sorted(["not-a-prediction", old_unknown])
    labels = {
        str(r["prediction_id"]): (r["label"], r["label_time"])
        for r in sql(url, "SELECT prediction_id, label, label_time FROM prediction_log")
    }
    assert labels[single["prediction_id"]][0] == 1
    assert [labels[i][0] for i in ids] == [0, 1, 1]
    assert all(labels[i][1] is not None for i in ids)
    bad = client.post("/feedback", json={"prediction_id": ids[0], "label": 2})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "label"


def test_feedback_before_the_prediction_is_written(
    pg_url: str, make_client: Callable[..., TestClient], records: list[dict[str, Any]]
) -> None:
    """Feedback for an id still queued elsewhere is parked, then applied when it arrives."""
    client = make_client(prediction_log=True, database_url=pg_url)
    young = new_prediction_ids(1)[0]  # as if scored by another worker that has not flushed
    answer = client.post("/feedback", json={"prediction_id": young, "label": 1}).json()
    assert answer["pending"] == [young]
    assert sql(pg_url, "SELECT count(*) AS n FROM pending_feedback")[0]["n"] == 1
    # That other worker now writes its row; the next flush (any worker's) applies the label.
    sql(
        pg_url,
        "INSERT INTO prediction_log (prediction_id, created_at, model_name, model_version, "
        "endpoint, features, score, predicted_class, threshold) "
        "VALUES ($1, now(), 'porto', 'v', '/predict', '{}', 0.5, 1, 0.5)",
        young,
    )
    client.post("/predict", json=records[0])
    assert flush_log(client)
    row = sql(pg_url, "SELECT label FROM prediction_log WHERE prediction_id = $1", young)
    assert row == [{"label": 1}]
    assert sql(pg_url, "SELECT count(*) AS n FROM pending_feedback")[0]["n"] == 0


def test_feedback_for_a_queued_prediction_is_not_lost(
    pg_url: str, make_client: Callable[..., TestClient], records: list[dict[str, Any]]
) -> None:
    client = make_client(prediction_log=True, database_url=pg_url, log_flush_interval_s=3600)
    pid = client.post("/predict", json=records[0]).json()["prediction_id"]
    assert _status(client)["queued_rows"] == 1  # still in this worker's queue
    answer = client.post("/feedback", json={"prediction_id": pid, "label": 1}).json()
    assert answer["applied"] == 1
    assert sql(pg_url, "SELECT label FROM prediction_log") == [{"label": 1}]


def test_outage_under_load(
    postgres_server: PostgresServer,
    pg_url: str,
    make_client: Callable[..., TestClient],
    records: list[dict[str, Any]],
) -> None:
    """PostgreSQL stops while requests flow: every request is answered, the queue holds the
    rows, and after the restart the log catches up with nothing lost."""
    client = make_client(
        prediction_log=True, database_url=pg_url, log_retry_max_s=0.5, db_connect_timeout_s=1
    )
    answered: list[int] = []
    stop = threading.Event()

    def load() -> None:
        i = 0
        while not stop.is_set():
            r = client.post("/predict", json=records[i % len(records)])
            answered.append(r.status_code)
            i += 1

    def down_with_rows_queued() -> bool:
        status = _status(client)
        return bool(status["state"] == "down" and status["queued_rows"] > 0)

    thread = threading.Thread(target=load)
    thread.start()
    try:
        # Conditions, not sleeps: on a busy machine half a second may hold no request at all.
        wait_until(lambda: len(answered) >= 5, DEADLINE, "requests answered before the outage")
        postgres_server.stop(mode="immediate")
        wait_until(down_with_rows_queued, DEADLINE, "the log down with rows queued")
        during = len(answered)
        postgres_server.start()
        wait_until(
            lambda: len(answered) >= during + 5, DEADLINE, "requests answered after the restart"
        )
    finally:
        stop.set()
        thread.join()
    assert set(answered) == {200}
    assert flush_log(client)
    status = _status(client)
    assert status["dropped_rows"] == 0
    assert status["state"] == "up"
    assert count(pg_url) == len(answered)
    metrics = client.get("/metrics").text
    assert f"prediction_log_written_total {float(len(answered))}" in metrics
    assert "prediction_log_queue_depth 0.0" in metrics


def test_full_queue_drops_and_counts(
    postgres_server: PostgresServer,
    pg_url: str,
    make_client: Callable[..., TestClient],
    records: list[dict[str, Any]],
) -> None:
    client = make_client(prediction_log=True, database_url=pg_url, log_queue_max_rows=25)
    postgres_server.stop()
    try:
        for i in range(4):
            r = client.post("/predict/batch", json=records[i * 10 : i * 10 + 10])
            assert r.status_code == 200
        status = _status(client)
        assert status["queued_rows"] == 20
        assert status["dropped_rows"] == 20
        assert (
            'prediction_log_dropped_total{reason="queue_full"} 20.0' in client.get("/metrics").text
        )
        assert client.get("/ready").status_code == 200  # the database does not gate readiness
        down = client.post(
            "/feedback", json={"prediction_id": new_prediction_ids(1)[0], "label": 1}
        )
        assert down.status_code == 503
        assert down.json()["error"]["type"] == "database_unavailable"
    finally:
        postgres_server.start()
    assert flush_log(client)
    assert count(pg_url) == 20


def test_backpressure_refuses_before_scoring_and_logs_all_it_answers(
    postgres_server: PostgresServer,
    pg_url: str,
    make_client: Callable[..., TestClient],
    records: list[dict[str, Any]],
) -> None:
    """Overflow policy ``backpressure``: a full queue answers 429 with Retry-After (nothing is
    dropped); every prediction answered 200 reaches the table once PostgreSQL is back."""
    client = make_client(
        prediction_log=True,
        database_url=pg_url,
        log_queue_max_rows=25,
        log_overflow="backpressure",
        log_retry_after_s=2,
    )
    postgres_server.stop()
    answered: list[str] = []
    try:
        for i in range(3):
            r = client.post("/predict/batch", json=records[i * 10 : i * 10 + 10])
            if i < 2:
                assert r.status_code == 200
                answered += [p["prediction_id"] for p in r.json()["predictions"]]
            else:
                assert r.status_code == 429, r.text
                assert r.headers["Retry-After"] == "2"
                assert r.json()["error"]["type"] == "log_full"
                assert "queue is full" in r.json()["error"]["message"]
        for record in records[30:40]:  # single rows: 5 fit, then 429
            r = client.post("/predict", json=record)
            assert r.status_code in (200, 429)
            if r.status_code == 200:
                answered.append(r.json()["prediction_id"])
        assert len(answered) == 25
        status = _status(client)
        assert status["queued_rows"] == 25 and status["dropped_rows"] == 0
        metrics = client.get("/metrics").text
        assert "prediction_log_backpressure_total 6.0" in metrics
        assert 'prediction_log_dropped_total{reason="queue_full"}' not in metrics
    finally:
        postgres_server.start()
    assert flush_log(client)
    logged = {r["id"] for r in sql(pg_url, "SELECT prediction_id::text AS id FROM prediction_log")}
    assert logged == set(answered)
    assert client.post("/predict", json=records[0]).status_code == 200  # room again


def test_shutdown_flushes_the_queue(
    pg_url: str, make_client: Callable[..., TestClient], records: list[dict[str, Any]]
) -> None:
    client = make_client(prediction_log=True, database_url=pg_url, log_flush_interval_s=3600)
    client.post("/predict/batch", json=records[:30])
    assert _status(client)["queued_rows"] == 30
    client.__exit__(None, None, None)
    assert count(pg_url) == 30


def test_starts_while_the_database_is_down(
    postgres_server: PostgresServer,
    pg_url: str,
    make_client: Callable[..., TestClient],
    records: list[dict[str, Any]],
) -> None:
    postgres_server.stop()
    try:
        client = make_client(
            prediction_log=True, database_url=pg_url, log_retry_max_s=0.3, db_connect_timeout_s=1
        )
        assert client.get("/ready").json()["database"]["state"] == "down"
        assert client.post("/predict", json=records[0]).status_code == 200
    finally:
        postgres_server.start()
    assert flush_log(client)  # connects, migrates, writes
    assert count(pg_url) == 1


def test_a_retried_write_does_not_duplicate_rows(
    pg_url: str, make_client: Callable[..., TestClient], records: list[dict[str, Any]]
) -> None:
    """A COPY whose commit reached the server but whose acknowledgement did not (the server
    died at that moment) is retried: its key is in prediction_log_writes, committed with its
    rows, so the retry writes nothing and nothing is stuck."""
    client = make_client(prediction_log=True, database_url=pg_url, log_flush_interval_s=3600)
    answers = client.post("/predict/batch", json=records[:10]).json()["predictions"]
    ids = [a["prediction_id"] for a in answers]
    # What the lost-acknowledgement attempt committed: its rows and its key, in one transaction.
    sql(
        pg_url,
        "INSERT INTO prediction_log (prediction_id, created_at, model_name, model_version, "
        "endpoint, features, score, predicted_class, threshold) "
        "SELECT unnest($1::uuid[]), now(), 'porto', 'v', '/predict/batch', '{}', 0.5, 1, 0.5",
        ids,
    )
    sql(pg_url, "INSERT INTO prediction_log_writes (batch_key) VALUES ($1)", f"{ids[0]}/10")
    assert flush_log(client)
    assert count(pg_url) == 10
    assert _status(client)["queued_rows"] == 0
    assert _status(client)["written_rows"] == 10
