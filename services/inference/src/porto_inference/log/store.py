"""The prediction log: every scored row in PostgreSQL's ``prediction_log``, never on the request
path, the labels feedback gives them, and the queries monitoring makes of them.

:class:`PredictionLog` is what the other rooms use. It owns the serving loop's connection pool
(:mod:`~porto_inference.log.pool`; the writer thread has a pool of its own, since an asyncpg pool
belongs to the loop that made it) and puts together the parts, each holding its own SQL:

- :mod:`~porto_inference.log.writer`: the bounded queue requests append to, and the thread
  that writes it with ``COPY`` over a pool of its own (retries, exactly-once writes, quarantine
  of rows PostgreSQL refuses, dropped counts), which also runs
  :mod:`~porto_inference.log.partitions` (day partitions ahead, retention, the size gauges);
- :mod:`~porto_inference.log.feedback`: labels for earlier predictions, parked while their
  prediction is still queued;
- :mod:`~porto_inference.log.queries`: the read side (the /monitoring queries, the live-quality
  window), inherited, so ``prediction_log.recent(...)`` and the like are its own methods.

Schema migrations and where the database is are :mod:`~porto_inference.log.database`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from porto_inference.errors import DatabaseUnavailableError, LogFullError
from porto_inference.log.entry import LogEntry
from porto_inference.log.feedback import Feedback
from porto_inference.log.pool import LogPool
from porto_inference.log.queries import LogQueries
from porto_inference.log.writer import LogWriter
from porto_inference.settings import Settings

if TYPE_CHECKING:
    from porto_inference.monitoring.metrics import LogMetrics

#: The room's interface: the store and the entries it takes.
__all__ = ["LogEntry", "PredictionLog"]


class PredictionLog(LogQueries):
    """The queue and its writer thread, feedback, and the monitoring reads (over the serving
    loop's pool; the writer has its own)."""

    def __init__(self, settings: Settings, metrics: LogMetrics, url: str | None) -> None:
        super().__init__(LogPool(settings, metrics, url))
        self.settings = settings
        self.metrics = metrics
        self.feedback = Feedback(settings, metrics, self.db)
        self.writer = LogWriter(settings, metrics, url)

    @property
    def enabled(self) -> bool:
        """Whether predictions are logged at all."""
        return self.db.enabled

    @property
    def url(self) -> str | None:
        """The database URL (None: the prediction log is off)."""
        return self.db.url

    @property
    def state(self) -> str:
        """``disabled``, ``connecting``, ``up`` or ``down`` (the writer's view once it has
        tried: it is the part that keeps trying)."""
        return self._current().state

    @property
    def last_error(self) -> str | None:
        """The latest failure to reach the database (None while it answers)."""
        return self._current().last_error

    def _current(self) -> LogPool:
        writer = self.writer.db
        return writer if self.writer.started and writer.state != "connecting" else self.db

    async def start(self) -> None:
        """Connect (and migrate) once, then start the writer thread (it connects on its own
        pool and retries on its own)."""
        if self.enabled:
            # A database that did not answer here will not for the writer either: start it
            # without waiting a second connect timeout.
            await self.writer.start(wait=await self.db.connect())

    async def stop(self) -> None:
        """Flush what is queued (bounded by the shutdown timeout), then close the pool."""
        if not self.enabled:
            return
        await self.writer.stop()
        await self.db.close()

    def admit(self, rows: int) -> None:
        """Under the ``backpressure`` overflow policy, refuse (429, counted) a request whose
        ``rows`` the queue cannot take, before it is scored; under ``drop`` (or with the log
        off) let everything through."""
        if (
            self.settings.log_overflow == "backpressure"
            and self.enabled
            and not self.writer.has_room(rows)
        ):
            self.metrics.log_backpressure.inc()
            raise LogFullError(
                f"the prediction log queue is full ({self.writer.queued_rows} rows waiting for "
                "PostgreSQL): retry shortly",
                retry_after_s=self.settings.log_retry_after_s,
            )

    def reject_if_full(self, rows: int) -> bool:
        """Count ``rows`` as dropped and return True when the queue cannot take them, so the
        caller skips building an entry that would be thrown away (overload is when CPU is
        scarcest)."""
        return self.writer.reject_if_full(rows)

    def submit(self, entry: LogEntry) -> bool:
        """Queue an entry (O(1)); False, counted as dropped, when the queue is full."""
        return self.writer.submit(entry)

    async def flush(self, timeout: float) -> bool:
        """Wait until every entry queued so far is written; False on timeout."""
        if not self.enabled:
            return True
        return await self.writer.flush(timeout)

    async def record_feedback(self, labels: dict[str, int]) -> dict[str, Any]:
        """Label earlier predictions, after flushing this worker's queue (the predictions may
        be in it). Return ``applied`` (count), ``pending``, ``unknown`` and ``refused`` (ids).
        DatabaseUnavailableError if PostgreSQL cannot be reached."""
        if not self.enabled:
            raise DatabaseUnavailableError("the prediction log is off; feedback is not kept")
        await self.flush(self.settings.feedback_flush_timeout_s)
        return await self.feedback.record(labels)

    def status(self) -> dict[str, Any]:
        """What /ready reports about the database."""
        return {
            "state": self.state,
            "error": self.last_error,
            "queued_rows": self.writer.queued_rows,
            "written_rows": self.writer.written,
            "dropped_rows": self.writer.dropped,
            "quarantined_rows": self.writer.quarantined,
        }
