"""``make demo`` end to end: train on synthetic data, API and UI up, a prediction, clean Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from harness.ports import free_port, port_open, wait_until
from harness.process import log_tail
from harness.timing import DEADLINE

REPO = Path(__file__).resolve().parents[1]
UP = "Ctrl-C stops everything"


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return int(resp.status), bytes(resp.read())


def _post(url: str, body: object) -> dict[str, object]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        result: dict[str, object] = json.loads(resp.read())
        return result


def _log_sizes(home: Path, log: Path) -> list[int]:
    """Sizes of the demo's output and of its servers' logs: they grow while it makes progress."""
    paths = [log, *sorted((home / "logs").glob("*.log"))]
    return [path.stat().st_size for path in paths if path.exists()]


@contextmanager
def _demo(home: Path, log: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``scripts/demo.py`` until it reports it is up; always gone afterwards."""
    env = {**os.environ, "PORTO_HOME": str(home)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "scripts" / "demo.py"), *args],
            cwd=home.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # Training, then the API and the UI each starting: how long the whole takes depends on
        # the machine, so the deadline bounds silence (no log growing), not the total.
        try:
            wait_until(
                lambda: UP in log.read_text() or proc.poll() is not None,
                DEADLINE,
                "the demo to come up",
                progress=lambda: _log_sizes(home, log),
            )
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{log_tail(log, 40)}") from exc
        assert proc.poll() is None, log.read_text()
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.integration
# Two demo runs, each coming up (a deadline of silence: training alone takes minutes on a busy
# machine) and stopping: pytest-timeout's 600 s would cut a slow but progressing run short, and a
# hang still fails at the wait where it happens.
@pytest.mark.timeout(6 * DEADLINE)
def test_demo_trains_serves_and_stops_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    api_port, ui_port, metrics_port = free_port(), free_port(), free_port()
    log = tmp_path / "demo.log"
    ports = [
        "--api-port",
        str(api_port),
        "--ui-port",
        str(ui_port),
        "--ui-metrics-port",
        str(metrics_port),
    ]
    with _demo(home, log, *ports) as proc:
        text = log.read_text()
        assert "SYNTHETIC" in text and "champion   yes" in text
        assert f"http://127.0.0.1:{api_port}" in text and f"http://127.0.0.1:{ui_port}" in text

        base = f"http://127.0.0.1:{api_port}"
        manifest = json.loads(_get(f"{base}/models/champion")[1])
        record = {}
        for spec in manifest["feature_schema"]["features"]:
            typical = spec["typical"]
            record[spec["name"]] = int(typical) if spec["kind"] == "categorical" else typical
        answer = _post(f"{base}/predict", record)
        assert 0.0 <= float(str(answer["probability"])) <= 1.0
        assert answer["model_version"] == manifest["version"]
        assert _get(f"http://127.0.0.1:{ui_port}/_stcore/health")[0] == 200
        assert b"page_views_total" in _get(f"http://127.0.0.1:{metrics_port}/metrics")[1]

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=DEADLINE) == 0, log.read_text()
        assert "porto demo: stopped" in log.read_text()
        assert not port_open(api_port) and not port_open(ui_port)

    # The model persists in PORTO_HOME: a second run serves it without training again.
    log2 = tmp_path / "demo2.log"
    with _demo(home, log2, "--no-ui", "--api-port", str(free_port())) as proc:
        assert "using the trained model" in log2.read_text()
        assert "SYNTHETIC" not in log2.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=DEADLINE) == 0, log2.read_text()
