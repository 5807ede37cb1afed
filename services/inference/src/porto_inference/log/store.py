"""The prediction log: every scored row in PostgreSQL's ``prediction_log``, never on the request
path.

Requests append one entry (one request, any number of rows) to a bounded in-memory queue and move
on. A background task writes the queue in batches with ``COPY``; a failed write leaves the
entries in the queue and is retried with exponential back-off, so a PostgreSQL outage costs
nothing as long as the queue has room — and once it is full, new rows are dropped and counted.
On shutdown the queue is flushed (bounded by a timeout) before the pool closes.

Feedback labels earlier predictions. Since a prediction may still sit in a queue (this worker's:
flushed first; another worker's or pod's: unknowable), feedback for a young prediction id that is
not in the table yet is parked in ``pending_feedback`` and applied when the prediction is
written. Ids that are not porto ids, or too old to still be queued, are reported unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np

from porto_inference.errors import DatabaseUnavailableError
from porto_inference.ids import id_timestamp, is_uuid
from porto_inference.log.database import migrate, redact
from porto_inference.settings import Settings

if TYPE_CHECKING:
    from porto_inference.monitoring.metrics import Metrics

log = logging.getLogger("porto_inference.prediction_log")

#: Longest a monitoring query may run; a slow one fails (503) instead of piling up.
QUERY_TIMEOUT_S = 10.0
#: The /monitoring queries and the live-quality window: every query of the log lives here.
RECENT_SQL = """
SELECT prediction_id::text AS prediction_id, created_at, model_version, endpoint, record_id,
       score, predicted_class, threshold, latency_ms, label, label_time{features}
FROM prediction_log
WHERE model_name = $1
  AND created_at >= now() - make_interval(mins => $2)
  AND ($3::text IS NULL OR model_version = $3)
ORDER BY created_at DESC
LIMIT $4
"""

THROUGHPUT_SQL = """
WITH bounds AS (
    SELECT date_trunc('minute', now()) AS last_minute
), minutes AS (
    SELECT generate_series(last_minute - make_interval(mins => $2 - 1), last_minute,
                           interval '1 minute') AS minute
    FROM bounds
), counted AS (
    SELECT date_trunc('minute', created_at) AS minute,
           count(*) AS predictions,
           sum(predicted_class) AS positives,
           avg(score) AS mean_score,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_latency_ms
    FROM prediction_log, bounds
    WHERE model_name = $1
      AND created_at >= last_minute - make_interval(mins => $2 - 1)
      AND ($3::text IS NULL OR model_version = $3)
    GROUP BY 1
)
SELECT m.minute, coalesce(c.predictions, 0) AS predictions,
       coalesce(c.positives, 0) AS positives, c.mean_score, c.p95_latency_ms
FROM minutes AS m LEFT JOIN counted AS c USING (minute)
ORDER BY m.minute
"""

SCORE_HISTOGRAM_SQL = """
SELECT date_bin(make_interval(mins => $3), created_at, $2::timestamptz) AS bucket,
       least(greatest(width_bucket(score, 0.0, $6::float8, $4), 1), $4) AS bin,
       count(*) AS n
FROM prediction_log
WHERE model_name = $1
  AND created_at >= $2::timestamptz
  AND ($5::text IS NULL OR model_version = $5)
GROUP BY 1, 2
"""

SCORE_SUMMARY_SQL = """
SELECT date_bin(make_interval(mins => $3), created_at, $2::timestamptz) AS bucket,
       count(*) AS n,
       avg(score) AS mean,
       percentile_cont(ARRAY[0.1, 0.5, 0.9]) WITHIN GROUP (ORDER BY score) AS quantiles
FROM prediction_log
WHERE model_name = $1
  AND created_at >= $2::timestamptz
  AND ($4::text IS NULL OR model_version = $4)
GROUP BY 1
ORDER BY 1
"""

DRIFT_SQL = """
SELECT features, score
FROM prediction_log
WHERE model_name = $1
  AND model_version = $2
  AND created_at >= now() - make_interval(mins => $3)
