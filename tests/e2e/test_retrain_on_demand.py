"""A training run started with `porto-train cluster run` on the deployed release (kind): the Job
from the chart's template really trains to the end, followed by the CLI. Runs after
test_release.py (file order: the release is up)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from e2e.cluster import Kube, Target


def test_cluster_run_trains_and_publishes(kube: Kube, target: Target) -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "porto-train"),
            "cluster",
            "run",
            "--context",
            target.context,
            "--namespace",
            target.namespace,
            "--release",
            target.release,
            "--rows",
            "20000",
            "--timeout",
            "1500",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    first = result.stdout.splitlines()[0]
    assert first.startswith("job/") and first.endswith(f"created in namespace {target.namespace}")
    name = first.split()[0].removeprefix("job/")
    job = kube.batch.read_namespaced_job(name, target.namespace)
    assert job.metadata.labels["porto.dev/trigger"] == "cli"
    # porto-train exits non-zero unless the bundle was published, so success means a new version.
    assert job.status.succeeded == 1
    assert "succeeded" in result.stderr, result.stderr[-2000:]
