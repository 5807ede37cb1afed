"""``make bench-score``: ``porto-score`` on 595,212 SYNTHETIC rows (the size of Kaggle's
train.csv), as CSV and as Parquet, with a model of the default training config.

The model is trained first (the default config, on ``--train-rows`` synthetic rows: the same
hyperparameters and early stopping as a real run, in a fraction of its time), the rows are written
to a temporary directory, then each input is scored by the ``porto-score`` command in a process of
its own, so its peak RSS (sampled, and the kernel's high-water mark) is the scoring's alone, not
the generator's or the trainer's. Prints rows per second (end to end: start-up, model load, input
fingerprint, reading, scoring, writing the part files) and peak memory per run. With ``--explain``
each run adds the per-feature contributions (TreeSHAP: many times the cost of a prediction).

    uv run python bench/bench_score.py [--rows N] [--chunk-rows N] [--explain] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import psutil
from porto.synthetic import generate
from porto_training.config import load_config
from porto_training.pipeline import run_training
from porto_training.score import DEFAULT_CHUNK_ROWS

KAGGLE_TRAIN_ROWS = 595_212


def train_model(store: Path, rows: int) -> str:
    """Train the default config on ``rows`` synthetic rows into ``store``; return the version."""
    config = load_config(None, [], {"output.store": str(store), "data.synthetic.rows": rows})
    result = run_training(config, promote=True, live=False)
    return result.manifest.version


def write_inputs(directory: Path, rows: int) -> dict[str, Path]:
    """Write ``rows`` synthetic rows (another seed than the model's) as CSV and Parquet."""
    frame = generate(rows, seed=2026).frame
    paths = {"csv": directory / "rows.csv", "parquet": directory / "rows.parquet"}
    frame.to_csv(paths["csv"], index=False)
    frame.to_parquet(paths["parquet"], index=False)
    return paths


def vm_hwm(pid: int) -> int:
    """The kernel's RSS high-water mark of process ``pid`` since its exec (Linux ``VmHWM``; 0
    elsewhere): catches spikes between samples. Not ``getrusage(RUSAGE_CHILDREN)``, which counts
    the pages a forked child shared with this process before its exec."""
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return 0
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def score(
    source: Path, store: Path, output: Path, *, chunk_rows: int, threads: int, explain: bool
) -> dict[str, float]:
    """Run ``porto-score`` on ``source``; return its wall time, rows and peak RSS (sampled every
    50 ms, and the kernel's high-water mark as last read before the process ended)."""
    command = [
        *(sys.executable, "-m", "porto_training.score_cli", str(source)),
        *("--store", str(store), "--output", str(output), "--json"),
        *("--chunk-rows", str(chunk_rows), "--threads", str(threads)),
        *(["--explain"] if explain else []),
    ]
    began = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    watched = psutil.Process(process.pid)
    peak = high_water = 0
    while process.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
            high_water = max(high_water, vm_hwm(process.pid))
        except (psutil.Error, OSError):
            break
        time.sleep(0.05)
    stdout, _ = process.communicate()
    seconds = time.perf_counter() - began
    if process.returncode != 0:
        raise SystemExit(f"porto-score failed on {source} (exit {process.returncode})")
    manifest = json.loads(stdout)
    return {
        "rows": float(manifest["rows"]),
        "parts": float(len(manifest["parts"])),
        "seconds": seconds,
        "peak_rss": float(peak),
        "high_water": float(high_water),
        # From the run manifest: reading, scoring and writing, without start-up and model load.
        "run_seconds": (
            datetime.fromisoformat(manifest["completed_at"])
            - datetime.fromisoformat(manifest["started_at"])
        ).total_seconds(),
    }


def main() -> int:
    """Train, write the inputs, score each; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=KAGGLE_TRAIN_ROWS, help="Rows to score.")
    parser.add_argument(
        "--train-rows", type=int, default=100_000, help="Synthetic rows the model is trained on."
    )
    parser.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--explain", action="store_true", help="Add per-feature contributions.")
    parser.add_argument(
        "--formats", default="csv,parquet", help="Input formats to score, comma-separated."
    )
    args = parser.parse_args()
    print(f"porto-score benchmark: {platform.platform()}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="porto-bench-score-") as tmp:
        root = Path(tmp)
        began = time.perf_counter()
        version = train_model(root / "artifacts", args.train_rows)
        print(
            f"model: default config on {args.train_rows:,} rows, version {version} "
            f"({time.perf_counter() - began:.1f} s)"
        )
        inputs = write_inputs(root, args.rows)
        print(
            f"input: {args.rows:,} rows, chunks of {args.chunk_rows:,}, {args.threads} threads"
            f"{', with explanations' if args.explain else ''}"
        )
        for fmt in args.formats.split(","):
            source = inputs[fmt]
            size = source.stat().st_size
            figures = score(
                source,
                root / "artifacts",
                root / f"out-{fmt}",
                chunk_rows=args.chunk_rows,
                threads=args.threads,
                explain=args.explain,
            )
            if figures["rows"] != args.rows:
                print(f"error: scored {figures['rows']:,.0f} rows of {args.rows:,}")
                return 1
            print(
                f"  {fmt:<8} {size / 2**20:7.1f} MiB in  {figures['seconds']:6.1f} s  "
                f"{figures['rows'] / figures['seconds']:>9,.0f} rows/s "
                f"({figures['rows'] / figures['run_seconds']:,.0f} once loaded)  "
                f"peak RSS {figures['peak_rss'] / 2**20:6.0f} MiB "
                f"(high-water {figures['high_water'] / 2**20:.0f} MiB)  "
                f"{figures['parts']:.0f} parts"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
