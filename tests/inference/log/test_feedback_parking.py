"""Feedback for young ids that are not logged yet is parked, within bounds: per request and in
total, expired past the horizon, and a log flush costs the same however much is parked (the
report: 10 requests x 10,000 invented ids parked 100,001 rows and every flush probed them all)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from harness.ports import wait_until
from harness.timing import DEADLINE
from inference.pg import flush_log, sql
from porto_inference.ids import new_prediction_ids

pytestmark = pytest.mark.integration


def _pending(url: str) -> int:
    return int(sql(url, "SELECT count(*) AS n FROM pending_feedback")[0]["n"])


def _invented(n: int) -> list[dict[str, Any]]:
    """Labels for ids nobody scored, young enough to look queued somewhere."""
    return [{"prediction_id": pid, "label": 1} for pid in new_prediction_ids(n)]


def test_the_parked_set_is_bounded_per_request_and_in_total(
    pg_url: str, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(
        prediction_log=True,
        database_url=pg_url,
        feedback_pending_max_per_request=100,
        feedback_pending_max_rows=250,
    )
    kept = []
    for _ in range(4):
        answer = client.post("/feedback", json=_invented(200))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert len(body["pending"]) + len(body["refused"]) == 200
        kept.append(len(body["pending"]))
    assert kept == [100, 100, 50, 0]
    assert _pending(pg_url) == 250
    metrics = client.get("/metrics").text
    assert 'feedback_total{outcome="refused"} 550.0' in metrics


def test_the_reported_attack_stays_within_the_default_bound(
    pg_url: str, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(prediction_log=True, database_url=pg_url)
    settings = client.app.state.settings  # type: ignore[attr-defined]
    for _ in range(10):
        assert client.post("/feedback", json=_invented(10_000)).status_code == 200
    assert _pending(pg_url) <= settings.feedback_pending_max_rows < 100_000


def test_parked_labels_expire(
    pg_url: str, make_client: Callable[..., TestClient], records: list[dict[str, Any]]
) -> None:
    client = make_client(prediction_log=True, database_url=pg_url, feedback_pending_s=3600)
    assert len(client.post("/feedback", json=_invented(30)).json()["pending"]) == 30
    sql(pg_url, "UPDATE pending_feedback SET received_at = now() - interval '2 hours'")
    assert len(client.post("/feedback", json=_invented(5)).json()["pending"]) == 5
    log = client.app.state.service.prediction_log  # type: ignore[attr-defined]
    log.writer._last_sweep = float("-inf")  # the writer's next turn sweeps (every PENDING_SWEEP_S)
    assert client.post("/predict", json=records[0]).status_code == 200
    assert flush_log(client)
    # The old 30 are gone, the young 5 wait.
    wait_until(lambda: _pending(pg_url) == 5, DEADLINE, "the sweep to expire the old labels")
    assert 'feedback_total{outcome="expired"} 30.0' in client.get("/metrics").text


def test_a_label_parked_while_its_row_was_written_is_applied_by_the_sweep(
    pg_url: str, make_client: Callable[..., TestClient], records: list[dict[str, Any]]
) -> None:
    """The race between /feedback (parks, not seeing the row) and another worker's writer
    (commits the row, not seeing the parked label): the next sweep applies such stragglers."""
    client = make_client(prediction_log=True, database_url=pg_url)
    pid = new_prediction_ids(1)[0]
    sql(
        pg_url,
        "INSERT INTO prediction_log (prediction_id, created_at, model_name, model_version, "
        "endpoint, features, score, predicted_class, threshold) "
        "VALUES ($1, now(), 'porto', 'v', '/predict', '{}', 0.5, 1, 0.5)",
        pid,
    )
    sql(
        pg_url,
        "INSERT INTO pending_feedback (prediction_id, label, label_time) VALUES ($1, 0, now())",
        pid,
    )
    log = client.app.state.service.prediction_log  # type: ignore[attr-defined]
    log.writer._last_sweep = float("-inf")  # the writer's next turn sweeps, busy or idle
    wait_until(lambda: _pending(pg_url) == 0, DEADLINE, "the sweep to apply the label")
    assert sql(pg_url, "SELECT label FROM prediction_log WHERE prediction_id = $1", pid) == [
        {"label": 0}
    ]


def _reads(url: str, table: str) -> int:
    row = sql(
        url,
        "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) AS n "
        "FROM pg_stat_user_tables WHERE relname = $1",
        table,
    )
    return int(row[0]["n"])


def _inserted(url: str) -> int:
    """Rows inserted into the prediction log (its partitions: the parent holds none)."""
    row = sql(
        url,
        "SELECT coalesce(sum(n_tup_ins), 0) AS n FROM pg_stat_user_tables "
        "WHERE relid IN (SELECT inhrelid FROM pg_inherits "
        "WHERE inhparent = 'prediction_log'::regclass)",
    )
    return int(row[0]["n"])


def test_a_flush_reads_no_more_parked_rows_than_it_writes(
    pg_url: str, make_client: Callable[..., TestClient], records: list[dict[str, Any]]
) -> None:
    """PostgreSQL's own counters: a flush of 10 rows with 20,000 labels parked reads a handful
    of pending_feedback tuples, not 20,000."""
    client = make_client(prediction_log=True, database_url=pg_url, log_flush_interval_s=3600)
    sql(
        pg_url,
        "INSERT INTO pending_feedback (prediction_id, label, label_time) "
        "SELECT unnest($1::uuid[]), 1, now()",
        new_prediction_ids(20_000),
    )
    log = client.app.state.service.prediction_log  # type: ignore[attr-defined]
    log.writer._last_sweep = time.monotonic() + 3600  # this test is about the flush, not the sweep
    time.sleep(2)  # statistics reach the shared counters about a second after a backend idles
    before, inserted = _reads(pg_url, "pending_feedback"), _inserted(pg_url)
    for record in records[:10]:
        assert client.post("/predict", json=record).status_code == 200
    assert flush_log(client)
    wait_until(lambda: _inserted(pg_url) >= inserted + 10, DEADLINE, "the statistics")
    time.sleep(2)
    read = _reads(pg_url, "pending_feedback") - before
    assert read <= 20, f"one flush read {read} parked rows"
