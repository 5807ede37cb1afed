"""Write the generated dashboard files, check them, or print every panel query expanded."""

from __future__ import annotations

import argparse
import json
import sys

from porto_dashboards import DASHBOARDS, ROOT, outputs
from porto_dashboards.promql import expand, grafana_intervals, panel_queries


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python dashboards/build.py``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="dashboards/build.py", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check", action="store_true", help="fail if a committed file differs from the builder"
    )
    mode.add_argument(
        "--queries",
        action="store_true",
        help="print every panel query with variables expanded for the local `make monitor` "
        "Prometheus (namespace porto, service porto-inference, last hour)",
    )
    args = parser.parse_args(argv)
    if args.queries:
        values = {
            "datasource": "prometheus",
            "namespace": "porto",
            "service": "porto-inference",
            "instance": ".+",
            "model_version": ".+",
            **grafana_intervals(3600, 5),
        }
        for dashboard in DASHBOARDS:
            for query in panel_queries(dashboard.render()):
                sys.stdout.write(f"# {query.name} {query.panel}\n{expand(query.expr, values)}\n")
        return 0
    stale = []
    for path, content in outputs().items():
        current = path.read_text() if path.exists() else None
        if current == content:
            continue
        if args.check:
            stale.append(str(path.relative_to(ROOT.parent)))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            sys.stdout.write(f"wrote {path.relative_to(ROOT.parent)}\n")
    if stale:
        sys.stderr.write(
            "generated files differ from dashboards/porto_dashboards (run `python "
            f"dashboards/build.py`): {json.dumps(stale)}\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
