"""The writer's binary COPY rows against a real PostgreSQL: what they store is, column for
column, what asyncpg's own encoding of the same entries stores; a chunk of one day goes
straight into its partition, and a partition dropped under the writer costs no row."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg
import numpy as np
import pytest
from inference.pg import sql
from porto_inference.ids import new_prediction_ids
from porto_inference.log import copy_binary
from porto_inference.log.copy_binary import (
    COPY_COLUMNS,
    HEADER,
    TRAILER,
    copy_pieces,
    encode_rows,
    encoded,
    pack,
    restore_features,
)
from porto_inference.log.database import migrate
from porto_inference.log.entry import COLUMNS, LogEntry
from porto_inference.log.partitions import Partitions
from porto_inference.log.pool import LogPool
from porto_inference.log.store import PredictionLog
from porto_inference.monitoring.metrics import LogMetrics
from porto_inference.settings import Settings
from prometheus_client import CollectorRegistry

pytestmark = pytest.mark.integration

STORED = (*COLUMNS, "label", "label_time")


def _entry(
    rows: int,
    *,
    record_ids: list[Any] | None = None,
    request_id: str | None = "req-1",
    created_at: datetime | None = None,
    endpoint: str = "/predict/batch",
) -> LogEntry:
    return LogEntry(
        created_at=created_at or datetime(2026, 3, 4, 5, 6, 7, 891_234, tzinfo=UTC),
        model_name="pörto",
        model_version="20260304-050607-abcd",
        endpoint=endpoint,
        request_id=request_id,
        prediction_ids=new_prediction_ids(rows),
        scores=np.linspace(0.0, 1.0, rows) if rows > 1 else np.array([0.123456789012345]),
        classes=(np.arange(rows) % 2).astype(np.int8),
        threshold=0.3141592653589793,
        latency_ms=12.345678,
        record_ids=record_ids,
        features=[f'[{i},"çat é",null,-1.5e-7]'.encode() for i in range(rows)],
    )


ENTRIES = [
    lambda: _entry(1),
    lambda: _entry(1, record_ids=[None], request_id=None, endpoint="/predict"),
    lambda: _entry(5, record_ids=[1, None, "ü-7", 'quote"d', 3.5]),
    lambda: _entry(1000),
    lambda: _entry(3, record_ids=[{"a": [1, 2]}, 2**63, ""]),
    # integer ids of a larger entry are spelled in one call (up to 64 bits; beyond, one by one)
    lambda: _entry(12, record_ids=[-(2**63), *range(-5, 5), 2**64 - 1]),
    lambda: _entry(12, record_ids=[2**64, *range(-5, 5), -(2**63) - 1]),
]


def _stored(url: str, ids: list[str]) -> list[dict[str, Any]]:
    """The stored rows of ``ids``, in their order."""
    rows = sql(
        url,
        f"SELECT {', '.join(STORED)} FROM prediction_log WHERE prediction_id = ANY($1::uuid[])",
        ids,
    )
    by_id = {str(r["prediction_id"]): r for r in rows}
    return [by_id[i] for i in ids if i in by_id]


def test_binary_rows_store_what_asyncpg_encoding_stores(url: str) -> None:
    """Each entry written both ways (the same rows under new ids the second time) reads back
    equal in every column but the id."""
    binary = [make() for make in ENTRIES]
    general = [make() for make in ENTRIES]
    for a, b in zip(binary, general, strict=True):
        b.record_ids, b.created_at = a.record_ids, a.created_at

    async def write() -> None:
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
            await conn.copy_to_table(
                "prediction_log",
                source=memoryview(b"".join(copy_pieces(binary))),
                columns=list(COPY_COLUMNS),
                format="binary",
            )
            records = [r for e in general for r in e.build()]
            await conn.copy_records_to_table("prediction_log", records=records, columns=COLUMNS)
        finally:
            await conn.close()

    asyncio.run(write())
    for a, b in zip(binary, general, strict=True):
        got, want = _stored(url, a.prediction_ids), _stored(url, b.prediction_ids)
        assert len(got) == len(want) == a.rows
        for row_a, row_b in zip(got, want, strict=True):
            row_a.pop("prediction_id"), row_b.pop("prediction_id")
            assert row_a == row_b
    first = _stored(url, binary[2].prediction_ids)
    assert [r["record_id"] for r in first] == ["1", None, "ü-7", 'quote"d', "3.5"]
    assert first[0]["created_at"] == binary[2].created_at
    assert first[0]["threshold"] == 0.3141592653589793
    assert first[0]["features"] == b'[0,"\xc3\xa7at \xc3\xa9",null,-1.5e-7]'


def test_an_entry_is_encoded_once_and_a_bad_id_is_refused() -> None:
    entry = _entry(3)
    assert encoded(entry) is encoded(entry) is entry.binary
    assert encoded(entry) == encode_rows(entry)
    assert encode_rows(_entry(0)) == b""
    broken = _entry(2)
    broken.prediction_ids = ["not-a-uuid", broken.prediction_ids[1]]
    with pytest.raises(ValueError):
        encode_rows(broken)


def test_a_chunk_of_one_day_goes_to_its_partition() -> None:
    settings = Settings(prediction_log=True, database_url="postgresql://unused")
    registry = CollectorRegistry()
    metrics = LogMetrics(registry)
    partitions = Partitions(settings, metrics, LogPool(settings, metrics, None))
    noon = datetime(2026, 3, 4, 12, tzinfo=UTC)
    assert partitions.table_for(noon, noon) == "prediction_log"  # nothing measured yet
    partitions.days = frozenset({date(2026, 3, 4)})
    assert partitions.table_for(noon, noon + timedelta(hours=11)) == "prediction_log_p20260304"
    assert partitions.table_for(noon, noon + timedelta(hours=12)) == "prediction_log"
    assert partitions.table_for(noon - timedelta(days=1), noon) == "prediction_log"
    partitions.forget_days()
    assert partitions.table_for(noon, noon) == "prediction_log"


def test_rows_reach_the_day_partition_and_survive_a_dropped_one(url: str) -> None:
    """The writer copies today's rows into today's partition; when that partition is dropped
    under it (its days were measured before), the next chunk goes through the partitioned
    table (the default partition takes it) and nothing is lost or counted as an outage."""
    settings = Settings(prediction_log=True, database_url=url, log_flush_interval_s=3600)
    today = datetime.now(UTC).date()
    name = f"prediction_log_p{today:%Y%m%d}"

    async def run() -> tuple[int, int]:
        log = PredictionLog(settings, LogMetrics(CollectorRegistry()), url)
        await log.start()
        try:
            assert today in log.writer.partitions.days
            first = _entry(100, created_at=datetime.now(UTC))
            assert log.submit(first)
            assert await log.flush(60)
            query = partial(asyncio.to_thread, sql, url)
            in_partition = (await query(f"SELECT count(*) AS n FROM {name}"))[0]["n"]
            await query(f"DROP TABLE {name}")
            assert today in log.writer.partitions.days  # not measured again yet
            second = _entry(50, created_at=datetime.now(UTC))
            assert log.submit(second)
            assert await log.flush(60)
            assert log.writer.partitions.days == frozenset()
            in_default = (await query("SELECT count(*) AS n FROM prediction_log_default"))[0]["n"]
            return in_partition, in_default
        finally:
            await log.stop()

    assert asyncio.run(run()) == (100, 50)


@pytest.mark.parametrize("rows", [1, 2, 8])
def test_small_entries_packed_row_by_row_equal_the_vectorised_rows(
    rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for make in (
        lambda: _entry(rows),
        lambda: _entry(rows, record_ids=[None, "é", 3, None, 5, 6, 7, 8][:rows], request_id=None),
    ):
        entry = make()
        packed = encode_rows(entry)
        monkeypatch.setattr(copy_binary, "SMALL_ENTRY", 0)
        assert encode_rows(entry) == packed
        monkeypatch.undo()


@pytest.mark.parametrize("make", ENTRIES)
def test_a_packed_entry_gives_its_features_back(make: Any) -> None:
    """pack encodes the entry and lets go of its feature texts; restore_features reads them
    back from the rows, byte for byte, for the row-by-row writes that isolate a bad row."""
    entry = make()
    features = list(entry.features)
    assert pack(entry)
    assert entry.features == []
    assert entry.binary == encode_rows(_with(entry, features))
    restore_features(entry)
    assert entry.features == features
    restore_features(entry)  # nothing to do the second time
    assert entry.features == features


def _with(entry: LogEntry, features: list[bytes]) -> LogEntry:
    """A copy of ``entry`` holding ``features`` and no encoded rows."""
    from dataclasses import replace

    return replace(entry, features=features, binary=None, records=None)


def test_an_entry_that_cannot_be_packed_is_left_for_the_writer() -> None:
    broken = _entry(2)
    broken.prediction_ids = ["not-a-uuid", broken.prediction_ids[1]]
    features = list(broken.features)
    assert not pack(broken)
    assert broken.binary is None and broken.features == features
    restore_features(broken)
    assert broken.features == features


def test_the_stream_goes_in_pieces_of_about_the_piece_size() -> None:
    entries = [_entry(n) for n in (1, 3, 1000, 2, 1, 1, 1000, 5, 30, 30, 30)]
    whole = HEADER + b"".join(encoded(e) for e in entries) + TRAILER
    size = 4096
    pieces = list(copy_pieces(entries, size=size))
    assert b"".join(pieces) == whole
    large = [e.binary for e in entries if e.rows == 1000]
    assert all(any(p is data for p in pieces) for data in large)  # sent as they are, not copied
    small = [p for p in pieces if not any(p is data for data in large)]
    largest_small_entry = max(len(encoded(e)) for e in entries if e.rows < 1000)
    assert all(len(p) < size + largest_small_entry for p in small)
    assert len(pieces) > 4  # the small entries were not all joined into one
