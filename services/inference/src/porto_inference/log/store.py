"""The prediction log: every scored row in PostgreSQL's ``prediction_log``, never on the request
path, the labels feedback gives them, and the queries monitoring makes of them.

:class:`PredictionLog` is what the other rooms use. It owns the one connection pool
(:mod:`~porto_inference.log.pool`) and puts together the parts that share it, each holding its
own SQL:

- :mod:`~porto_inference.log.writer`: the bounded queue requests append to, and the task that
  writes it with ``COPY`` (retries, quarantine of rows PostgreSQL refuses, dropped counts);
- :mod:`~porto_inference.log.feedback`: labels for earlier predictions, parked while their
  prediction is still queued;
- :mod:`~porto_inference.log.queries`: the read side (the /monitoring queries, the live-quality
  window), inherited, so ``prediction_log.recent(...)`` and the like are its own methods.

Schema migrations and where the database is are :mod:`~porto_inference.log.database`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from porto_inference.errors import DatabaseUnavailableError
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
    """The queue, its writer task, feedback, and the monitoring reads, over one pool."""

    def __init__(self, settings: Settings, metrics: LogMetrics, url: str | None) -> None:
        super().__init__(LogPool(settings, metrics, url))
        self.settings = settings
        self.feedback = Feedback(settings, metrics, self.db)
        self.writer = LogWriter(settings, metrics, self.db, self.feedback)

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
        """``disabled``, ``connecting``, ``up`` or ``down``."""
        return self.db.state

    async def start(self) -> None:
        """Start the writer task (it connects, migrates, and retries on its own)."""
        if self.enabled:
            await self.db.connect()
            self.writer.start()

    async def stop(self) -> None:
        """Flush what is queued (bounded by the shutdown timeout), then close the pool."""
        if not self.enabled:
            return
        await self.writer.stop()
        await self.db.close()

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
            "state": self.db.state,
            "error": self.db.last_error,
            "queued_rows": self.writer.queued_rows,
            "written_rows": self.writer.written,
            "dropped_rows": self.writer.dropped,
            "quarantined_rows": self.writer.quarantined,
        }
