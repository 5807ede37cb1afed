"""Replay on the deployed release: requests served through a port-forward (with the release's
API key) and labelled through /feedback, then replayed with the served version through
``POST /monitoring/replay`` (the served scores back, Δ = 0) and with ``porto-inference replay``
run in the inference pod (``kubectl exec``: the pod's settings, its store and database)."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from e2e.cluster import Target, eventually

Forward = Callable[[str, str, int], str]
#: Rows served and labelled by the test.
ROWS = 12


def _call(url: str, key: str, body: Any | None = None) -> Any:
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers={"X-API-Key": key, "Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=60) as resp:
        return json.loads(resp.read())


def _window(started: datetime) -> tuple[str, str]:
    return (
        (started - timedelta(minutes=1)).isoformat(),
        (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
    )


def test_replay_through_the_api_and_the_pod(target: Target, forward: Forward, api_key: str) -> None:
    base = forward(target.namespace, target.inference, 8000)
    started = datetime.now(UTC)
    example = _call(f"{base}/schema", api_key)["example"]
    answer = _call(f"{base}/predict/batch", api_key, [example] * ROWS)
    version = answer["model_version"]
    ids = [p["prediction_id"] for p in answer["predictions"]]
    labels = [{"prediction_id": pid, "label": i % 2} for i, pid in enumerate(ids)]
    _call(f"{base}/feedback", api_key, labels)
    start, end = _window(started)
    body = {
        "version": version,
        "from": start,
        "to": end,
        "filters": {"model_version": version},
    }

    def labelled() -> Any:
        # Labels of rows still queued in another worker are parked and applied when written.
        report = _call(f"{base}/monitoring/replay", api_key, body)
        done = report["labelled"] is not None and report["labelled"]["labels"] >= ROWS
        return report if done else None

    report = eventually(labelled, timeout=120, what="the replay to see the test's labels")
    assert report["version"] == version and report["rows_replayed"] >= ROWS
    assert report["rows_skipped"] == 0
    assert report["agreement"]["max_abs_delta"] < 1e-9
    assert report["agreement"]["class_agreement"] == 1.0

    kubectl = os.environ.get("PORTO_E2E_KUBECTL", "kubectl")
    out = subprocess.run(
        [
            kubectl,
            "--context",
            target.context,
            "-n",
            target.namespace,
            "exec",
            f"deploy/{target.inference}",
            "-c",
            "inference",
            "--",
            "docker-entrypoint.sh",
            "replay",
            "--version",
            "champion",
            "--from",
            start,
            "--to",
            end,
            "--model-version",
            version,
            "--record",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    cli = json.loads(out.stdout)
    assert cli["rows_replayed"] >= ROWS and cli["recorded"] is not None
    assert cli["labelled"]["labels"] >= ROWS
