"""Progress: Prometheus metrics really served while a run lasts, log lines, the rich display."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from harness.ports import LOOPBACK, free_port, port_open
from harness.process import log_tail
from harness.timing import DEADLINE
from porto.errors import ConfigError
from porto_training.progress import MetricsServer, Progress, TrainingMetrics
from porto_training.termination import Terminated


def _scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/metrics", timeout=1) as resp:
            return str(resp.read().decode())
    except OSError:
        return None


def _value(text: str, pattern: str) -> float | None:
    match = re.search(rf"^{pattern} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def test_metrics_are_served_during_a_cli_run(tmp_path: Path) -> None:
    port = free_port()
    # Output to files, not pipes nobody reads while polling: a full pipe would stall the run.
    out_file, err_file = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with out_file.open("wb") as out, err_file.open("wb") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "porto_training.cli",
                "train",
                "--rows=20000",
                "--set=model.catboost.iterations=300",
                "--set=model.catboost.early_stopping_rounds=null",
                "--set=insights.shap_rows=200",
                "--set=insights.mutual_info_rows=1000",
                f"--metrics-port={port}",
                f"--metrics-addr={LOOPBACK}",
            ],
            env={**os.environ, "PORTO_HOME": str(tmp_path)},
            stdout=out,
            stderr=err,
        )
    seen: str | None = None
    try:
        deadline = time.monotonic() + DEADLINE
        while proc.poll() is None and time.monotonic() < deadline:
            text = _scrape(port)
            if text and 'porto_training_stage{porto_training_stage="train"} 1.0' in text:
                iteration = _value(text, "porto_training_iteration")
                if iteration and iteration > 0:
                    seen = text
                    break
            time.sleep(0.05)
        try:
            proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the run did not end in {DEADLINE:.0f}s\n{log_tail(err_file, 40)}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = log_tail(err_file, 40)
    assert proc.returncode == 0, log
    assert seen is not None, f"never saw the train stage with iterations on /metrics\n{log}"
    assert _value(seen, 'porto_training_loss{dataset="learn"}') is not None
    assert _value(seen, 'porto_training_loss{dataset="validation"}') is not None
    assert (_value(seen, "porto_training_elapsed_seconds") or 0) > 0
    assert _value(seen, "porto_training_iterations_planned") == 300
    assert _value(seen, 'porto_training_stage_seconds{stage="load"}') is not None
    assert "trained porto version" in out_file.read_text()
    assert not port_open(port)  # the server is gone with the run


def test_metrics_server_off_and_busy_port() -> None:
    metrics = TrainingMetrics()
    with MetricsServer(metrics, 0):
        pass  # port 0: nothing served
    with socket.socket() as busy:
        busy.bind((LOOPBACK, 0))
        busy.listen()
        port = busy.getsockname()[1]
        with (
            pytest.raises(ConfigError, match=f"port {port} \\(--metrics-port\\) is already in use"),
            MetricsServer(metrics, port, LOOPBACK),
        ):
            pass


def test_plain_progress_logs_stages_and_iterations(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="porto_training")
    metrics = TrainingMetrics()
    with Progress(metrics, live=False) as progress:
        with progress.stage("train", "catboost"):
            progress.plan(20)
            for i in range(1, 21):
                progress.iteration(i, {"learn": 0.5 / i})
        progress.note("a decision")
    text = caplog.text
    assert "train: started (catboost)" in text
    assert "train: iteration 20/20 learn 0.0250" in text
    assert "train: done in" in text
    assert "a decision" in text
    assert "train" in progress.timings
    assert metrics.iteration._value.get() == 20


def test_failed_run_sets_the_failed_stage() -> None:
    metrics = TrainingMetrics()
    with (
        pytest.raises(RuntimeError),
        Progress(metrics, live=False) as progress,
        progress.stage("load"),
    ):
        raise RuntimeError("boom")
    assert metrics.stage._value == metrics.stage._states.index("failed")


def test_a_stage_that_ends_early_says_how(caplog: pytest.LogCaptureFixture) -> None:
    """A stage is logged "done" only when it finished: "failed" on an error, "stopped" on
    SIGTERM or Ctrl-C (a log that says "train: done" before a traceback misleads)."""
    caplog.set_level(logging.INFO, logger="porto_training")
    with (
        pytest.raises(RuntimeError),
        Progress(TrainingMetrics(), live=False) as progress,
        progress.stage("train"),
    ):
        raise RuntimeError("boom")
    with (
        pytest.raises(Terminated),
        Progress(TrainingMetrics(), live=False) as progress,
        progress.stage("evaluate"),
    ):
        raise Terminated
    assert re.search(r"train: failed in [0-9.]+ s", caplog.text)
    assert re.search(r"evaluate: stopped in [0-9.]+ s", caplog.text)
    assert "train: done" not in caplog.text and "evaluate: done" not in caplog.text


def test_rich_display_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress(TrainingMetrics(), live=True) as progress:
        with progress.stage("train"):
            progress.plan(5)
            for i in range(1, 4):
                progress.iteration(i, {"learn": 0.1})
        with progress.stage("plots"):
            pass
        progress.note("done")
    assert "train" in capsys.readouterr().err
