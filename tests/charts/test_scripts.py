"""The chart's Python scripts, run for real: the `helm test` script against a running inference
API serving a model `porto-train` just trained, and the training pod's wait-for-store script
against a socket that opens late."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from charts.chartlib import CHART
from harness.ports import LOOPBACK, free_port
from harness.process import await_child
from harness.timing import DEADLINE
from porto_inference.server import ServerProcess, start_server

HELM_TEST = CHART / "files" / "helm_test.py"
WAIT_FOR_STORE = CHART / "charts" / "training" / "files" / "wait_for_store.py"
API_KEY = "k3y-for-the-helm-test"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A home whose file store holds a small model `porto-train` just trained: (home, store)."""
    home = tmp_path_factory.mktemp("porto-home")
    store = f"file://{home / 'artifacts'}"
    env = {**os.environ, "PORTO_HOME": str(home)}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "porto_training.cli",
            "train",
            "--rows",
            "3000",
            "--store",
            store,
            "--metrics-port",
            "0",
            "--set",
            "insights.shap_rows=200",
            "--set",
            "insights.mutual_info_rows=1000",
        ],
        check=True,
        capture_output=True,
        env=env,
        cwd=home,
    )
    return home, store


def _serve(home: Path, store: str, name: str, **env: str) -> ServerProcess:
    """The inference API (one worker, no prediction log) on the trained store."""
    server = start_server(
        host=LOOPBACK,
        port=free_port(),
        workers=1,
        env={
            "PORTO_HOME": str(home),
            "PORTO_INFERENCE_STORE_URI": store,
            "PORTO_INFERENCE_PREDICTION_LOG": "false",
            "PORTO_INFERENCE_LOG_REQUESTS": "false",
            **env,
        },
        log_file=home / f"{name}.log",
        cwd=home,
    )
    await_child(server, home / f"{name}.log", "/health")
    return server


@pytest.fixture(scope="module")
def api(trained: tuple[Path, str]) -> Iterator[ServerProcess]:
    """The API with a key, as the chart runs it."""
    server = _serve(*trained, "keyed", PORTO_INFERENCE_API_KEY=API_KEY)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def open_api(trained: tuple[Path, str]) -> Iterator[ServerProcess]:
    """The API without a key (local mode): what the test must not pass against with a key."""
    server = _serve(*trained, "open")
    try:
        yield server
    finally:
        server.stop()


def _helm_test(*args: str, api_key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PORTO_API_KEY"}
    if api_key:
        env["PORTO_API_KEY"] = api_key
    return subprocess.run(
        [sys.executable, str(HELM_TEST), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_helm_test_passes_against_a_serving_api(api: ServerProcess) -> None:
    out = _helm_test(api.url, "--timeout", "60", api_key=API_KEY)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok  /predict: probability" in out.stdout
    assert "ok  /models/reload: 200 with the API key, refused without it" in out.stdout
    assert "porto helm test passed" in out.stdout


def test_helm_test_fails_without_the_api_key(api: ServerProcess) -> None:
    out = _helm_test(api.url, "--timeout", "60")
    assert out.returncode == 1
    assert "FAIL POST /predict answered 401" in out.stderr


def test_helm_test_fails_when_the_api_does_not_enforce_its_key(open_api: ServerProcess) -> None:
    """Given a key, the test checks the API refuses a keyed call without it: an API that
    answers promote and reload to anyone fails `helm test`."""
    out = _helm_test(open_api.url, "--timeout", "60", api_key=API_KEY)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "FAIL POST /models/reload without the API key answered 200, not 401" in out.stderr


def test_helm_test_fails_clearly_when_the_api_never_gets_ready() -> None:
    out = _helm_test(f"http://{LOOPBACK}:{free_port()}", "--timeout", "2")
    assert out.returncode == 1
    assert "FAIL /ready did not answer 200 within 2s" in out.stderr


def test_wait_for_store_waits_for_the_endpoint_to_open() -> None:
    """The endpoint opens only once the script has reported it waiting (an order, not a
    sleep: on a busy machine the script may start after any fixed delay)."""
    port = free_port()
    with socket.socket() as listener:
        script = subprocess.Popen(
            [sys.executable, str(WAIT_FOR_STORE), f"http://{LOOPBACK}:{port}", f"{DEADLINE:.0f}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert script.stdout is not None
            first = script.stdout.readline()
            assert first.startswith(f"waiting for {LOOPBACK}:{port}"), first
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((LOOPBACK, port))
            listener.listen()
            rest, _ = script.communicate(timeout=DEADLINE)
        finally:
            if script.poll() is None:
                script.kill()
                script.wait()
    assert script.returncode == 0, first + rest
    assert rest.splitlines()[-1] == f"{LOOPBACK}:{port} is up"


def test_wait_for_store_gives_up_after_its_timeout() -> None:
    out = subprocess.run(
        [sys.executable, str(WAIT_FOR_STORE), f"http://{LOOPBACK}:{free_port()}", "1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1
    assert "still unreachable after 1s" in out.stdout


def test_the_record_comes_from_the_feature_schema() -> None:
    from charts.envcontract import load_script

    script = load_script(HELM_TEST)
    manifest = {
        "feature_schema": {
            "features": [
                {"name": "a", "kind": "numeric", "typical": 1.5},
                {"name": "b_cat", "kind": "categorical", "categories": ["x", "y"]},
                {"name": "c", "kind": "numeric", "min": 0, "max": 10},
                {"name": "d", "kind": "numeric"},
            ]
        }
    }
    assert script.typical_record(manifest) == {"a": 1.5, "b_cat": "x", "c": 5.0, "d": 0}
    with pytest.raises(script.CheckError):
        script.typical_record({"feature_schema": {"features": []}})


def test_scripts_need_only_the_standard_library() -> None:
    import ast

    for path in (HELM_TEST, WAIT_FOR_STORE):
        tree = ast.parse(Path(path).read_text())
        imported = {
            a.name.split(".")[0]
            for n in ast.walk(tree)
            if isinstance(n, ast.Import)
            for a in n.names
        }
        imported |= {
            n.module.split(".")[0]
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.module
        }
        assert imported <= set(sys.stdlib_module_names) | {"__future__"}, path
