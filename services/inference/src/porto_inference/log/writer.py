"""The prediction log's queue and the background task that writes it.

Requests append one entry (one request, any number of rows) to a bounded in-memory queue and move
on. The writer task writes the queue in batches with ``COPY``; a failed write leaves the entries
in the queue and is retried with exponential back-off, so a PostgreSQL outage costs nothing as
long as the queue has room — and once it is full, new rows are dropped and counted. Rows
PostgreSQL refuses (as opposed to "cannot be reached") are isolated by splitting the batch and
kept in ``prediction_log_rejected``, so one bad row never blocks the rows behind it. On shutdown
the queue is flushed, bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from porto_inference.log.entry import COLUMNS, LogEntry
from porto_inference.log.feedback import Feedback
from porto_inference.log.pool import LogPool
from porto_inference.settings import Settings

if TYPE_CHECKING:
    from porto_inference.monitoring.metrics import LogMetrics

log = logging.getLogger("porto_inference.prediction_log")

#: Seconds between the writer's sweeps of parked feedback (apply stragglers, expire the old).
PENDING_SWEEP_S = 10.0

QUARANTINE_SQL = (
    "INSERT INTO prediction_log_rejected (prediction_id, error, record) VALUES ($1, $2, $3)"
)


class _NeverRaisedError(Exception):
    """Stands in for a database error class when there is no database."""


def _unique_violation_error(url: str | None) -> type[BaseException]:
    if url is None:
        return _NeverRaisedError
    import asyncpg

    error: type[BaseException] = asyncpg.UniqueViolationError
    return error


def _data_errors(url: str | None) -> tuple[type[BaseException], ...]:
    """Errors that mean "PostgreSQL (or the client's encoder) refuses these values", as opposed
    to "the database cannot be reached": class 22 (data exceptions: a NUL byte in text, an
    unpaired surrogate in jsonb, a number out of range), class 23 (a constraint) and the client
    side's encoding errors. Retrying such a row can never succeed."""
    if url is None:
        return (_NeverRaisedError,)
    import asyncpg

    return (
        asyncpg.DataError,
        asyncpg.IntegrityConstraintViolationError,
        UnicodeError,
        OverflowError,
    )


def _storable(text: str) -> str:
    """``text`` as ASCII without NUL bytes: what any PostgreSQL text column accepts."""
    return text.encode("ascii", "backslashreplace").decode().replace("\x00", "\\x00")


async def write_missing(conn: Any, records: list[tuple[Any, ...]]) -> None:
    """Insert ``records`` skipping prediction ids already in the table (a retried COPY)."""
    await conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS prediction_log_retry "
        "(LIKE prediction_log INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    await conn.copy_records_to_table("prediction_log_retry", records=records, columns=COLUMNS)
    columns = ", ".join(COLUMNS)
    await conn.execute(
        f"INSERT INTO prediction_log ({columns}) SELECT {columns} FROM prediction_log_retry "
        "ON CONFLICT (prediction_id) DO NOTHING"
    )


