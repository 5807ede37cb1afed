"""Feedback: labels for earlier predictions, and the labels parked until their prediction is
written.

A prediction may still sit in a queue when its label arrives (this worker's: flushed first;
another worker's or pod's: unknowable), so a label for a young prediction id that is not in the
table yet is parked in ``pending_feedback`` and applied when the prediction is written (the writer
calls :meth:`Feedback.apply_to_written`) or by the writer's periodic :meth:`Feedback.sweep`. Ids
that are not porto ids, or too old to still be queued, are reported unknown.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from porto_inference.errors import DatabaseUnavailableError
from porto_inference.ids import id_timestamp, is_uuid
from porto_inference.log.pool import LogPool
from porto_inference.settings import Settings

if TYPE_CHECKING:
    from porto_inference.monitoring.metrics import LogMetrics

log = logging.getLogger("porto_inference.prediction_log")

#: Parked labels one sweep applies or expires at most (the rest wait for the next sweep).
SWEEP_LIMIT = 10_000
#: How far in the future (seconds) a prediction id's timestamp may be and still count as young:
#: the clocks of the pods that mint ids and of this one differ a little.
CLOCK_SKEW_S = 300

#: Slack around a prediction id's timestamp when looking for its row by ``created_at`` (the
#: row's time is taken right after the id's, on the same clock): enough for any scoring time.
ID_TIME_SLACK = timedelta(hours=1)

# Labels for ids minted within [$4, $5): the bounds on created_at let PostgreSQL skip every
# other day partition (the log is partitioned by created_at; ids carry their time).
LABEL_SQL = """
UPDATE prediction_log AS p
SET label = f.label, label_time = $3
FROM unnest($1::uuid[], $2::smallint[]) AS f(prediction_id, label)
WHERE p.prediction_id = f.prediction_id
  AND p.created_at >= $4 AND p.created_at < $5
RETURNING p.prediction_id::text
"""

PARK_SQL = """
INSERT INTO pending_feedback (prediction_id, label, label_time)
SELECT * FROM unnest($1::uuid[], $2::smallint[], $3::timestamptz[])
ON CONFLICT (prediction_id) DO UPDATE SET label = EXCLUDED.label, label_time = EXCLUDED.label_time
"""

COUNT_PENDING_SQL = "SELECT count(*) FROM pending_feedback"

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
        SELECT 1 FROM prediction_log AS p
        WHERE p.prediction_id = q.prediction_id
          AND p.created_at >= now() - make_interval(secs => $2)
        OFFSET 0
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
  AND EXISTS (
      SELECT 1 FROM prediction_log AS p
      WHERE p.prediction_id = f.prediction_id
        AND p.created_at >= now() - make_interval(secs => $2)
  )
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

APPLY_LABELS_SQL = """
UPDATE prediction_log AS p
SET label = f.label, label_time = f.label_time
FROM unnest($1::uuid[], $2::smallint[], $3::timestamptz[]) AS f(prediction_id, label, label_time)
WHERE p.prediction_id = f.prediction_id
  AND p.created_at >= now() - make_interval(secs => $4)
