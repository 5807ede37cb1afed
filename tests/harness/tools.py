"""Where the harness finds its server binaries, and the error when one is missing.

The MinIO version is pinned in one place, ``scripts/tools.sh``; this module reads the cached
binary name from there instead of repeating the pin. A missing binary is an error, never a skip:
a CI run that silently skipped its integration tests would pass without testing anything.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_SCRIPT = REPO_ROOT / "scripts" / "tools.sh"
_ENTRY = re.compile(r'^\s*"(?P<name>[\w-]+)\|[^|]+\|[^|]+\|(?P<out>[^|"]+)"\s*$', re.MULTILINE)
DEBIAN_POSTGRES = Path("/usr/lib/postgresql")


class MissingToolError(RuntimeError):
    """A server binary the integration tests need is not installed."""


def cache_bin() -> Path:
    """The directory ``scripts/tools.sh`` builds binaries into."""
    cache = os.environ.get("PORTO_CACHE") or str(Path.home() / ".cache" / "porto")
    return Path(cache).expanduser() / "bin"


def pinned_tools() -> dict[str, str]:
    """Return tool name → cached binary file name, as pinned in ``scripts/tools.sh``."""
    return {m["name"]: m["out"] for m in _ENTRY.finditer(TOOLS_SCRIPT.read_text())}


def tool_path(name: str) -> Path:
    """Return the cached binary of pinned tool ``name``; MissingToolError if not built yet."""
    out = pinned_tools().get(name)
    if out is None:
        raise MissingToolError(f"{name} is not pinned in {TOOLS_SCRIPT}")
    path = cache_bin() / out
    if not os.access(path, os.X_OK):
        raise MissingToolError(
            f"{name} binary {path} is missing: run `make tools` (or `.ci/run`, which installs "
            "everything the tests need)"
        )
    return path


def postgres_bin_dir() -> Path:
    """Return Debian's PostgreSQL bin directory, highest major version first."""
    candidates = sorted(
        (p for p in DEBIAN_POSTGRES.glob("*/bin") if p.parent.name.isdigit()),
        key=lambda p: int(p.parent.name),
        reverse=True,
    )
    for bin_dir in candidates:
        if all(os.access(bin_dir / exe, os.X_OK) for exe in ("initdb", "postgres", "pg_isready")):
            return bin_dir
    raise MissingToolError(
        f"no PostgreSQL server under {DEBIAN_POSTGRES}/<major>/bin: run `apt-get install "
        "postgresql` (or `.ci/run`, which installs everything the tests need)"
    )


def make_dry_run(*args: str) -> str:
    """What ``make -n ARGS`` would run in the repository (targets and VAR=value), asserting it
    succeeds."""
    out = subprocess.run(
        ["make", "--no-print-directory", "-n", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout
