"""The prediction log's queue and the writer that empties it, in a thread of its own.

Requests append one entry (one request, any number of rows) to a bounded in-memory queue and move
on. The writer runs in its own thread, with its own event loop and connection pool: on the
request loop it only ran between requests, so a saturated loop starved it (it wrote about 2,000
rows/s while the API accepted 37,000). It writes the queue in chunks, one ``COPY`` each; a failed
write keeps its chunk and is retried, the same chunk, with exponential back-off, so a PostgreSQL
outage costs nothing as long as the queue has room. What happens once it is full is the overflow
policy's: ``drop`` (new rows are dropped and counted) or ``backpressure`` (the API answers 429
before it scores). Each COPY commits together with its key in ``prediction_log_writes``: a write
whose acknowledgement was lost finds its key on the retry and is skipped, so no row is logged
twice (one ledger row per chunk, instead of a unique index entry per logged row). Rows
PostgreSQL refuses (as opposed to "cannot be reached") are isolated by splitting the chunk and
kept in ``prediction_log_rejected``, so one bad row never blocks the rows behind it. On shutdown
the queue is flushed, bounded by a timeout.

Threads: the request loop only appends entries and moves its own counters; the writer thread
only pops and moves its own; each number is written by one thread, so no lock is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from porto_inference.log.copy_binary import COPY_COLUMNS, copy_pieces, pack, restore_features
from porto_inference.log.entry import COLUMNS, LogEntry
from porto_inference.log.feedback import Feedback
from porto_inference.log.partitions import MAINTENANCE_S, Partitions
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
        TypeError,  # a value the column's encoder does not take
        ValueError,
    )


def _storable(text: str) -> str:
    """``text`` as ASCII without NUL bytes: what any PostgreSQL text column accepts."""
    return text.encode("ascii", "backslashreplace").decode().replace("\x00", "\\x00")


#: A model version's feature names, logged once: the rows hold the values alone.
SCHEMA_SQL = (
    "INSERT INTO prediction_log_schemas (model_name, model_version, feature_names) "
    "VALUES ($1, $2, $3) ON CONFLICT (model_name, model_version) DO NOTHING"
)

CLAIM_SQL = (
    "INSERT INTO prediction_log_writes (batch_key) VALUES ($1) "
    "ON CONFLICT (batch_key) DO NOTHING RETURNING true"
)


def batch_key(first_id: str, rows: int) -> str:
    """The key of one COPY: its first prediction id and its row count. Prediction ids are
    unique, and a retry writes exactly the same rows, so the key names one write."""
    return f"{first_id}/{rows}"


def _prediction_ids(chunk: list[LogEntry]) -> list[str]:
    """The prediction ids of a chunk's rows."""
    return [pid for entry in chunk for pid in entry.prediction_ids]


