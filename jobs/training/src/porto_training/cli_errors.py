"""How every ``porto-train`` command ends on a porto failure: ``error: <message>`` on stderr and
a non-zero exit code, without a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from porto.errors import PortoError

#: Exit code for any porto failure (typer/click use 2 for usage errors).
EXIT_FAILURE = 1
#: Exit code after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


@contextmanager
def porto_errors() -> Iterator[None]:
    """Turn a PortoError into ``error: <message>`` and exit 1; Ctrl-C into exit 130."""
    try:
        yield
    except PortoError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(EXIT_FAILURE) from None
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
