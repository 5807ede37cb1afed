"""Servers run as child processes: started in their own session, checked for readiness over
HTTP, stopped gracefully.

``make demo``, the tests and the benchmarks start the API and the UI this way; it is shared
because both the API's and the UI's server modules build on it. The child gets its own session
so a terminal's Ctrl-C reaches only the caller, which then decides how to stop it; on Linux it
also receives SIGTERM if the caller dies, so no server is ever orphaned.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn``: on Linux, SIGTERM this process when its parent dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log_file: Path | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session, output appended to ``log_file`` (else inherited)."""
    out: Any = None
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        out = log_file.open("ab")
    try:
        return subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    finally:
        if out is not None:
            out.close()


def base_url(host: str, port: int) -> str:
    """``http://host:port`` for a bind address (a wildcard bind is reached on loopback)."""
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


class ChildServer:
    """A server child process with an HTTP readiness endpoint."""

    #: Name used in error messages ("the API exited ...").
    label = "the server"
    #: Path that answers 200 once the server can take requests.
    ready_path = "/"
    #: Seconds between readiness polls.
    poll_interval = 0.1

    def __init__(self, process: subprocess.Popen[bytes], url: str) -> None:
        self.process = process
        self._url = url

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return self._url

    def wait_ready(self, timeout: float = 60.0, path: str | None = None) -> None:
        """Block until ``path`` (default: :attr:`ready_path`) answers 200; RuntimeError if the
        process exits first, TimeoutError after ``timeout`` seconds."""
        target = self.url + (path or self.ready_path)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.label} exited with code {self.process.returncode}")
            try:
                with urllib.request.urlopen(target, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{target} not ready after {timeout:.0f}s")
            time.sleep(self.poll_interval)

    def stop(self, timeout: float = 40.0) -> int:
        """Graceful stop (SIGTERM), SIGKILL after ``timeout``; return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)