class LogWriter:
    """The bounded queue, its writer task, and the counts /ready reports."""

    def __init__(
        self, settings: Settings, metrics: LogMetrics, db: LogPool, feedback: Feedback
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.db = db
        self.feedback = feedback
        self.queued_rows = 0
        self.written = 0
        self.dropped = 0
        self.quarantined = 0
        self._queue: deque[LogEntry] = deque()
        self._seq = 0
        self._done_seq = 0
        self._wake = asyncio.Event()
        self._progress = asyncio.Condition()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._unique_violation = _unique_violation_error(db.url)
        self._data_errors = _data_errors(db.url)
        self._last_sweep = 0.0

    # --- the queue -------------------------------------------------------------------------------
    def reject_if_full(self, rows: int) -> bool:
        """Count ``rows`` as dropped and return True when the queue cannot take them, so the
        caller skips building an entry that would be thrown away (overload is when CPU is
        scarcest)."""
        if self.queued_rows + rows <= self.settings.log_queue_max_rows and not self._stopping:
            return False
        self._drop("shutdown" if self._stopping else "queue_full", rows)
        return True

    def submit(self, entry: LogEntry) -> bool:
        """Queue an entry (O(1)); False, counted as dropped, when the queue is full."""
        rows = entry.rows
        if self.reject_if_full(rows):
            return False
        self._seq += 1
        entry.seq = self._seq
        self._queue.append(entry)
        self.queued_rows += rows
        self.metrics.log_queue_depth.set(self.queued_rows)
        if self.queued_rows >= self.settings.log_flush_rows:
            self._wake.set()
        return True

    async def flush(self, timeout: float) -> bool:
        """Wait until every entry queued so far is written; False on timeout."""
        target = self._seq
        if self._done_seq >= target:
            return True
        self._wake.set()
        try:
            async with self._progress:
                await asyncio.wait_for(
                    self._progress.wait_for(lambda: self._done_seq >= target), timeout
                )
        except TimeoutError:
            return False
        return True

    def _drop(self, reason: str, rows: int) -> None:
        self.metrics.log_dropped.labels(reason).inc(rows)
        self.dropped += rows

    # --- the task --------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer task (it connects, migrates, and retries on its own)."""
        self._task = asyncio.create_task(self._run(), name="prediction-log-writer")

    async def stop(self) -> None:
        """Flush what is queued (bounded by the shutdown timeout); count the rest as dropped."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(
                    asyncio.shield(self._task), self.settings.shutdown_flush_timeout_s
                )
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await self._task
        if self.queued_rows:
            log.error("prediction log: %d rows not written at shutdown", self.queued_rows)
            self._drop("shutdown", self.queued_rows)
            self._queue.clear()
            self.queued_rows = 0
            self.metrics.log_queue_depth.set(0)

    async def _run(self) -> None:
        backoff = 0.1
        settings = self.settings
        while True:
            if not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), settings.log_flush_interval_s)
                self._wake.clear()
            ok = await self._turn()
            if self._stopping and (not self._queue or not ok):
                return
            if ok:
                backoff = 0.1
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait_stop(), backoff)
            backoff = min(backoff * 2, settings.log_retry_max_s)

    async def _turn(self) -> bool:
        """Connect if need be, write the queue, sweep parked feedback when due; False at the
        first failure to reach the database."""
        if not self.db.ready:
            ok = await self.db.connect() and await self._drain()
        else:
            ok = await self._drain()
        if ok and not self._stopping:
            try:
                await self._sweep_if_due()
            except self.db.errors as exc:
                self.db.set_down(exc)
                ok = False
        return ok

    async def _wait_stop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(0.05)

    async def _sweep_if_due(self) -> None:
        """Sweep parked feedback every ``PENDING_SWEEP_S``, busy or idle."""
        now = time.monotonic()
        if now - self._last_sweep < PENDING_SWEEP_S:
            return
        self._last_sweep = now
        await self.feedback.sweep()

    # --- writing ---------------------------------------------------------------------------------
    def _next_chunk(self) -> tuple[list[LogEntry], int]:
        """The oldest entries, up to ``log_flush_rows`` rows (at least one entry), and their
        row count."""
        chunk: list[LogEntry] = []
        rows = 0
        for entry in self._queue:
            chunk.append(entry)
            rows += entry.rows
            if rows >= self.settings.log_flush_rows:
                break
        return chunk, rows

    async def _drain(self) -> bool:
        """Write everything queued, chunk by chunk; False at the first failure to reach the
        database (rows PostgreSQL refuses are isolated and quarantined, never retried)."""
        while self._queue:
            chunk, rows = self._next_chunk()
            records = [record for entry in chunk for record in entry.build()]
            began = time.perf_counter()
            try:
                rejected = await self._write_isolating(records)
                await self.feedback.apply_to_written(records)
            except self.db.errors as exc:
                if type(exc).__name__ == "UndefinedTableError":
                    self.db.migrated = False  # dropped under us: migrate again, then retry
                self.db.set_down(exc)
                return False
            self.metrics.log_flush_seconds.observe(time.perf_counter() - began)
            for _ in chunk:
                self._queue.popleft()
            self.queued_rows -= rows
            self.written += rows - rejected
            self._done_seq = chunk[-1].seq
            self.metrics.log_written.inc(rows - rejected)
            self.metrics.log_queue_depth.set(self.queued_rows)
            self.db.set_up()
            async with self._progress:
                self._progress.notify_all()
        return True

    async def _write(self, records: list[tuple[Any, ...]]) -> None:
        """COPY ``records`` in one transaction (raises what the database raises)."""
        try:
            async with self.db.pool.acquire() as conn, conn.transaction():
                await conn.copy_records_to_table("prediction_log", records=records, columns=COLUMNS)
        except self._unique_violation:
            # An earlier attempt committed but its acknowledgement was lost (the server died at
            # that moment), or half of a split batch went in: write only the missing rows.
            async with self.db.pool.acquire() as conn, conn.transaction():
                await write_missing(conn, records)

    async def _write_isolating(self, records: list[tuple[Any, ...]]) -> int:
        """Write ``records``; when PostgreSQL refuses the data (not the connection), split the
        batch in halves until the refused rows stand alone, quarantine those and write the rest.
        A batch with k bad rows costs about 2·k·log2(n) extra writes; a clean one costs one.
        Return how many rows were quarantined."""
        try:
            await self._write(records)
            return 0
        except self._data_errors as exc:
            if len(records) == 1:
                await self._quarantine(records[0], exc)
                return 1
            middle = len(records) // 2
            return await self._write_isolating(records[:middle]) + await self._write_isolating(
                records[middle:]
            )

    async def _quarantine(self, record: tuple[Any, ...], exc: BaseException) -> None:
        """Keep a row PostgreSQL refused in ``prediction_log_rejected`` (as ASCII-escaped JSON,
        which any text column holds), count it and log it once per row."""
        error = _storable(f"{type(exc).__name__}: {exc}".strip())
        values = dict(zip(COLUMNS, record, strict=False))
        text = json.dumps(values, default=str, ensure_ascii=True)
        prediction_id = _storable(str(values.get("prediction_id")))
        try:
            async with self.db.pool.acquire() as conn:
                await conn.execute(QUARANTINE_SQL, prediction_id, error, text)
        except self._data_errors as again:  # cannot happen with ASCII text; never block on it
            log.error("prediction log: row %s dropped, unstorable even escaped: %s", text, again)
            self._drop("unstorable", 1)
            return
        self.quarantined += 1
        self.metrics.log_quarantined.inc()
        log.error(
            "prediction log: PostgreSQL refused prediction %s (%s); kept in "
            "prediction_log_rejected, the rows behind it go on",
            prediction_id,
            error,
        )
