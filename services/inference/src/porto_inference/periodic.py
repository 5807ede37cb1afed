"""One background loop for the periodic jobs of a worker (the model watcher, drift, live quality).

Each job sleeps, runs, and survives its own failures (logged, then the next turn); ``stop``
cancels it and waits for it, so a lifespan shutdown never leaves a task behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("porto_inference.periodic")


class PeriodicTask:
    """Run ``job`` every ``interval()`` seconds (a callable: jitter, or settings read each turn)
    until stopped. An exception is logged with ``what`` and the loop goes on."""

    def __init__(
        self,
        name: str,
        interval: Callable[[], float],
        job: Callable[[], Awaitable[object]],
        *,
        what: str,
        logger: logging.Logger = log,
        with_traceback: bool = True,
    ) -> None:
        self.name = name
        self.interval = interval
        self.job = job
        self.what = what
        self.logger = logger
        self.with_traceback = with_traceback
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop (its first run is one interval from now)."""
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """Cancel the loop and wait until it has ended."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval())
            try:
                await self.job()
            except Exception as exc:  # a periodic job must survive anything; it reports itself
                if self.with_traceback:
                    self.logger.exception("%s failed", self.what)
                else:
                    self.logger.warning("%s: %s", self.what, exc)
