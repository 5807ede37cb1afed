"""Start and stop server processes for tests, with their output kept in a log file.

Failures to start say why: the error carries the tail of the server's own log, which is where
the reason (port taken, bad flag, permissions) is written.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.timing import DEADLINE

if TYPE_CHECKING:
    from porto.child_process import ChildServer

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM the child when the process that started it dies.

    Without this a killed pytest (CI timeout, ^C twice) leaves servers running on random ports.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    argv: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` with stdout and stderr appended to ``log``; return the process.

    ``user`` runs it as that (unprivileged) account, which needs root. Linux ties the
    parent-death signal to the creating *thread*, so it is only requested from the main thread:
    a server restarted from a helper thread must not die when that thread ends.
    """
    on_main = threading.current_thread() is threading.main_thread()
    preexec: Callable[[], None] | None = _die_with_parent if on_main else None
    with log.open("ab") as out:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            user=user,
            group=_primary_group(user) if user else None,
            extra_groups=[] if user else None,
            start_new_session=True,  # ^C in the terminal goes to pytest, which tears down in order
            preexec_fn=preexec,  # only prctl: no locks taken in the child
        )


def _primary_group(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_gid


def terminate(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15.0
) -> None:
    """Send ``sig`` and wait for the exit; SIGKILL if it takes longer than ``timeout``."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def log_tail(log: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a server log, for error messages."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def await_child(server: ChildServer, log: Path, path: str | None = None) -> None:
    """``server.wait_ready`` (porto's API or UI started by porto.child_process) with the suite's
    deadline; RuntimeError naming what was awaited, with the tail of ``log``, if it does not
    come up (the process exiting ends the wait at once)."""
    try:
        server.wait_ready(DEADLINE, path)
    except (RuntimeError, TimeoutError) as exc:
        raise RuntimeError(f"{server.label} did not get ready: {exc}\n{log_tail(log, 40)}") from exc


def is_root() -> bool:
    """Whether this process runs as root (servers that refuse root then need another user)."""
    return os.geteuid() == 0
