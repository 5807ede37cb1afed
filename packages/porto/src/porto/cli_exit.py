"""How the services' command lines end: ``error: <message>`` on stderr and exit 1 for a porto
failure (no traceback), click's own code (2) for a usage error, 0 otherwise.

Typer is the services' CLI framework, but the shared core does not depend on it: the app is only
called here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from porto.errors import PortoError


def run_cli(app: Callable[..., object], argv: list[str] | None, prog_name: str) -> int:
    """Run the typer ``app`` on ``argv`` (None: ``sys.argv``) and return its exit code."""
    try:
        app(args=argv, prog_name=prog_name)
    except PortoError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 1
    except SystemExit as exc:  # click ends every run, even a successful one, with sys.exit
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return 0
