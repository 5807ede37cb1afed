"""How every ``porto-train`` command ends on a porto failure: ``error: <message>`` on stderr and
a non-zero exit code, without a traceback; and on SIGINT (Ctrl-C) or SIGTERM (``docker stop``, a
deleted or evicted Job's pod)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from porto.errors import PortoError

from porto_training import termination
from porto_training.termination import Terminated

#: Exit code for any porto failure (typer/click use 2 for usage errors).
EXIT_FAILURE = 1
#: Exit code after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130
#: Exit code after SIGTERM (128 + 15): a stopped run must not look like a finished one to the
#: Job controller, and it stops at once instead of being killed when the grace period ends.
EXIT_TERMINATED = 143


def _terminated() -> typer.Exit:
    typer.echo("error: terminated (SIGTERM)", err=True)
    return typer.Exit(EXIT_TERMINATED)


@contextmanager
def porto_errors() -> Iterator[None]:
    """Turn a PortoError into ``error: <message>`` and exit 1; Ctrl-C into exit 130; SIGTERM,
    or any failure once SIGTERM has arrived, into exit 143."""
    try:
        yield
    except PortoError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(EXIT_FAILURE) from None
    except (KeyboardInterrupt, Terminated):
        # CatBoost turns an exception raised in its training loop into KeyboardInterrupt.
        if termination.received():
            raise _terminated() from None
        typer.echo("error: interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception:
        # SIGTERM's exception landed in an extension's callback, which printed and dropped it,
        # and the library then failed on its own half-built state (CatBoost building its Pool:
        # "Undefined value ... in NCB::ERawTargetType"). The run was stopped: say so, exit 143.
        if termination.received():
            raise _terminated() from None
        raise
