"""SIGTERM for a training run: ``docker stop``, a deleted Job, an evicted pod.

Without a handler, a process that is PID 1 in its container ignores SIGTERM and is killed when the
grace period ends. With one that only raised, the exception could land inside CatBoost's training
loop, which swallows it and returns a model trained part of the way, then published. So the
handler raises :class:`Terminated` and also sets a flag: CatBoost's iteration callback stops the
loop when it sees it, and every stage boundary (``Progress.stage``) raises :class:`Terminated`
again, so nothing after a stopped stage runs and nothing is published.

Not while a module is being imported: an exception raised there can land in an extension
module's initialisation (Cython catches it, prints its traceback as a warning and goes on), so
the handler only sets the flag and the next check point stops the run.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

_received = threading.Event()


class Terminated(BaseException):
    """SIGTERM arrived: the run unwinds as after Ctrl-C (a BaseException, so no ``except
    Exception`` on the way swallows it)."""


def received() -> bool:
    """Whether SIGTERM has arrived."""
    return _received.is_set()


def check() -> None:
    """Raise :class:`Terminated` if SIGTERM has arrived (at a point where stopping is safe)."""
    if _received.is_set():
        raise Terminated


def _importing(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs inside the import system (a module's body or importlib itself)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _received.set()
    if not _importing(frame):
        raise Terminated


def install() -> None:
    """Handle SIGTERM as above (from the main thread, before the run starts)."""
    signal.signal(signal.SIGTERM, _on_sigterm)
