"""``make bench-train``: the default config on 595,212 SYNTHETIC rows (the size of Kaggle's
train.csv), timed end to end.

Prints wall time, CPU time, the time of each stage, peak RSS (this process and its children), the
holdout ROC-AUC and the oracle ROC-AUC (the synthetic generator's true probabilities scored on the
same test rows: the best any model could reach), and checks them against the targets for a 2-core
machine: at most 60 s of wall time, at most 2 GiB of peak RSS, and a model AUC within 0.025 of the
oracle. Exits 1 if a target is missed. Wall time is only meaningful on an otherwise idle machine:
compare the CPU time (user + system, all threads) when other jobs share the cores.

    uv run python bench/bench_train.py [--rows N] [--store DIR] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import sys
import tempfile
import threading
import time

import psutil
from porto.errors import PortoError
from porto_training.config import load_config
from porto_training.pipeline import run_training

KAGGLE_TRAIN_ROWS = 595_212
MAX_SECONDS = 60.0
MAX_RSS_BYTES = 2 * 1024**3
MAX_AUC_GAP = 0.025


class TreeRssSampler:
    """Samples the RSS of this process plus all its live children every ``interval`` seconds.

    ``getrusage(RUSAGE_CHILDREN)`` alone would mislead: a child forked from a large process
    reports the parent's resident pages as its own peak, so adding it to ours double-counts.
    """

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = me.memory_info().rss
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeRssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def cpu_seconds() -> float:
    """Return the user + system CPU time of this process so far (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def max_rss_self() -> int:
    """Return the kernel's record of this process's peak RSS in bytes (catches short spikes
    the sampler may miss)."""
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def main() -> int:
    """Run the benchmark; return the exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=KAGGLE_TRAIN_ROWS)
    parser.add_argument("--store", help="artifact store (default: a temporary directory)")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="porto-bench-") as tmp:
        updates = {"data.synthetic.rows": args.rows, "output.store": args.store or tmp}
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        cpu_started = cpu_seconds()
        try:
            with TreeRssSampler() as sampler:
                config = load_config(overrides=args.overrides, updates=updates)
                result = run_training(config, metrics_port=0, live=False)
        except PortoError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
        wall = time.perf_counter() - started
        cpu = cpu_seconds() - cpu_started
    own = max_rss_self()
    peak = max(own, sampler.peak)
    m = result.metrics
    auc = m.roc_auc
    oracle = m.oracle_roc_auc if m.oracle_roc_auc is not None else float("nan")
    gib = 1024**3

    over = ", ".join(args.overrides) or "none"
    load = f"1-min load {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    cpus = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    model = f"{result.manifest.model_type}, {m.features} features, {m.iterations} iterations"
    stages = ", ".join(f"{k} {v:.1f}" for k, v in m.stage_seconds.items())
    tree = sampler.peak / gib
    rss = f"{peak / gib:.2f} GiB (ru_maxrss {own / gib:.2f}, sampled process tree {tree:.2f})"
    print(f"bench-train: {args.rows:,} SYNTHETIC rows, default config, overrides: {over}")
    print(f"  machine        {cpus}")
    print(f"  model          {model}")
    print(f"  wall time      {wall:.1f} s  (fit {m.training_seconds:.1f} s)")
    print(f"  CPU time       {cpu:.1f} s  (user + system, all threads; {load})")
    print(f"  stages (s)     {stages}")
    print(f"  peak RSS       {rss}")
    print(f"  holdout AUC    {auc:.4f}  on {m.rows:,} test rows")
    print(f"  oracle AUC     {oracle:.4f}  gap {oracle - auc:.4f}")
    checks = [
        (f"wall time <= {MAX_SECONDS:.0f} s", wall <= MAX_SECONDS),
        (f"peak RSS <= {MAX_RSS_BYTES / gib:.0f} GiB", peak <= MAX_RSS_BYTES),
        (f"AUC within {MAX_AUC_GAP} of oracle", oracle - auc <= MAX_AUC_GAP),
    ]
    for name, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
