"""A connection pool of the prediction log: connecting (and migrating) with retries left to the
caller, whether the database is up, and bounded reads.

There are two per worker, one per event loop (an asyncpg pool belongs to the loop that made it):
the serving loop's, for /feedback and the monitoring queries, and the writer thread's, for the
writes, the parked-feedback sweep and the partitions. Nothing else opens a connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from porto_inference.errors import DatabaseUnavailableError
from porto_inference.log.database import migrate, redact
from porto_inference.settings import Settings

if TYPE_CHECKING:
    from porto_inference.monitoring.metrics import LogMetrics

log = logging.getLogger("porto_inference.prediction_log")

#: Longest a monitoring query may run; a slow one fails (503) instead of piling up.
QUERY_TIMEOUT_S = 10.0
#: Least time between two connection attempts a read makes on a pool that is not up.
RECONNECT_INTERVAL_S = 1.0
#: What a lost or unreachable database raises before asyncpg is imported (no database: no log).
_DB_ERRORS: tuple[type[BaseException], ...] = (OSError, asyncio.TimeoutError, ConnectionError)


def _db_errors() -> tuple[type[BaseException], ...]:
    import asyncpg

    return (*_DB_ERRORS, asyncpg.PostgresError, asyncpg.InterfaceError)


class LogPool:
    """The asyncpg pool of the prediction log's database, and what /ready says about it."""

    def __init__(self, settings: Settings, metrics: LogMetrics, url: str | None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.url = url
        self.pool: Any = None
        self.state = "disabled" if url is None else "connecting"
        self.last_error: str | None = None
        self.migrated = False
        self._connecting: asyncio.Lock | None = None
        self._next_attempt = 0.0
        #: What "the database cannot be reached or answer" raises.
        self.errors = _db_errors() if url is not None else _DB_ERRORS

    @property
    def enabled(self) -> bool:
        """Whether predictions are logged at all."""
        return self.url is not None

    @property
    def ready(self) -> bool:
        """Whether the pool exists and the schema is migrated (else :meth:`connect` first)."""
        return self.pool is not None and self.migrated

    async def connect(self) -> bool:
        """Create the pool and migrate the schema, whichever is missing; False (the database
        marked down) when either fails: the caller retries."""
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
            if not self.migrated:
                async with self.pool.acquire() as conn:
                    await migrate(conn)
                self.migrated = True
        except Exception as exc:  # connection refused, auth, DNS, a bad migration: all retried
            self.set_down(exc)
            return False
        self.set_up()
        return True

    def set_up(self) -> None:
        """Record that the database answered."""
        if self.state != "up":
            log.info("prediction log connected to %s", redact(self.url or ""))
        self.state = "up"
        self.last_error = None
        self.metrics.log_up.set(1)

    def set_down(self, exc: BaseException) -> None:
        """Record that the database could not be reached (logged once per distinct error)."""
        message = f"{type(exc).__name__}: {exc}".strip()
        if self.state != "down" or message != self.last_error:
            log.warning("prediction log cannot reach the database: %s", message)
        self.state = "down"
        self.last_error = message
        self.metrics.log_up.set(0)
        self.metrics.log_errors.inc()

    async def read(self, sql: str, *args: Any) -> list[Any]:
        """Rows of one bounded query; DatabaseUnavailableError (503) when the log cannot answer."""
        if not self.enabled:
            raise DatabaseUnavailableError(
                "the prediction log is off (PORTO_INFERENCE_PREDICTION_LOG=false): "
                "there is nothing to monitor"
            )
        if not await self.ensure_ready():
            raise DatabaseUnavailableError(
                f"the prediction log database is not reachable: {self.last_error or 'connecting'}"
            )
        try:
            async with self.pool.acquire(timeout=QUERY_TIMEOUT_S) as conn:
                rows: list[Any] = await conn.fetch(sql, *args, timeout=QUERY_TIMEOUT_S)
                return rows
        except self.errors as exc:
            raise DatabaseUnavailableError(
                f"the prediction log database did not answer: {type(exc).__name__}: {exc}"
            ) from exc

    async def ensure_ready(self) -> bool:
        """Whether the pool is up, connecting (and migrating) it first when it is not: a worker
        whose first connect failed (the database started after it) must not answer every later
        read, label or replay with that old error. One attempt at a time, at most one per
        :data:`RECONNECT_INTERVAL_S`."""
        if self.ready:
            return True
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self.ready:
                return True
            if time.monotonic() < self._next_attempt:
                return False
            ok = await self.connect()
            self._next_attempt = 0.0 if ok else time.monotonic() + RECONNECT_INTERVAL_S
            return ok

    async def close(self) -> None:
        """Close the pool (terminate it when a connection hangs)."""
        if self.pool is not None:
            try:
                await asyncio.wait_for(self.pool.close(), 5)
            except Exception:  # a hung or broken connection: drop them all
                self.pool.terminate()
            self.pool = None
