"""The prediction log's day partitions: created ahead, dropped past retention, measured.

``prediction_log`` is range-partitioned on ``created_at``, one partition per UTC day
(``prediction_log_pYYYYMMDD``, made by the SQL function ``porto_log_partition`` of migration
0004), plus a default partition for a row no day partition holds. The writer runs
:meth:`Partitions.maintain` every :data:`MAINTENANCE_S`: it creates today's and the next
:data:`DAYS_AHEAD` days' partitions, drops the day partitions older than
``log_retention_days`` (0: keep everything), prunes the exactly-once ledger, and sets the
gauges of the log's size and oldest row. Every worker of every pod runs it; a transaction-level
advisory lock lets one do the changes while the others only measure. A partition in use (an
export reading it) is dropped at a later run: waiting for it would stall the worker's writes.

With ``log_retention_require_export``, retention drops a day only when it is in the lake: the
day has a row in ``prediction_log_exports`` (:mod:`porto_inference.log.export`) and, counted
under the lock the drop takes anyway, the partition still has the rows and labelled rows that
export wrote. A day that no longer matches (a late row, a label given after the export) has its
export row deleted, so the next ``log-export`` run exports it again, and stays. That count reads
the whole partition once per day that reaches the retention age (and once more per re-export),
in the worker that holds the lock; a day without an export is not counted at all.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from porto_inference.log.pool import LogPool
from porto_inference.settings import Settings

if TYPE_CHECKING:
    from porto_inference.monitoring.metrics import LogMetrics

log = logging.getLogger("porto_inference.prediction_log")

#: Seconds between two maintenance runs of one worker.
MAINTENANCE_S = 60.0
#: Day partitions created beyond today (a worker that stops maintaining for this long still
#: writes into day partitions, not the default one).
DAYS_AHEAD = 2
#: Days the exactly-once ledger (prediction_log_writes) remembers a write.
LEDGER_DAYS = 7
#: pg_try_advisory_xact_lock key for partition changes (ASCII "porto_pt").
MAINTENANCE_LOCK_KEY = 0x706F72746F5F7074
#: Rows read from the front of the oldest partition to find its oldest row (rows are appended
#: in time order, so the first pages hold the oldest; reading a whole day would cost too much).
OLDEST_PROBE_ROWS = 10_000

LOCK_SQL = "SELECT pg_try_advisory_xact_lock($1)"

DAY_PARTITION = re.compile(r"^prediction_log_p(\d{8})$")

#: Longest the retention count of one partition may take (a day at scale is a large table).
COUNT_TIMEOUT_S = 3600.0

EXPORTED_SQL = "SELECT rows, labelled FROM prediction_log_exports WHERE day = $1"
COUNT_SQL = """
SELECT count(*) AS rows, count(label) AS labelled FROM prediction_log
WHERE created_at >= $1 AND created_at < $2
"""

PARTITIONS_SQL = """
SELECT c.relname AS name, pg_total_relation_size(c.oid) AS bytes
FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
WHERE i.inhparent = 'prediction_log'::regclass
"""

#: The storage option that keeps autovacuum's insert-triggered vacuums off the days still being
#: written (set to -1 on today's partition and those ahead; reset once a day has closed).
OPEN_DAY_OPTION = "autovacuum_vacuum_insert_threshold"
DAY_OPTIONS_SQL = f"""
SELECT c.relname AS name, coalesce(c.reloptions @> ARRAY['{OPEN_DAY_OPTION}=-1'], false) AS open
FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
WHERE i.inhparent = 'prediction_log'::regclass
"""


@dataclass(frozen=True)
class LogSize:
    """What one maintenance run measured."""

    bytes: int
    partitions: int
    oldest: datetime | None


def partition_day(name: str) -> date | None:
    """The UTC day a day partition holds (None for the default partition or anything else)."""
    match = DAY_PARTITION.match(name)
    return datetime.strptime(match.group(1), "%Y%m%d").date() if match else None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _lock_not_available() -> type[BaseException]:
    import asyncpg

    error: type[BaseException] = asyncpg.LockNotAvailableError
    return error


def quote_ident(name: str) -> str:
    """``name`` as an SQL identifier (only ever a partition name read from pg_class)."""
    return '"' + name.replace('"', '""') + '"'


class Partitions:
    """Creates, drops and measures the prediction log's day partitions."""

    def __init__(self, settings: Settings, metrics: LogMetrics, db: LogPool) -> None:
        self.settings = settings
        self.metrics = metrics
        self.db = db
        #: Whether a run has found a row yet (until then the writer runs one after its first
        #: write, so the oldest-row gauge does not wait a whole interval).
        self.oldest_known = False
        #: The UTC days that had a partition at the last run (the writer copies a chunk of one
        #: day straight into its partition: no routing of each row through the parent).
        self.days: frozenset[date] = frozenset()

    def table_for(self, first: datetime, last: datetime) -> str:
        """The table to COPY rows created between ``first`` and ``last`` into: their day's
        partition when both fall on one UTC day that had one at the last run, otherwise the
        partitioned table (which routes each row)."""
        day = first.astimezone(UTC).date()
        if day in self.days and last.astimezone(UTC).date() == day:
            return f"prediction_log_p{day:%Y%m%d}"
        return "prediction_log"

    def forget_days(self) -> None:
        """Copy through the partitioned table until the next run (a partition was missing)."""
        self.days = frozenset()

    async def maintain(self, today: date | None = None) -> LogSize:
        """Create the partitions ahead and apply retention (when this worker holds the lock),
        then measure the log and set its gauges."""
        today = today or datetime.now(UTC).date()
        async with self.db.pool.acquire() as conn:
            async with conn.transaction():
                if await conn.fetchval(LOCK_SQL, MAINTENANCE_LOCK_KEY):
                    await self._create_ahead(conn, today)
                    await self._pace_vacuums(conn, today)
                    await self._apply_retention(conn, today)
                    await conn.execute(
                        "DELETE FROM prediction_log_writes "
                        "WHERE written_at < now() - make_interval(days => $1)",
                        LEDGER_DAYS,
                    )
            size = await self._measure(conn)
        self.metrics.log_size_bytes.set(size.bytes)
        self.metrics.log_partitions.set(size.partitions)
        if size.oldest is not None:
            self.metrics.log_oldest_row.set(size.oldest.timestamp())
            self.oldest_known = True
        return size

    async def _create_ahead(self, conn: Any, today: date) -> None:
        for offset in range(DAYS_AHEAD + 1):
            await conn.fetchval("SELECT porto_log_partition($1)", today + timedelta(days=offset))

    async def _pace_vacuums(self, conn: Any, today: date) -> None:
        """Autovacuum's insert-triggered vacuums off on the day partitions still being written
        (today's and those ahead), back on for the days before ``today``.

        The log is insert-only, and autovacuum vacuums a table after 1,000 + 20 % of its rows
        have been inserted since its last vacuum: today's partition was vacuumed again and
        again as it grew, on the cores that score and log (in bench-api's 60 s log run, 0.7 µs
        per logged row on top of the writer's 2.1). With the option off while the day is
        written, autovacuum finds a whole closed day's inserts not vacuumed and vacuums it
        once, after the day. Anti-wraparound vacuums and ANALYZE are not affected; the log's
        queries use BRIN bitmap scans, which need no all-visible pages. (Setting or resetting
        the option takes a lock that writes and reads pass.)"""
        for row in await conn.fetch(DAY_OPTIONS_SQL):
            day = partition_day(row["name"])
            if day is None or (day >= today) == row["open"]:
                continue
            name = quote_ident(row["name"])
            if day >= today:
                await conn.execute(f"ALTER TABLE {name} SET ({OPEN_DAY_OPTION} = -1)")
            else:
                await conn.execute(f"ALTER TABLE {name} RESET ({OPEN_DAY_OPTION})")

    async def _apply_retention(self, conn: Any, today: date) -> None:
        """Drop the day partitions wholly older than ``log_retention_days`` (and such rows in
        the default partition)."""
        keep_days = self.settings.log_retention_days
        if keep_days <= 0:
            return
        first_kept = today - timedelta(days=keep_days)
        require_export = self.settings.log_retention_require_export
        for row in await conn.fetch(PARTITIONS_SQL):
            day = partition_day(row["name"])
            if day is None or day >= first_kept:
                continue
            name = quote_ident(row["name"])
            try:
                async with conn.transaction():  # a savepoint: a busy partition fails alone
                    await conn.execute(f"LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE NOWAIT")
                    if not require_export:
                        await conn.execute(f"DROP TABLE {name}")
                    else:
                        await self._drop_if_exported(conn, name, day)
            except _lock_not_available():
                log.info("prediction log: partition of %s in use (an export?): dropped later", day)
        if not require_export:
            # (Under require_export, only a dropped day's rows go: _drop_if_exported.)
            await conn.execute(
                "DELETE FROM prediction_log_default WHERE created_at < $1", _midnight(first_kept)
            )

    async def _drop_if_exported(self, conn: Any, name: str, day: date) -> bool:
        """Drop ``day``'s partition (``name``, locked by the caller) if its recorded export
        still matches it; forget an export that does not. Returns whether it dropped."""
        exported = await conn.fetchrow(EXPORTED_SQL, day)
        if exported is None:
            return False
        lower, upper = _midnight(day), _midnight(day + timedelta(days=1))
        found = await conn.fetchrow(COUNT_SQL, lower, upper, timeout=COUNT_TIMEOUT_S)
        if (found["rows"], found["labelled"]) != (exported["rows"], exported["labelled"]):
            log.warning(
                "prediction log: not dropping %s (past retention): it holds %d rows (%d "
                "labelled), its export %d (%d); the next log-export redoes it",
                day,
                found["rows"],
                found["labelled"],
                exported["rows"],
                exported["labelled"],
            )
            await conn.execute("DELETE FROM prediction_log_exports WHERE day = $1", day)
            return False
        await conn.execute(f"DROP TABLE {name}")
        await conn.execute(
            "DELETE FROM prediction_log_default WHERE created_at >= $1 AND created_at < $2",
            lower,
            upper,
        )
        return True

    async def _measure(self, conn: Any) -> LogSize:
        rows = await conn.fetch(PARTITIONS_SQL)
        total = sum(int(r["bytes"]) for r in rows)
        days = (partition_day(r["name"]) for r in rows)
        self.days = frozenset(day for day in days if day is not None)
        # The default partition first (it may hold anything), then the day partitions, oldest
        # first, until one has rows.
        names = sorted(
            (r["name"] for r in rows),
            key=lambda n: (partition_day(n) is not None, partition_day(n) or date.min),
        )
        oldest: datetime | None = None
        for name in names:
            found = await conn.fetchval(
                f"SELECT min(created_at) FROM (SELECT created_at FROM {quote_ident(name)} "
                f"LIMIT {OLDEST_PROBE_ROWS}) AS front"
            )
            if found is not None and (oldest is None or found < oldest):
                oldest = found
            if found is not None and partition_day(name) is not None:
                break
        return LogSize(bytes=total, partitions=len(rows), oldest=oldest)