def _json_value(value: Any) -> str:
    """A record value as quarantine JSON (bytes are the features' UTF-8 JSON text)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


class LogWriter:
    """The bounded queue, the writer thread, and the counts /ready reports."""

    def __init__(self, settings: Settings, metrics: LogMetrics, url: str | None) -> None:
        self.settings = settings
        self.metrics = metrics
        #: The writer thread's own pool (asyncpg pools belong to the loop that made them).
        self.db = LogPool(settings, metrics, url)
        self.feedback = Feedback(settings, metrics, self.db)
        self.partitions = Partitions(settings, metrics, self.db)
        self._queue: deque[LogEntry] = deque()
        # Request side (the serving loop's thread) only:
        self._accepted_rows = 0
        self._seq = 0
        self._dropped_here = 0
        self._waiters = 0
        # Writer side (the writer thread) only:
        self._done_rows = 0
        self._done_seq = 0
        self._dropped_there = 0
        self.written = 0
        self.quarantined = 0
        self._inflight: tuple[list[LogEntry], int] | None = None
        #: Versions whose feature names are in ``prediction_log_schemas``.
        self._schemas_logged: set[tuple[str, str]] = set()
        self._last_sweep = 0.0
        self._last_maintenance = float("-inf")
        # Between the two:
        self._stopping = False
        self._wake_sent = False
        self._data_errors = _data_errors(url)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = threading.Event()
        self._serving_loop: asyncio.AbstractEventLoop | None = None
        self._progress = asyncio.Event()

    # --- counts ----------------------------------------------------------------------------------
    @property
    def queued_rows(self) -> int:
        """Rows accepted and not yet written (or quarantined)."""
        return self._accepted_rows - self._done_rows

    @property
    def dropped(self) -> int:
        """Rows never written: the queue was full, shutdown, or unstorable."""
        return self._dropped_here + self._dropped_there

    @property
    def started(self) -> bool:
        """Whether the writer thread runs."""
        return self._thread is not None

    # --- the queue (serving loop) ----------------------------------------------------------------
    def has_room(self, rows: int) -> bool:
        """Whether the queue takes ``rows`` more rows now (nothing counted)."""
        return self.queued_rows + rows <= self.settings.log_queue_max_rows and not self._stopping

    def reject_if_full(self, rows: int) -> bool:
        """Count ``rows`` as dropped and return True when the queue cannot take them, so the
        caller skips building an entry that would be thrown away (overload is when CPU is
        scarcest)."""
        if self.has_room(rows):
            return False
        self._drop("shutdown" if self._stopping else "queue_full", rows)
        return True

    def submit(self, entry: LogEntry) -> bool:
        """Queue an entry (O(1)); False, counted as dropped, when the queue is full."""
        rows = entry.rows
        if self.reject_if_full(rows):
            return False
        pack(entry)
        self._seq += 1
        entry.seq = self._seq
        self._queue.append(entry)
        self._accepted_rows += rows
        queued = self.queued_rows
        self.metrics.log_queue_depth.set(queued)
        if queued >= self.settings.log_flush_rows:
            self._wake_writer()
        return True

    async def flush(self, timeout: float) -> bool:
        """Wait until every entry queued so far is written; False on timeout."""
        target = self._seq
        if self._done_seq >= target:
            return True
        if self._thread is None:
            return False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._waiters += 1
        try:
            self._wake_writer()
            while self._done_seq < target:
                self._progress.clear()
                if self._done_seq >= target:
                    break
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                try:
                    await asyncio.wait_for(self._progress.wait(), remaining)
                except TimeoutError:
                    return self._done_seq >= target
        finally:
            self._waiters -= 1
        return True

    def _drop(self, reason: str, rows: int) -> None:
        self.metrics.log_dropped.labels(reason).inc(rows)
        self._dropped_here += rows

    def _wake_writer(self) -> None:
        """Wake the writer now rather than at its next interval (one wake-up in flight)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not self._wake_sent:
            self._wake_sent = True
            with contextlib.suppress(RuntimeError):  # the writer's loop has just closed
                loop.call_soon_threadsafe(wake.set)

    # --- the thread (started and stopped from the serving loop) ----------------------------------
    async def start(self, *, wait: bool = True) -> None:
        """Start the writer thread (it connects, migrates, and retries on its own); with
        ``wait``, return once its first turn (connect, today's partitions) is done."""
        self._serving_loop = asyncio.get_running_loop()
        self._thread = threading.Thread(
            target=self._thread_main, name="prediction-log-writer", daemon=True
        )
        self._thread.start()
        if wait:  # at most a connect's time
            await asyncio.to_thread(self._ready.wait, self.settings.db_connect_timeout_s + 5)

    async def stop(self) -> None:
        """Flush what is queued (bounded by the shutdown timeout); count the rest as dropped."""
        self._stopping = True
        self._wake_sent = False
        self._wake_writer()
        thread = self._thread
        if thread is not None:
            await asyncio.to_thread(thread.join, self.settings.shutdown_flush_timeout_s)
            loop, task = self._loop, self._task
            if thread.is_alive() and loop is not None and task is not None:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(task.cancel)
                await asyncio.to_thread(thread.join, 10)
        if self.queued_rows:
            log.error("prediction log: %d rows not written at shutdown", self.queued_rows)
            self._drop("shutdown", self.queued_rows)
            self._queue.clear()
            self._inflight = None
            self._done_rows = self._accepted_rows
            self.metrics.log_queue_depth.set(0)

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._wake = asyncio.Event()
        try:
            loop.run_until_complete(self._main())
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            self._loop = None
            loop.close()

    async def _main(self) -> None:
        self._task = asyncio.current_task()
        try:
            await self._run()
        except asyncio.CancelledError:
            log.error("prediction log: the writer was stopped before the queue was written")
        finally:
            with contextlib.suppress(Exception):
                await self.db.close()

    # --- the writer's loop (writer thread) -------------------------------------------------------
    async def _run(self) -> None:
        backoff = 0.1
        settings = self.settings
        assert self._wake is not None
        first = True
        while True:
            if not self._stopping and not first:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), settings.log_flush_interval_s)
            self._wake.clear()
            self._wake_sent = False
            try:
                ok = await self._turn(sweep=not first)
            except Exception:  # a bug must not end the log: say so, back off, try again
                log.exception("prediction log: the writer's turn failed")
                ok = False
            self._ready.set()
            self._notify_waiters()
            first = False
            if self._stopping and (not self._pending() or not ok):
                return
            if ok:
                backoff = 0.1
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait_stop(), backoff)
            backoff = min(backoff * 2, settings.log_retry_max_s)

    async def _turn(self, *, sweep: bool = True) -> bool:
        """Connect if need be, write the queue, maintain the partitions and sweep parked
        feedback when due (the first turn, at start, only connects and maintains: the day's
        partitions must exist before the first rows); False at the first failure to reach the
        database."""
        if not self.db.ready:
            ok = await self.db.connect() and await self._drain()
        else:
            ok = await self._drain()
        if ok and not self._stopping:
            try:
                await self._maintain_if_due()
                if sweep:
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

    async def _maintain_if_due(self) -> None:
        """Partitions ahead, retention and the size gauges, every ``MAINTENANCE_S`` (and once
        after the first rows are written, for the oldest-row gauge)."""
        now = time.monotonic()
        first_rows = self.written > 0 and not self.partitions.oldest_known
        if now - self._last_maintenance < MAINTENANCE_S and not first_rows:
            return
        self._last_maintenance = now
        await self.partitions.maintain()

    # --- writing (writer thread) -----------------------------------------------------------------
    def _next_chunk(self) -> tuple[list[LogEntry], int]:
        """The oldest entries, up to ``log_flush_rows`` rows (at least one entry), and their
        row count, taken off the queue (popleft is safe beside the request side's appends; an
        iteration would not be); once tried, the same chunk until it is written (its write key
        must not change between a lost acknowledgement and the retry)."""
        if self._inflight is None:
            chunk: list[LogEntry] = []
            rows = 0
            while self._queue and rows < self.settings.log_flush_rows:
                entry = self._queue.popleft()
                chunk.append(entry)
                rows += entry.rows
            self._inflight = (chunk, rows)
        return self._inflight

    def _pending(self) -> bool:
        """Whether anything waits to be written."""
        return self._inflight is not None or bool(self._queue)

    async def _drain(self) -> bool:
        """Write what is queued, chunk by chunk; False at the first failure to reach the
        database (rows PostgreSQL refuses are isolated and quarantined, never retried).

        After the first chunk, only full chunks are written, unless the service stops or a
        caller waits in :meth:`flush`: the rows that arrive while a chunk is written wait for
        the next interval (or the wake-up of a full chunk) rather than being written at once.
        Writing them at once made the writer chase its own tail under steady traffic: at 3,350
        single-row requests/s it wrote 35–40 COPYs a second per worker, a few rows each, every
        one a transaction and a turn of the interpreter lock, and the requests' p99 went from
        10 to 16–19 ms."""
        first = True
        while self._pending() and (first or self._more_now()):
            first = False
            chunk, rows = self._next_chunk()
            schemas = self._new_schemas(chunk)
            began = time.perf_counter()
            try:
                rejected = await self._write_chunk(chunk, rows, schemas)
                await self.feedback.apply_to_written(partial(_prediction_ids, chunk))
            except self.db.errors as exc:
                if type(exc).__name__ == "UndefinedTableError":
                    self.db.migrated = False  # dropped under us: migrate again, then retry
                    self._schemas_logged.clear()
                self.db.set_down(exc)
                return False
            self._schemas_logged.update(schemas)
            self.metrics.log_flush_seconds.observe(time.perf_counter() - began)
            self._inflight = None
            self._done_rows += rows
            self.written += rows - rejected
            self._done_seq = chunk[-1].seq
            self.metrics.log_written.inc(rows - rejected)
            self.metrics.log_queue_depth.set(self.queued_rows)
            self.db.set_up()
        return True

    def _more_now(self) -> bool:
        """Whether :meth:`_drain` goes on after a chunk: a full chunk waits, the service
        stops, or a :meth:`flush` caller waits (the counts are the request side's, read
        without a lock: a stale read only moves a write to the next turn)."""
        return (
            self._stopping or self._waiters > 0 or self.queued_rows >= self.settings.log_flush_rows
        )

    def _notify_waiters(self) -> None:
        """Wake the serving loop's :meth:`flush` callers (after a whole turn: a flush returns
        once what it waited for is written and the turn's feedback work is done)."""
        if self._waiters and self._serving_loop is not None:
            with contextlib.suppress(RuntimeError):  # the serving loop has closed
                self._serving_loop.call_soon_threadsafe(self._progress.set)

    def _new_schemas(self, chunk: list[LogEntry]) -> dict[tuple[str, str], list[str]]:
        """The feature names of the chunk's model versions not logged yet."""
        found: dict[tuple[str, str], list[str]] = {}
        for entry in chunk:
            key = (entry.model_name, entry.model_version)
            if key not in self._schemas_logged and key not in found and entry.feature_names:
                found[key] = list(entry.feature_names)
        return found

    async def _write_chunk(
        self, chunk: list[LogEntry], rows: int, schemas: dict[tuple[str, str], list[str]]
    ) -> int:
        """Write a chunk as one binary COPY (:mod:`~porto_inference.log.copy_binary`), into
        its day's partition when it has one; when PostgreSQL refuses the data, row by row
        isolation through :meth:`_write_isolating`. Return how many rows were quarantined."""
        table = self.partitions.table_for(
            min(e.created_at for e in chunk), max(e.created_at for e in chunk)
        )
        key = batch_key(chunk[0].prediction_ids[0], rows)
        try:
            await self._copy(key, schemas, table, list(copy_pieces(chunk)))
            return 0
        except self._data_errors as exc:
            if "partition constraint" in str(exc):
                raise  # a day partition was attached meanwhile: retried (it is not the data)
        except self.db.errors as exc:
            if table == "prediction_log" or type(exc).__name__ != "UndefinedTableError":
                raise
            self.partitions.forget_days()  # dropped under us: through the parent, now
            await self._copy(key, schemas, "prediction_log", list(copy_pieces(chunk)))
            return 0
        for entry in chunk:
            restore_features(entry)
        records = [record for entry in chunk for record in entry.build()]
        return await self._write_isolating(records, schemas)

    async def _copy(
        self, key: str, schemas: dict[tuple[str, str], list[str]], table: str, pieces: list[bytes]
    ) -> None:
        """COPY binary rows, the stream's ``pieces`` (:func:`copy_pieces`: all encoded before
        the COPY starts, so a value that cannot be encoded fails it before it begins), into
        ``table`` under the write key ``key`` (see :meth:`_claimed`)."""

        async def stream() -> AsyncIterator[bytes]:
            for piece in pieces:
                yield piece

        await self._claimed(
            key,
            schemas,
            lambda conn: conn.copy_to_table(
                table, source=stream(), columns=list(COPY_COLUMNS), format="binary"
            ),
        )

    async def _write(
        self, records: list[tuple[Any, ...]], schemas: dict[tuple[str, str], list[str]]
    ) -> None:
        """COPY ``records`` (the isolating path's tuples, encoded by asyncpg) under their write
        key (see :meth:`_claimed`)."""
        await self._claimed(
            batch_key(records[0][0], len(records)),
            schemas,
            lambda conn: conn.copy_records_to_table(
                "prediction_log", records=records, columns=COLUMNS
            ),
        )

    async def _claimed(
        self,
        key: str,
        schemas: dict[tuple[str, str], list[str]],
        copy: Callable[[Any], Awaitable[Any]],
    ) -> None:
        """Run ``copy`` on a connection in one transaction with the write key ``key`` (and the
        feature names of versions logged for the first time), unless that key is already there
        (an earlier attempt committed; its acknowledgement was lost)."""
        async with self.db.pool.acquire() as conn, conn.transaction():
            if schemas:
                await conn.executemany(
                    SCHEMA_SQL, [(*version, names) for version, names in schemas.items()]
                )
            if await conn.fetchval(CLAIM_SQL, key):
                await copy(conn)

    async def _write_isolating(
        self,
        records: list[tuple[Any, ...]],
        schemas: dict[tuple[str, str], list[str]],
    ) -> int:
        """Write ``records``; when PostgreSQL refuses the data (not the connection), split the
        batch in halves until the refused rows stand alone, quarantine those and write the rest.
        A batch with k bad rows costs about 2·k·log2(n) extra writes; a clean one costs one.
        Return how many rows were quarantined."""
        try:
            await self._write(records, schemas)
            return 0
        except self._data_errors as exc:
            if "partition constraint" in str(exc):
                raise  # a day partition was attached meanwhile: retried (it is not the data)
            if len(records) == 1:
                await self._quarantine(records[0], exc)
                return 1
            middle = len(records) // 2
            return await self._write_isolating(
                records[:middle], schemas
            ) + await self._write_isolating(records[middle:], schemas)

    async def _quarantine(self, record: tuple[Any, ...], exc: BaseException) -> None:
        """Keep a row PostgreSQL refused in ``prediction_log_rejected`` (as ASCII-escaped JSON,
        which any text column holds), count it and log it once per row."""
        error = _storable(f"{type(exc).__name__}: {exc}".strip())
        values = dict(zip(COLUMNS, record, strict=False))
        text = json.dumps(values, default=_json_value, ensure_ascii=True)
        prediction_id = _storable(str(values.get("prediction_id")))
        try:
            async with self.db.pool.acquire() as conn:
                await conn.execute(QUARANTINE_SQL, prediction_id, error, text)
        except self._data_errors as again:  # cannot happen with ASCII text; never block on it
            log.error("prediction log: row %s dropped, unstorable even escaped: %s", text, again)
            self.metrics.log_dropped.labels("unstorable").inc()
            self._dropped_there += 1
            return
        self.quarantined += 1
        self.metrics.log_quarantined.inc()
        log.error(
            "prediction log: PostgreSQL refused prediction %s (%s); kept in "
            "prediction_log_rejected, the rows behind it go on",
            prediction_id,
            error,
        )
