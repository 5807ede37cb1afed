"""The inference image's entrypoint, run with dash (the image's /bin/sh) and bash against a
stand-in `porto-inference` that reports how it was called."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ENTRYPOINT = Path(__file__).resolve().parents[2] / "services/inference/docker-entrypoint.sh"
REPORT = (
    "import json, os, sys; print(json.dumps({'argv': sys.argv[1:], 'env': {k: v for k, v in "
    "os.environ.items() if 'METRICS' in k or 'MULTIPROC' in k}}))"
)
FAKE = f'#!/bin/sh\npython3 -c "{REPORT}" "$@"\n'


Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(params=["dash", "bash"])
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Runner:
    """Run the entrypoint with a shell, a fake porto-inference first on PATH and ``env``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "porto-inference"
    fake.write_text(FAKE)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)

    def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        base = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "TMPDIR": str(tmp_path)}
        return subprocess.run(
            [request.param, str(ENTRYPOINT), *args],
            capture_output=True,
            text=True,
            env={**base, **env},
            timeout=30,
        )

    return _run


def _called(out: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_no_arguments_serve_and_prepare_the_metrics_directory(run: Runner, tmp_path: Path) -> None:
    metrics = tmp_path / "run" / "metrics"
    called = _called(run(PORTO_INFERENCE_METRICS_DIR=str(metrics)))
    assert called["argv"] == ["serve"]
    assert metrics.is_dir()


def test_options_belong_to_serve(run: Runner, tmp_path: Path) -> None:
    called = _called(run("--workers", "2", PORTO_INFERENCE_METRICS_DIR=str(tmp_path / "m")))
    assert called["argv"] == ["serve", "--workers", "2"]


def test_other_subcommands_go_straight_to_porto_inference(run: Runner) -> None:
    """Every subcommand of the CLI but serve (read from it, so a new one cannot be missed)."""
    from porto_inference.cli import app

    names = {c.name or c.callback.__name__ for c in app.registered_commands if c.callback}
    assert {"migrate", "log-export", "check", "env"} <= names
    for sub in sorted(names - {"serve"}):
        called = _called(run(sub, PORTO_INFERENCE_METRICS_DIR="/proc/not-a-place-to-write"))
        assert called["argv"] == [sub]


def test_any_other_command_runs_as_given(run: Runner) -> None:
    out = run("sh", "-c", "echo hello")
    assert out.returncode == 0 and out.stdout == "hello\n"


def test_prometheus_multiproc_dir_is_taken_as_the_metrics_directory(
    run: Runner, tmp_path: Path
) -> None:
    metrics = tmp_path / "prom"
    called = _called(run(PROMETHEUS_MULTIPROC_DIR=str(metrics)))
    assert called["env"]["PORTO_INFERENCE_METRICS_DIR"] == str(metrics)
    assert metrics.is_dir()


def test_two_different_metrics_directories_are_refused(run: Runner, tmp_path: Path) -> None:
    out = run(
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "a"),
        PORTO_INFERENCE_METRICS_DIR=str(tmp_path / "b"),
    )
    assert out.returncode == 1
    assert "differ; set one of them" in out.stderr


def test_an_uncreatable_metrics_directory_fails_with_the_fix(run: Runner, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = run(PORTO_INFERENCE_METRICS_DIR=str(blocker / "metrics"))
    assert out.returncode == 1
    assert "cannot create metrics directory" in out.stderr and "emptyDir" in out.stderr
    assert not out.stdout, "porto-inference must not start"


def test_without_a_metrics_directory_the_temporary_directory_is_checked(
    run: Runner, tmp_path: Path
) -> None:
    called = _called(run())
    assert called["argv"] == ["serve"]
    assert "PORTO_INFERENCE_METRICS_DIR" not in called["env"]