"""


async def _apply(conn: Any, taken: list[Any], horizon_s: float) -> int:
    """Write parked labels just taken from ``pending_feedback`` onto their predictions (made
    within ``horizon_s``, see :meth:`Feedback.young_horizon_s`)."""
    if taken:
        await conn.execute(
            APPLY_LABELS_SQL,
            [r["prediction_id"] for r in taken],
            [r["label"] for r in taken],
            [r["label_time"] for r in taken],
            horizon_s,
        )
    return len(taken)


def id_windows(ids: list[str]) -> list[tuple[datetime, datetime, list[str]]]:
    """``ids`` grouped by the UTC day of their timestamp, each group with the created_at window
    its rows lie in; ids without a timestamp (not UUIDv7: never a porto id) are left out."""
    by_day: dict[int, list[tuple[float, str]]] = {}
    for pid in ids:
        ts = id_timestamp(pid)
        if ts is not None:
            by_day.setdefault(int(ts // 86_400), []).append((ts, pid))
    windows = []
    for group in by_day.values():
        low = datetime.fromtimestamp(min(t for t, _ in group), UTC) - ID_TIME_SLACK
        high = datetime.fromtimestamp(max(t for t, _ in group), UTC) + ID_TIME_SLACK
        windows.append((low, high, [pid for _, pid in group]))
    return windows


class Feedback:
    """Labels earlier predictions, parks the labels that came too early, and applies or expires
    the parked ones."""

    def __init__(self, settings: Settings, metrics: LogMetrics, db: LogPool) -> None:
        self.settings = settings
        self.metrics = metrics
        self.db = db

    async def record(self, labels: dict[str, int]) -> dict[str, Any]:
        """Label earlier predictions. Return ``applied`` (count), ``pending``, ``unknown`` and
        ``refused`` (ids). DatabaseUnavailableError if PostgreSQL cannot be reached."""
        unknown = [pid for pid in labels if not is_uuid(pid)]
        valid = {str(uuid.UUID(pid)): label for pid, label in labels.items() if is_uuid(pid)}
        if not await self.db.ensure_ready():
            raise DatabaseUnavailableError(
                f"the prediction log database is down: {self.db.last_error}"
            )
        now = datetime.now(UTC)
        try:
            async with self.db.pool.acquire() as conn, conn.transaction():
                found: set[str] = set()
                for low, high, ids in id_windows(list(valid)):
                    labels_of = [valid[pid] for pid in ids]
                    rows = await conn.fetch(LABEL_SQL, ids, labels_of, now, low, high)
                    found.update(str(r[0]) for r in rows)
                young, old = self._young_and_old([p for p in valid if p not in found], now)
                unknown.extend(old)
                pending, refused = await self._park(conn, young, valid, now) if young else ([], [])
        except self.db.errors as exc:
            self.db.set_down(exc)
            raise DatabaseUnavailableError(
                f"the prediction log database is down: {self.db.last_error}"
            ) from exc
        self.db.set_up()
        self.metrics.feedback.labels("applied").inc(len(found))
        for result, ids_of in (("pending", pending), ("unknown", unknown), ("refused", refused)):
            if ids_of:
                self.metrics.feedback.labels(result).inc(len(ids_of))
        return {"applied": len(found), "pending": pending, "unknown": unknown, "refused": refused}

    @property
    def young_horizon_s(self) -> float:
        """How old (seconds) a prediction with a parked label can be: parked while young
        (``feedback_pending_s``), kept as long again, plus clock skew and scoring time."""
        return 2 * self.settings.feedback_pending_s + CLOCK_SKEW_S + ID_TIME_SLACK.total_seconds()

    def _young_and_old(self, missing: list[str], now: datetime) -> tuple[list[str], list[str]]:
        """Split ids not in the table into those young enough to be queued somewhere (minted
        within the parking horizon) and the rest (never logged, or logged and gone)."""
        young: list[str] = []
        old: list[str] = []
        for pid in missing:
            ts = id_timestamp(pid)
            age = now.timestamp() - ts if ts is not None else None
            if age is not None and -CLOCK_SKEW_S <= age <= self.settings.feedback_pending_s:
                young.append(pid)
            else:
                old.append(pid)
        return young, old

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
            horizon = self.young_horizon_s
            await _apply(conn, await conn.fetch(TAKE_PENDING_IDS_SQL, pending, horizon), horizon)
        return pending, refused

    async def apply_to_written(self, prediction_ids: Callable[[], list[str]]) -> None:
        """Apply parked labels to the rows a flush just wrote, whose ids ``prediction_ids``
        lists (called only when some are parked: one index probe otherwise)."""
        async with self.db.pool.acquire() as conn:
            if await conn.fetchval(ANY_PENDING_SQL):
                async with conn.transaction():
                    taken = await conn.fetch(TAKE_PENDING_FOR_SQL, prediction_ids())
                    await _apply(conn, taken, self.young_horizon_s)

    async def sweep(self) -> None:
        """Apply parked labels whose prediction arrived without meeting them (a race between two
        workers), a bounded number at a time, then delete those past the horizon."""
        async with self.db.pool.acquire() as conn, conn.transaction():
            horizon = self.young_horizon_s
            await _apply(conn, await conn.fetch(TAKE_PENDING_SQL, SWEEP_LIMIT, horizon), horizon)
            expired = await conn.fetchval(
                EXPIRE_PENDING_SQL, self.settings.feedback_pending_s, SWEEP_LIMIT
            )
        if expired:
            self.metrics.feedback.labels("expired").inc(expired)
            log.info("feedback: %d parked labels expired without their prediction", expired)
