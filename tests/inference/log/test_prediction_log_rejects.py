"""Rows PostgreSQL refuses never block the log: the writer isolates them (splitting the batch),
keeps them in ``prediction_log_rejected``, counts them and writes every other row.

The entries are queued straight into the writer (as a request would after the codec accepted
it), so the test holds whatever the API lets through today or tomorrow."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from harness.timing import DEADLINE
from inference.pg import count, log_entry, sql
from porto_inference.log.store import LogEntry

pytestmark = pytest.mark.integration

GOOD = orjson.dumps({"ps_ind_01": 1, "ps_car_01_cat": 3})
#: Values a text column refuses: a NUL byte, and an unpaired surrogate (it cannot even be
#: encoded as UTF-8). Features are bytes (bytea): PostgreSQL takes any.
POISON_RECORD_ID = "row\x00one"
POISON_SURROGATE_ID = "row-\ud800"
POISON_REQUEST_ID = "req-\ud800"
#: Features jsonb could not hold (U+0000), which the log now keeps as sent.
NUL_FEATURES = b'{"ps_car_01_cat": "a\\u0000b"}'


def _entry(
    rows: int,
    *,
    features: list[bytes] | None = None,
    record_ids: list[Any] | None = None,
    request_id: str | None = "r",
) -> LogEntry:
    return log_entry(
        rows,
        features if features is not None else [GOOD] * rows,
        record_ids=record_ids,
        request_id=request_id,
    )


def _log(client: TestClient) -> Any:
    return client.app.state.service.prediction_log  # type: ignore[attr-defined]


def _submit_and_flush(client: TestClient, entries: list[LogEntry]) -> bool:
    log = _log(client)
    for entry in entries:
        assert log.submit(entry)
    return bool(client.portal.call(log.flush, DEADLINE))


def test_a_refused_row_is_quarantined_and_the_rows_behind_it_are_written(
    pg_url: str, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(
        prediction_log=True, database_url=pg_url, log_flush_interval_s=3600, log_flush_rows=1000
    )
    assert client.get("/ready").json()["database"]["state"] == "up"
    bad_ids: list[Any] = list(range(100))
    bad_ids[37] = POISON_SURROGATE_ID
    bad_ids[80] = POISON_RECORD_ID
    entries = [
        _entry(50),
        _entry(100, record_ids=bad_ids),
        _entry(1, request_id=POISON_REQUEST_ID),
        _entry(49),
    ]
    poisoned = {
        entries[1].prediction_ids[37],
        entries[1].prediction_ids[80],
        entries[2].prediction_ids[0],
    }
    # One flush (one COPY batch of 200 rows) holds all three bad rows.
    assert _submit_and_flush(client, entries), "the log is stuck behind a refused row"

    assert count(pg_url) == 200 - 3
    rejected = sql(pg_url, "SELECT prediction_id, error, record FROM prediction_log_rejected")
    assert {r["prediction_id"] for r in rejected} == poisoned
    for row in rejected:
        assert row["error"]
        kept = json.loads(row["record"])  # the whole row, readable (lone surrogates too)
        assert kept["prediction_id"] == row["prediction_id"]
        assert kept["model_version"] == "v1"
    status = _log(client).status()
    assert status["state"] == "up", status
    assert status["queued_rows"] == 0
    assert status["quarantined_rows"] == 3
    assert status["written_rows"] == 197
    metrics = client.get("/metrics").text
    assert "prediction_log_quarantined_total 3.0" in metrics
    assert client.get("/ready").json()["database"]["state"] == "up"

    # The writer goes on: later rows (and later requests) are written at once.
    assert _submit_and_flush(client, [_entry(10)])
    assert count(pg_url) == 207


def test_a_refused_row_alone_in_its_batch(
    pg_url: str, make_client: Callable[..., TestClient], records: list[dict[str, Any]]
) -> None:
    """With one worker, the very first row refused: nothing behind it waits (the report's
    51 accepted, 0 written)."""
    client = make_client(prediction_log=True, database_url=pg_url, log_flush_interval_s=3600)
    assert _submit_and_flush(client, [_entry(1, record_ids=[POISON_RECORD_ID])])
    for record in records[:50]:
        assert client.post("/predict", json=record).status_code == 200
    assert client.portal.call(_log(client).flush, DEADLINE)
    assert count(pg_url) == 50
    assert sql(pg_url, "SELECT count(*) AS n FROM prediction_log_rejected") == [{"n": 1}]


def test_features_are_kept_as_sent_even_what_jsonb_refuses(
    pg_url: str, make_client: Callable[..., TestClient]
) -> None:
    """Features are stored as the bytes received (bytea): U+0000, which jsonb refuses, is kept,
    and prediction_log_features reads them by name."""
    client = make_client(prediction_log=True, database_url=pg_url, log_flush_interval_s=3600)
    entry = _entry(2, features=[NUL_FEATURES, GOOD])
    assert _submit_and_flush(client, [entry])
    rows = sql(
        pg_url,
        "SELECT prediction_id::text AS id, features FROM prediction_log ORDER BY prediction_id",
    )
    assert {bytes(r["features"]) for r in rows} == {NUL_FEATURES, GOOD}
    by_name = sql(
        pg_url,
        "SELECT features->>'ps_ind_01' AS v FROM prediction_log_features WHERE prediction_id = $1",
        entry.prediction_ids[1],
    )
    assert by_name == [{"v": "1"}]
    assert sql(pg_url, "SELECT count(*) AS n FROM prediction_log_rejected") == [{"n": 0}]
