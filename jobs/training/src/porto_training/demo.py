"""``make demo``: porto end to end on one machine, in well under a minute.

Trains the default config on a demo-sized SYNTHETIC dataset (or on ``--data``), stores the bundle
in ``$PORTO_HOME/artifacts`` and prints where it is. A small orchestrator on purpose: later steps
(start the API, the UI) are added here as further calls, not as more logic.
"""

from __future__ import annotations

import argparse
import sys
import time

from porto.errors import PortoError

from porto_training.config import default_store_uri, load_config
from porto_training.pipeline import run_training

DEMO_ROWS = 50_000


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m porto_training.demo", description=__doc__)
    parser.add_argument("--data", help="dataset path or s3:// URI (default: SYNTHETIC data)")
    parser.add_argument("--rows", type=int, default=DEMO_ROWS, help="synthetic rows to generate")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    updates: dict[str, object] = {"output.store": default_store_uri()}
    if args.data:
        updates["data.path"] = args.data
    else:
        updates["data.synthetic.rows"] = args.rows
        print(f"porto demo: no dataset given, generating {args.rows:,} SYNTHETIC rows")
    try:
        config = load_config(updates=updates)
        result = run_training(config, metrics_port=0)
    except PortoError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print("\n".join(result.summary()))
    print(f"demo finished in {time.perf_counter() - started:.1f} s")
    print(f"next: porto-train models list --store {result.store_uri}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
