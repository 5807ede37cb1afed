"""What every harness server shares: a process on a free loopback port, started with a few
attempts (a free port can be taken between picking it and the server binding it), a working
directory removed on close when the harness created it, and use as a context manager."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from harness.ports import free_port
from harness.process import log_tail, terminate
from harness.timing import DEADLINE

START_ATTEMPTS = 3


class LoopbackServer:
    """Subclasses define ``_start_once`` (and ``stop`` when stopping takes more than SIGTERM)."""

    #: Default seconds ``start`` waits for readiness (the process dying ends the wait at once).
    start_timeout = DEADLINE

    def __init__(self, root: Path | None, prefix: str) -> None:
        self._own_root = root is None
        self.root = root or Path(tempfile.mkdtemp(prefix=prefix))
        self.port = free_port()
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        #: Once started, a restart must come back on the same port, where clients point.
        self._started_once = False

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float | None = None) -> None:
        """Start (a no-op when running) and wait until ready; a first start that fails moves to
        another free port and tries again. One that timed out is not retried: a port taken
        under it makes the server exit, and another full wait would only push a hang's failure
        past pytest-timeout."""
        if self.running:
            return
        for attempt in range(START_ATTEMPTS):
            try:
                self._start_once(self.start_timeout if timeout is None else timeout)
                return
            except RuntimeError as exc:
                timed_out = isinstance(exc.__cause__, TimeoutError)
                if timed_out or self._started_once or attempt == START_ATTEMPTS - 1:
                    raise
                self.port = free_port()

    def _start_once(self, timeout: float) -> None:
        raise NotImplementedError

    def _await_ready(self, name: str, wait: Callable[[], None], log: Path, lines: int = 20) -> None:
        """Run ``wait`` (which raises TimeoutError or RuntimeError when the server does not come
        up); on failure kill the process and raise RuntimeError with the tail of ``log``, where
        the server wrote why."""
        try:
            wait()
        except (TimeoutError, RuntimeError) as exc:
            if self._proc is not None:
                terminate(self._proc, signal.SIGKILL)
            self._proc = None
            raise RuntimeError(f"{name} did not start: {exc}\n{log_tail(log, lines)}") from exc

    def stop(self) -> None:
        """Stop the process (SIGTERM, waiting for it to exit); a no-op when not running."""
        if self._proc is None:
            return
        terminate(self._proc, signal.SIGTERM)
        self._proc = None

    def close(self) -> None:
        """Stop and remove the working directory (when the harness created it)."""
        self.stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
