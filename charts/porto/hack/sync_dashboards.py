"""Copy porto's dashboards and alert rules from ``dashboards/`` into the dashboards subchart.

Helm reads no file outside a chart, so the chart carries generated copies under
``charts/porto/charts/dashboards/files/``; ``dashboards/`` stays the single source (the
kube-prometheus-stack ``hack/sync_grafana_dashboards.py`` pattern).

    python charts/porto/hack/sync_dashboards.py           # write the copies (make chart-sync)
    python charts/porto/hack/sync_dashboards.py --check   # exit 1 if they differ (the tests)
"""

# A command-line program: its output is the point (print is fine here).
# ruff: noqa: T201

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SOURCE = REPO / "dashboards"
TARGET = REPO / "charts" / "porto" / "charts" / "dashboards" / "files"

#: source glob (relative to dashboards/) -> target directory (relative to files/).
#: Rule unit tests (*.rules.test.yml) stay out: Prometheus only loads the rules.
SOURCES = {"*.json": "dashboards", "alerts/*.rules.yml": "alerts"}


def expected() -> dict[Path, bytes]:
    """Return every file the chart must carry, with its content."""
    files: dict[Path, bytes] = {}
    for pattern, target in SOURCES.items():
        for path in sorted(SOURCE.glob(pattern)):
            files[TARGET / target / path.name] = path.read_bytes()
    return files


def present() -> set[Path]:
    """Return the generated files currently in the chart."""
    return {p for target in SOURCES.values() for p in (TARGET / target).glob("*") if p.is_file()}


def drift() -> list[str]:
    """Return one line per copy that is missing, stale or no longer has a source."""
    want = expected()
    problems = [
        f"stale or missing: {path.relative_to(REPO)}"
        for path, content in want.items()
        if not path.is_file() or path.read_bytes() != content
    ]
    problems += [f"no source: {p.relative_to(REPO)}" for p in sorted(present() - set(want))]
    return problems


def sync() -> list[str]:
    """Write the copies, delete orphans; return what changed."""
    changed = drift()
    want = expected()
    for path, content in want.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_bytes() != content:
            path.write_bytes(content)
    for orphan in present() - set(want):
        orphan.unlink()
    return changed


def main(argv: list[str] | None = None) -> int:
    """Sync, or with --check report drift; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report drift, change nothing")
    args = parser.parse_args(argv)
    if args.check:
        problems = drift()
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print("run `make chart-sync` and commit the result", file=sys.stderr)
        return 1 if problems else 0
    for line in sync():
        print(f"synced ({line})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
