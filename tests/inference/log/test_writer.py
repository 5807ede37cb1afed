"""The writer's pacing against a real PostgreSQL: under steady traffic it writes once per
flush interval (not chunk after chunk, chasing the rows that arrive while it writes), a full
chunk is written as soon as it is queued, and a flush or a stop writes everything."""

from __future__ import annotations

import asyncio
import time

import pytest
from harness.timing import DEADLINE
from inference.pg import log_entry, sql
from porto_inference.log.entry import LogEntry
from porto_inference.log.store import PredictionLog
from porto_inference.monitoring.metrics import LogMetrics
from porto_inference.settings import Settings
from prometheus_client import CollectorRegistry

pytestmark = pytest.mark.integration


def _entry(rows: int) -> LogEntry:
    return log_entry(rows, [b"[1,2.5,null]"] * rows, request_id=None, endpoint="/predict")


def _copies(registry: CollectorRegistry) -> float:
    return registry.get_sample_value("prediction_log_flush_duration_seconds_count") or 0.0


def _logged(url: str) -> int:
    return int(sql(url, "SELECT count(*) AS n FROM prediction_log")[0]["n"])


def test_steady_traffic_is_written_once_per_interval(url: str) -> None:
    """A single-row entry every 2 ms for 2 s: the writer writes what is queued once per
    interval. (It used to write again at once whatever arrived during a write: hundreds of
    COPYs of a few rows each, every one a transaction and a turn of the interpreter lock.)"""
    interval = 0.25
    settings = Settings(prediction_log=True, database_url=url, log_flush_interval_s=interval)
    registry = CollectorRegistry()

    async def run() -> tuple[int, float, float]:
        log = PredictionLog(settings, LogMetrics(registry), url)
        await log.start()
        try:
            before = _copies(registry)
            began = time.monotonic()
            sent = 0
            while time.monotonic() - began < 2.0:
                assert log.submit(_entry(1))
                sent += 1
                await asyncio.sleep(0.002)
            elapsed = time.monotonic() - began
            copies = _copies(registry) - before
            assert await log.flush(DEADLINE)
            return sent, copies, elapsed
        finally:
            await log.stop()

    sent, copies, elapsed = asyncio.run(run())
    assert sent > 100
    # One write per interval, and one for the first entry (the writer may have been waiting
    # already); a slow machine only stretches the intervals.
    assert 1 <= copies <= elapsed / interval + 3, (copies, elapsed)
    assert _logged(url) == sent


def test_a_full_chunk_is_written_at_once_the_rest_at_the_interval(url: str) -> None:
    """With an hour's interval, only full chunks are written until a flush: 12 entries of 10
    rows and chunks of 50 rows leave 20 rows queued."""
    settings = Settings(
        prediction_log=True, database_url=url, log_flush_interval_s=3600, log_flush_rows=50
    )

    async def run() -> tuple[int, int, int]:
        log = PredictionLog(settings, LogMetrics(CollectorRegistry()), url)
        await log.start()
        try:
            for _ in range(12):
                assert log.submit(_entry(10))
            deadline = time.monotonic() + DEADLINE
            while log.writer.written < 100 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)  # nothing more is written without a flush
            written, queued = log.writer.written, log.writer.queued_rows
            assert await log.flush(DEADLINE)
            return written, queued, log.writer.written
        finally:
            await log.stop()

    assert asyncio.run(run()) == (100, 20, 120)
    assert _logged(url) == 120


def test_stop_writes_everything_queued(url: str) -> None:
    settings = Settings(
        prediction_log=True, database_url=url, log_flush_interval_s=3600, log_flush_rows=50
    )

    async def run() -> None:
        log = PredictionLog(settings, LogMetrics(CollectorRegistry()), url)
        await log.start()
        for _ in range(7):
            assert log.submit(_entry(30))
        await log.stop()

    asyncio.run(run())
    assert _logged(url) == 210