ORDER BY created_at DESC
LIMIT $4
"""

QUALITY_SQL = """
SELECT model_version, score, predicted_class, label, label_time
FROM prediction_log
WHERE model_name = $1
  AND label IS NOT NULL
  AND label_time >= now() - make_interval(mins => $2)
  AND ($3::text IS NULL OR model_version = $3)
ORDER BY label_time DESC
LIMIT $4
"""


WINDOW_SQL = """
SELECT model_version, score, predicted_class, label
FROM (
    SELECT model_version, score, predicted_class, label,
           row_number() OVER (PARTITION BY model_version ORDER BY label_time DESC) AS recency
    FROM prediction_log
    WHERE model_name = $1
      AND label IS NOT NULL
      AND label_time >= now() - make_interval(secs => $2)
) AS recent
WHERE recency <= $3
"""


def _read_errors() -> tuple[type[BaseException], ...]:
    """What a failed monitoring read raises (the queries the UI's pages make)."""
    import asyncpg

    return (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


COLUMNS = (
    "prediction_id",
    "created_at",
    "model_name",
    "model_version",
    "endpoint",
    "request_id",
    "record_id",
    "features",
    "score",
    "predicted_class",
    "threshold",
    "latency_ms",
)

#: Whether any feedback is parked at all: one index probe, so a flush with nothing parked (the
#: usual case) pays nothing for the feature.
ANY_PENDING_SQL = "SELECT EXISTS (SELECT 1 FROM pending_feedback)"

# Parked labels for the rows a flush just wrote: driven by the written ids (one primary-key probe
# each into the pending table's key, never a scan), so a flush costs the same whatever is parked.
TAKE_PENDING_FOR_SQL = """
DELETE FROM pending_feedback AS f
WHERE f.prediction_id = ANY($1::uuid[])
RETURNING f.prediction_id, f.label, f.label_time
"""

# Parked labels whose prediction is in the table, oldest first, at most $1 of them (the sweep and
# /feedback's own check). "OFFSET 0" keeps the planner from turning EXISTS into a join that could
# scan the whole log.
TAKE_PENDING_SQL = """
DELETE FROM pending_feedback AS f
WHERE f.prediction_id IN (
    SELECT q.prediction_id FROM pending_feedback AS q
    WHERE EXISTS (
        SELECT 1 FROM prediction_log AS p WHERE p.prediction_id = q.prediction_id OFFSET 0
    )
    ORDER BY q.received_at
    LIMIT $1
)
RETURNING f.prediction_id, f.label, f.label_time
"""

# Parked labels for these ids whose prediction is in the table (after /feedback parks them: a
# writer may have committed the prediction in the meantime without seeing the parked label).
TAKE_PENDING_IDS_SQL = """
DELETE FROM pending_feedback AS f
WHERE f.prediction_id = ANY($1::uuid[])
  AND EXISTS (SELECT 1 FROM prediction_log AS p WHERE p.prediction_id = f.prediction_id)
RETURNING f.prediction_id, f.label, f.label_time
"""

# Parked labels older than the horizon ($1 seconds), oldest first, at most $2 per sweep.
EXPIRE_PENDING_SQL = """
WITH gone AS (
    DELETE FROM pending_feedback
    WHERE prediction_id IN (
        SELECT prediction_id FROM pending_feedback
        WHERE received_at < now() - make_interval(secs => $1)
        ORDER BY received_at
        LIMIT $2
    )
    RETURNING 1
)
SELECT count(*) FROM gone
"""

COUNT_PENDING_SQL = "SELECT count(*) FROM pending_feedback"

APPLY_LABELS_SQL = """
UPDATE prediction_log AS p
SET label = f.label, label_time = f.label_time
FROM unnest($1::uuid[], $2::smallint[], $3::timestamptz[]) AS f(prediction_id, label, label_time)
WHERE p.prediction_id = f.prediction_id
"""

#: Seconds between the writer's sweeps of parked feedback (apply stragglers, expire the old).
PENDING_SWEEP_S = 10.0
#: Parked labels one sweep applies or expires at most (the rest wait for the next sweep).
SWEEP_LIMIT = 10_000


async def _apply(conn: Any, taken: list[Any]) -> int:
    if taken:
        await conn.execute(
            APPLY_LABELS_SQL,
            [r["prediction_id"] for r in taken],
            [r["label"] for r in taken],
            [r["label_time"] for r in taken],
        )
    return len(taken)


async def apply_pending(conn: Any, limit: int = SWEEP_LIMIT) -> int:
    """Apply at most ``limit`` parked labels whose predictions have arrived; return how many."""
    return await _apply(conn, await conn.fetch(TAKE_PENDING_SQL, limit))


async def apply_pending_for(conn: Any, prediction_ids: list[Any]) -> int:
    """Apply the parked labels of ``prediction_ids`` (rows just written); return how many."""
    return await _apply(conn, await conn.fetch(TAKE_PENDING_FOR_SQL, prediction_ids))


LABEL_SQL = """
UPDATE prediction_log AS p
SET label = f.label, label_time = $3
FROM unnest($1::uuid[], $2::smallint[]) AS f(prediction_id, label)
WHERE p.prediction_id = f.prediction_id
RETURNING p.prediction_id::text
"""

PARK_SQL = """
INSERT INTO pending_feedback (prediction_id, label, label_time)
SELECT * FROM unnest($1::uuid[], $2::smallint[], $3::timestamptz[])
ON CONFLICT (prediction_id) DO UPDATE SET label = EXCLUDED.label, label_time = EXCLUDED.label_time
"""

_DB_ERRORS: tuple[type[BaseException], ...] = (OSError, asyncio.TimeoutError, ConnectionError)


def _unique_violation_error(url: str | None) -> type[BaseException]:
    if url is None:
        return _NeverRaisedError
    import asyncpg

    error: type[BaseException] = asyncpg.UniqueViolationError
    return error


def _storable(text: str) -> str:
    """``text`` as ASCII without NUL bytes: what any PostgreSQL text column accepts."""
    return text.encode("ascii", "backslashreplace").decode().replace("\x00", "\\x00")


class _NeverRaisedError(Exception):
    """Stands in for a database error class when there is no database."""


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


def _db_errors() -> tuple[type[BaseException], ...]:
    import asyncpg

    return (*_DB_ERRORS, asyncpg.PostgresError, asyncpg.InterfaceError)


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


@dataclass(eq=False)
class LogEntry:
    """The rows of one request, as the service scored them."""

    created_at: datetime
    model_name: str
    model_version: str
    endpoint: str
    request_id: str | None
    prediction_ids: list[str]
    scores: np.ndarray
    classes: Any
    """Predicted classes (an int8 array, or a list for one row)."""
    threshold: float
    latency_ms: float
    record_ids: list[Any] | None
    features: list[str]
    """One JSON object per row, serialised when queued: a few hundred bytes per row instead of
    the parsed request (kilobytes of Python objects), so the queue's memory stays bounded."""
    seq: int = 0
    records: list[tuple[Any, ...]] | None = field(default=None, repr=False)

    @property
    def rows(self) -> int:
        """Rows in this entry."""
        return len(self.prediction_ids)

    def build(self) -> list[tuple[Any, ...]]:
        """The COPY records (built once, kept for retries)."""
        if self.records is None and self.rows == 1:
            record_id = None if self.record_ids is None else self.record_ids[0]
            self.records = [
                (
                    self.prediction_ids[0],
                    self.created_at,
                    self.model_name,
                    self.model_version,
                    self.endpoint,
                    self.request_id,
                    None if record_id is None else str(record_id),
                    self.features[0],
                    float(self.scores[0]),
                    int(self.classes[0]),
                    self.threshold,
                    self.latency_ms,
                )
            ]
        if self.records is None:
            n = self.rows
            ids = self.record_ids
            record_ids = (
                repeat(None, n) if ids is None else [None if v is None else str(v) for v in ids]
            )
            self.records = list(
                zip(
                    self.prediction_ids,
                    repeat(self.created_at, n),
                    repeat(self.model_name, n),
                    repeat(self.model_version, n),
                    repeat(self.endpoint, n),
                    repeat(self.request_id, n),
                    record_ids,
                    self.features,
                    self.scores.tolist(),
                    np.asarray(self.classes).tolist(),
                    repeat(self.threshold, n),
                    repeat(self.latency_ms, n),
                    strict=False,
                )
            )
        return self.records


class PredictionLog:
    """The queue, its writer task, and feedback."""

    def __init__(self, settings: Settings, metrics: Metrics, url: str | None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.url = url
        self.pool: Any = None
        self.state = "disabled" if url is None else "connecting"
        self.last_error: str | None = None
        self._migrated = False
        self._queue: deque[LogEntry] = deque()
        self._queued_rows = 0
        self._seq = 0
        self._done_seq = 0
        self._written = 0
        self._dropped = 0
        self._wake = asyncio.Event()
        self._progress = asyncio.Condition()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._errors = _db_errors() if url is not None else _DB_ERRORS
        self._unique_violation: type[BaseException] = _unique_violation_error(url)
        self._data_errors = _data_errors(url)
        self._quarantined = 0
        self._last_sweep = 0.0

    @property
    def enabled(self) -> bool:
        """Whether predictions are logged at all."""
        return self.url is not None

    async def start(self) -> None:
        """Start the writer task (it connects, migrates, and retries on its own)."""
        if self.enabled:
            await self._connect()
            self._task = asyncio.create_task(self._run(), name="prediction-log-writer")

    # --- the queue -------------------------------------------------------------------------------
    def reject_if_full(self, rows: int) -> bool:
        """Count ``rows`` as dropped and return True when the queue cannot take them, so the
        caller skips building an entry that would be thrown away (overload is when CPU is
        scarcest)."""
        if self._queued_rows + rows <= self.settings.log_queue_max_rows and not self._stopping:
            return False
        reason = "shutdown" if self._stopping else "queue_full"
        self.metrics.log_dropped.labels(reason).inc(rows)
        self._dropped += rows
        return True

    def submit(self, entry: LogEntry) -> bool:
        """Queue an entry (O(1)); False, counted as dropped, when the queue is full."""
        rows = entry.rows
        if self._queued_rows + rows > self.settings.log_queue_max_rows or self._stopping:
            reason = "shutdown" if self._stopping else "queue_full"
            self.metrics.log_dropped.labels(reason).inc(rows)
            self._dropped += rows
            return False
        self._seq += 1
        entry.seq = self._seq
        self._queue.append(entry)
        self._queued_rows += rows
        self.metrics.log_queue_depth.set(self._queued_rows)
        if self._queued_rows >= self.settings.log_flush_rows:
            self._wake.set()
        return True

    async def flush(self, timeout: float) -> bool:
        """Wait until every entry queued so far is written; False on timeout."""
        if not self.enabled:
            return True
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

    # --- the writer ------------------------------------------------------------------------------
    async def _connect(self) -> bool:
        import asyncpg

        try:
            if self.pool is None:
                self.pool = await asyncpg.create_pool(
                    self.url,
                    min_size=1,
                    max_size=self.settings.db_pool_size,
                    timeout=self.settings.db_connect_timeout_s,
                    command_timeout=60,
                )
            if not self._migrated:
                async with self.pool.acquire() as conn:
                    await migrate(conn)
                self._migrated = True
        except Exception as exc:  # connection refused, auth, DNS, a bad migration: all retried
            self._set_down(exc)
            return False
        self._set_up()
        return True

    def _set_up(self) -> None:
        if self.state != "up":
            log.info("prediction log connected to %s", redact(self.url or ""))
        self.state = "up"
        self.last_error = None
        self.metrics.log_up.set(1)

    def _set_down(self, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}".strip()
        if self.state != "down" or message != self.last_error:
            log.warning("prediction log cannot reach the database: %s", message)
        self.state = "down"
        self.last_error = message
        self.metrics.log_up.set(0)
        self.metrics.log_errors.inc()

    async def _run(self) -> None:
        backoff = 0.1
        settings = self.settings
        while True:
            if not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), settings.log_flush_interval_s)
                self._wake.clear()
            if self.pool is None or not self._migrated:
                ok = await self._connect() and await self._drain()
            else:
                ok = await self._drain()
            if ok and not self._stopping:
                try:
                    await self._sweep_pending()
                except self._errors as exc:
                    self._set_down(exc)
                    ok = False
            if self._stopping and (not self._queue or not ok):
                return
            if ok:
                backoff = 0.1
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait_stop(), backoff)
            backoff = min(backoff * 2, settings.log_retry_max_s)

    async def _wait_stop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(0.05)

    async def _drain(self) -> bool:
        """Write everything queued, chunk by chunk; False at the first failure to reach the
        database (rows PostgreSQL refuses are isolated and quarantined, never retried)."""
        while self._queue:
            chunk: list[LogEntry] = []
            rows = 0
            for entry in self._queue:
                chunk.append(entry)
                rows += entry.rows
                if rows >= self.settings.log_flush_rows:
                    break
            records: list[tuple[Any, ...]] = []
            for entry in chunk:
                records.extend(entry.build())
            began = time.perf_counter()
            try:
                rejected = await self._write_isolating(records)
                await self._after_write(records)
            except self._errors as exc:
                if type(exc).__name__ == "UndefinedTableError":
                    self._migrated = False  # dropped under us: migrate again, then retry
                self._set_down(exc)
                return False
            self.metrics.log_flush_seconds.observe(time.perf_counter() - began)
            for _ in chunk:
                self._queue.popleft()
            self._queued_rows -= rows
            self._written += rows - rejected
            self._done_seq = chunk[-1].seq
            self.metrics.log_written.inc(rows - rejected)
            self.metrics.log_queue_depth.set(self._queued_rows)
            self._set_up()
            async with self._progress:
                self._progress.notify_all()
        return True

    async def _write(self, records: list[tuple[Any, ...]]) -> None:
        """COPY ``records`` in one transaction (raises what the database raises)."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.copy_records_to_table("prediction_log", records=records, columns=COLUMNS)
        except self._unique_violation:
            # An earlier attempt committed but its acknowledgement was lost (the server died at
            # that moment), or half of a split batch went in: write only the missing rows.
            async with self.pool.acquire() as conn, conn.transaction():
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
            async with self.pool.acquire() as conn:
                await conn.execute(
                    "INSERT INTO prediction_log_rejected (prediction_id, error, record) "
                    "VALUES ($1, $2, $3)",
                    prediction_id,
                    error,
                    text,
                )
        except self._data_errors as again:  # cannot happen with ASCII text; never block on it
            log.error("prediction log: row %s dropped, unstorable even escaped: %s", text, again)
            self.metrics.log_dropped.labels("unstorable").inc()
            self._dropped += 1
            return
        self._quarantined += 1
        self.metrics.log_quarantined.inc()
        log.error(
            "prediction log: PostgreSQL refused prediction %s (%s); kept in "
            "prediction_log_rejected, the rows behind it go on",
            prediction_id,
            error,
        )

    async def _after_write(self, records: list[tuple[Any, ...]]) -> None:
        """Apply parked feedback to the rows just written (only when some is parked: one index
        probe otherwise)."""
        async with self.pool.acquire() as conn:
            if await conn.fetchval(ANY_PENDING_SQL):
                async with conn.transaction():
                    await apply_pending_for(conn, [r[0] for r in records])

    async def _sweep_pending(self) -> None:
        """Every ``PENDING_SWEEP_S`` (busy or idle): apply parked feedback whose prediction
        arrived without meeting it (a race between two workers), a bounded number at a time,
        then delete entries past the horizon."""
        now = time.monotonic()
        if now - self._last_sweep < PENDING_SWEEP_S:
            return
        self._last_sweep = now
        async with self.pool.acquire() as conn, conn.transaction():
            await apply_pending(conn, SWEEP_LIMIT)
            expired = await conn.fetchval(
                EXPIRE_PENDING_SQL, self.settings.feedback_pending_s, SWEEP_LIMIT
            )
        if expired:
            self.metrics.feedback.labels("expired").inc(expired)
            log.info("feedback: %d parked labels expired without their prediction", expired)

    async def stop(self) -> None:
        """Flush what is queued (bounded by the shutdown timeout), then close the pool."""
        if not self.enabled:
            return
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
        if self._queued_rows:
            log.error("prediction log: %d rows not written at shutdown", self._queued_rows)
            self.metrics.log_dropped.labels("shutdown").inc(self._queued_rows)
            self._dropped += self._queued_rows
            self._queue.clear()
            self._queued_rows = 0
            self.metrics.log_queue_depth.set(0)
        if self.pool is not None:
            try:
                await asyncio.wait_for(self.pool.close(), 5)
            except Exception:  # a hung or broken connection: drop them all
                self.pool.terminate()
            self.pool = None

    # --- feedback --------------------------------------------------------------------------------
    async def record_feedback(self, labels: dict[str, int]) -> dict[str, Any]:
        """Label earlier predictions. Return ``applied`` (count), ``pending``, ``unknown`` and
        ``refused`` (ids). DatabaseUnavailableError if PostgreSQL cannot be reached."""
        if not self.enabled:
            raise DatabaseUnavailableError("the prediction log is off; feedback is not kept")
        unknown = [pid for pid in labels if not is_uuid(pid)]
        valid = {str(uuid.UUID(pid)): label for pid, label in labels.items() if is_uuid(pid)}
        await self.flush(self.settings.feedback_flush_timeout_s)
        if self.pool is None and not await self._connect():
            raise DatabaseUnavailableError(
                f"the prediction log database is down: {self.last_error}"
            )
        now = datetime.now(UTC)
        ids = list(valid)
        young: list[str] = []
        refused: list[str] = []
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                found_rows = await conn.fetch(LABEL_SQL, ids, list(valid.values()), now)
                found = {str(r[0]) for r in found_rows}
                horizon = self.settings.feedback_pending_s
                for pid in ids:
                    if pid in found:
                        continue
                    ts = id_timestamp(pid)
                    age = now.timestamp() - ts if ts is not None else None
                    if age is not None and -300 <= age <= horizon:
                        young.append(pid)
                    else:
                        unknown.append(pid)
                if young:
                    pending, refused = await self._park(conn, young, valid, now)
                else:
                    pending = []
        except self._errors as exc:
            self._set_down(exc)
            raise DatabaseUnavailableError(
                f"the prediction log database is down: {self.last_error}"
            ) from exc
        self._set_up()
        applied = len(found)
        self.metrics.feedback.labels("applied").inc(applied)
        for result, ids_of in (("pending", pending), ("unknown", unknown), ("refused", refused)):
            if ids_of:
                self.metrics.feedback.labels(result).inc(len(ids_of))
        return {"applied": applied, "pending": pending, "unknown": unknown, "refused": refused}

    async def _park(
        self, conn: Any, young: list[str], labels: dict[str, int], now: datetime
    ) -> tuple[list[str], list[str]]:
        """Park labels for young ids not logged yet, within the bounds: at most
        ``feedback_pending_max_per_request`` from one request and ``feedback_pending_max_rows``
        in total (ids past either are refused: anybody can invent young ids, and an unbounded
        parked set would slow every writer). Return (parked, refused)."""
        settings = self.settings
        room = settings.feedback_pending_max_rows - int(await conn.fetchval(COUNT_PENDING_SQL))
        keep = max(0, min(len(young), settings.feedback_pending_max_per_request, room))
        pending, refused = young[:keep], young[keep:]
        if refused:
            log.warning(
                "feedback: %d labels for unknown young ids refused (parked-set bounds: %d per "
                "request, %d in total)",
                len(refused),
                settings.feedback_pending_max_per_request,
                settings.feedback_pending_max_rows,
            )
        if pending:
            await conn.execute(
                PARK_SQL, pending, [labels[p] for p in pending], [now] * len(pending)
            )
            # A writer may have committed one of these predictions since LABEL_SQL looked.
            await _apply(conn, await conn.fetch(TAKE_PENDING_IDS_SQL, pending))
        return pending, refused

    def status(self) -> dict[str, Any]:
        """What /ready reports about the database."""
        return {
            "state": self.state,
            "error": self.last_error,
            "queued_rows": self._queued_rows,
            "written_rows": self._written,
            "dropped_rows": self._dropped,
            "quarantined_rows": self._quarantined,
        }

    # --- reads: the /monitoring queries and the live-quality window ---------------------------
    async def _read(self, sql: str, *args: Any) -> list[Any]:
        """Rows of one bounded query; DatabaseUnavailableError (503) when the log cannot answer."""
        if not self.enabled:
            raise DatabaseUnavailableError(
                "the prediction log is off (PORTO_INFERENCE_PREDICTION_LOG=false): "
                "there is nothing to monitor"
            )
        if self.pool is None:
            raise DatabaseUnavailableError(
                f"the prediction log database is not reachable: {self.last_error or 'connecting'}"
            )
        try:
            async with self.pool.acquire(timeout=QUERY_TIMEOUT_S) as conn:
                rows: list[Any] = await conn.fetch(sql, *args, timeout=QUERY_TIMEOUT_S)
                return rows
        except _read_errors() as exc:
            raise DatabaseUnavailableError(
                f"the prediction log database did not answer: {type(exc).__name__}: {exc}"
            ) from exc

    async def recent(
        self, model_name: str, minutes: int, version: str | None, limit: int, *, features: bool
    ) -> list[Any]:
        """The newest logged predictions (with their features when asked), newest first."""
        sql = RECENT_SQL.format(features=", features" if features else "")
        return await self._read(sql, model_name, minutes, version, limit)

    async def throughput(self, model_name: str, minutes: int, version: str | None) -> list[Any]:
        """Predictions per minute over the last ``minutes`` (every minute, zeros included)."""
        return await self._read(THROUGHPUT_SQL, model_name, minutes, version)

    async def score_histogram(
        self,
        model_name: str,
        since: datetime,
        bucket_minutes: int,
        bins: int,
        version: str | None,
        high: float,
    ) -> list[Any]:
        """Score counts per time bucket and score bin."""
        return await self._read(
            SCORE_HISTOGRAM_SQL, model_name, since, bucket_minutes, bins, version, high
        )

    async def score_summary(
        self, model_name: str, since: datetime, bucket_minutes: int, version: str | None
    ) -> list[Any]:
        """Count, mean and deciles of the score per time bucket."""
        return await self._read(SCORE_SUMMARY_SQL, model_name, since, bucket_minutes, version)

    async def scored_features(
        self, model_name: str, version: str, minutes: int, limit: int
    ) -> list[Any]:
        """The newest rows' features and scores of one version (the drift sample)."""
        return await self._read(DRIFT_SQL, model_name, version, minutes, limit)

    async def labelled(
        self, model_name: str, minutes: int, version: str | None, limit: int
    ) -> list[Any]:
        """The newest labelled predictions (feedback within ``minutes``)."""
        return await self._read(QUALITY_SQL, model_name, minutes, version, limit)

    async def quality_window(
        self, model_name: str, window_s: float, window_rows: int
    ) -> list[Any] | None:
        """The live-quality window's labelled rows per version; None while there is no pool."""
        pool: Any = self.pool
        if pool is None:
            return None
        async with pool.acquire() as conn:
            rows: list[Any] = await conn.fetch(WINDOW_SQL, model_name, window_s, window_rows)
            return rows
