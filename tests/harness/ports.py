"""Free loopback ports and readiness polling for the servers the harness starts.

Servers bind 127.0.0.1 only: tests must never be reachable from outside the machine, and a port
picked here is released before the server binds it, so callers retry on the rare collision.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from harness.timing import DEADLINE

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = LOOPBACK) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_until(
    ready: Callable[[], bool],
    timeout: float,
    what: str,
    *,
    alive: Callable[[], bool] | None = None,
    interval: float = 0.05,
    progress: Callable[[], object] | None = None,
) -> None:
    """Poll ``ready`` until it returns True; TimeoutError after ``timeout`` seconds.

    ``alive`` lets a caller give up at once when the server process has already died, instead of
    waiting out the whole timeout for a server that will never answer. ``progress`` (e.g. the
    size of a log) makes ``timeout`` a bound on *silence*: the deadline restarts whenever its
    value changes, for a wait made of many steps whose total time depends on the machine.
    """
    deadline = time.monotonic() + timeout
    last = progress() if progress is not None else None
    while True:
        if ready():
            return
        if alive is not None and not alive():
            raise RuntimeError(f"{what}: the server process exited before it became ready")
        if progress is not None and (now := progress()) != last:
            last, deadline = now, time.monotonic() + timeout
        if time.monotonic() > deadline:
            quiet = " without progress" if progress is not None else ""
            raise TimeoutError(f"{what}: not ready after {timeout:.0f}s{quiet}")
        time.sleep(interval)


def http_ok(url: str) -> bool:
    """Whether a GET of ``url`` answers 2xx right now (connection errors count as no)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return 200 <= int(resp.status) < 300
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def wait_for_http(
    url: str, timeout: float = DEADLINE, *, alive: Callable[[], bool] | None = None
) -> None:
    """Wait until ``url`` answers a GET with 2xx; TimeoutError after ``timeout`` seconds."""
    wait_until(lambda: http_ok(url), timeout, f"GET {url}", alive=alive)
