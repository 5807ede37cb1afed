"""The images' build steps, replayed without Docker: the build stage's COPY and RUN lines run in
a scratch directory with the pinned uv (the same version the Dockerfile installs), then the
resulting virtualenvs do what the images do: the training image trains a model into a store,
the inference image's entrypoint serves it until /ready answers, the UI image's command serves
Streamlit against that API, with its metrics port up before the first visitor.

What this cannot cover: the base image's OS, the runtime stage's user and file modes (checked
statically in test_dockerfiles.py), and a real `docker build` (the CI workflow does that).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.ports import LOOPBACK, free_port, wait_for_http
from harness.process import log_tail
from harness.timing import DEADLINE
from harness.ui_session import open_page
from images.dockerfile import parse
from porto_inference.database import EMBEDDED_DB_MISSING

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = {
    "inference": REPO / "services/inference/Dockerfile",
    "training": REPO / "jobs/training/Dockerfile",
    "ui": REPO / "services/ui/Dockerfile",
}

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _uv() -> str:
    return subprocess.run(
        [str(REPO / "scripts/ensure-uv.sh")], capture_output=True, text=True, check=True
    ).stdout.strip()


def replay_build(name: str, root: Path) -> Path:
    """Run the build stage of image ``name`` under ``root``; return its virtualenv."""
    dockerfile = parse(DOCKERFILES[name])
    stage = dockerfile.stages[0]
    src, venv = root / "src", root / "venv"
    workdir = Path("/")
    env = dict(os.environ)
    for instruction in stage.instructions:
        if instruction.keyword == "WORKDIR":
            workdir = Path(instruction.value)
            assert workdir == Path("/src"), "the replay maps /src"
        elif instruction.keyword == "ENV":
            env.update(instruction.pairs())
        elif instruction.keyword == "COPY":
            _, sources, dest = instruction.copy()
            target = src / Path(dest).relative_to("/src") if dest.startswith("/") else src / dest
            for source in sources:
                path = REPO / source
                out = target / path.name if dest.endswith("/") or len(sources) > 1 else target
                out.parent.mkdir(parents=True, exist_ok=True)
                if path.is_dir():
                    shutil.copytree(
                        path, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
                    )
                else:
                    shutil.copy2(path, out)
        elif instruction.keyword == "RUN":
            command = re.sub(r"--mount=\S+\s*", "", instruction.value).strip()
            if command.startswith("pip install"):
                continue  # the pinned uv is already here (same version: test_dockerfiles.py)
            command = command.replace("/app/.venv", str(venv)).replace("/src/", f"{src}/")
            if command.startswith("uv "):
                command = f"{_uv()} {command[3:]}"
            run_env = {
                **env,
                "UV_PROJECT_ENVIRONMENT": str(venv),
                # Speed only: hard links from uv's cache instead of copies, no .pyc compilation.
                "UV_LINK_MODE": "hardlink",
                "UV_COMPILE_BYTECODE": "0",
            }
            subprocess.run(
                ["sh", "-c", command], cwd=src, env=run_env, check=True, capture_output=True
            )
    return venv


@pytest.fixture(scope="module")
def venvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The replayed virtualenv of each image."""
    return {name: replay_build(name, tmp_path_factory.mktemp(name)) for name in DOCKERFILES}


def _python(venv: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin/python"), "-c", code], capture_output=True, text=True, cwd="/"
    )


@pytest.mark.parametrize(
    ("name", "present", "absent"),
    [
        (
            "inference",
            ["porto", "porto_inference", "gunicorn", "asyncpg"],
            # porto[cluster] (the Kubernetes client) is for starting training runs only, the
            # embedded PostgreSQL (porto-inference[embedded-db]) for local mode only
            ["porto_training", "typer", "kubernetes", "pgserver"],
        ),
        (
            "training",
            ["porto", "porto_training", "catboost", "matplotlib", "kubernetes"],
            ["porto_inference", "gunicorn"],
        ),
        (
            "ui",
            ["porto", "porto_ui", "streamlit", "altair", "prometheus_client", "kubernetes"],
            ["porto_inference", "porto_training", "gunicorn", "asyncpg", "typer"],
        ),
    ],
)
def test_each_image_gets_its_package_and_no_dev_tools(
    venvs: dict[str, Path], name: str, present: list[str], absent: list[str]
) -> None:
    venv = venvs[name]
    for module in present:
        assert _python(venv, f"import {module}").returncode == 0, f"{name} lacks {module}"
    for module in [*absent, "pytest", "ruff", "mypy"]:
        assert _python(venv, f"import {module}").returncode != 0, f"{name} has {module}"
    # Installed as wheels (--no-editable): nothing points back into a source tree.
    out = _python(venv, "import porto; print(porto.__file__)")
    assert "/site-packages/porto/" in out.stdout


def test_inference_image_without_a_database_url_says_how_to_set_one(
    venvs: dict[str, Path], tmp_path: Path
) -> None:
    """Local mode (the image's default environment) with no DATABASE_URL would start the
    embedded PostgreSQL, which the image leaves out: one error line, no traceback."""
    env = {
        "PATH": f"{venvs['inference'] / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PORTO_INFERENCE_HOME": str(tmp_path / "home"),
        "PORTO_INFERENCE_METRICS_DIR": str(tmp_path / "metrics"),
    }
    out = subprocess.run(
        ["sh", str(REPO / "services/inference/docker-entrypoint.sh")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stderr.strip().splitlines()[-1] == f"error: {EMBEDDED_DB_MISSING}", out.stderr
    assert "Traceback" not in out.stderr


def test_training_image_finds_its_default_config(venvs: dict[str, Path]) -> None:
    out = _python(
        venvs["training"], "from porto_training.config import default_config_path as d; print(d())"
    )
    assert out.returncode == 0, out.stderr
    assert "/site-packages/porto_training/config.yaml" in out.stdout


@pytest.fixture(scope="module")
def trained_store(venvs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store with a champion, written by the training image's `porto-train train`."""
    work = tmp_path_factory.mktemp("training-run")
    store = f"file://{work / 'artifacts'}"
    env = {
        "PATH": f"{venvs['training'] / 'bin'}:/usr/bin:/bin",
        "HOME": str(work),
        "MPLCONFIGDIR": str(work / "mpl"),
        "PORTO_HOME": str(work),
        "PORTO_STORE": store,
        "PORTO_TRAIN_METRICS_PORT": "0",
    }
    out = subprocess.run(
        [
            "porto-train",
            "train",
            "--rows",
            "3000",
            "--set",
            "insights.shap_rows=200",
            "--set",
            "insights.mutual_info_rows=1000",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "champion   yes" in out.stdout
    return store


def _await(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Wait (the suite's deadline) until ``url`` answers 200; fail with the log's tail if the
    process exits first or never answers."""
    try:
        wait_for_http(url, DEADLINE, alive=lambda: process.poll() is None)
    except (RuntimeError, TimeoutError) as exc:
        pytest.fail(f"{exc}\n{log_tail(log, 40)}", pytrace=False)


@pytest.fixture(scope="module")
def served(
    venvs: dict[str, Path], trained_store: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The inference image's entrypoint serving the trained model; yields its URL."""
    work = tmp_path_factory.mktemp("inference-run")
    port = free_port()
    env = {
        "PATH": f"{venvs['inference'] / 'bin'}:/usr/bin:/bin",
        "HOME": str(work),
        "TMPDIR": str(work),
        "PORTO_INFERENCE_HOST": LOOPBACK,
        "PORTO_INFERENCE_PORT": str(port),
        "PORTO_INFERENCE_WORKERS": "2",
        "PORTO_INFERENCE_HOME": str(work / "home"),
        "PORTO_INFERENCE_METRICS_DIR": str(work / "run/metrics"),
        "PORTO_INFERENCE_STORE_URI": trained_store,
        "PORTO_INFERENCE_PREDICTION_LOG": "false",
        "PORTO_INFERENCE_ENVIRONMENT": "production",
    }
    log = (work / "server.log").open("w")
    process = subprocess.Popen(
        ["sh", str(REPO / "services/inference/docker-entrypoint.sh")],
        env=env,
        cwd=work,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://{LOOPBACK}:{port}"
    try:
        _await(process, f"{url}/ready", work / "server.log")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(40)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_the_helm_test_passes_against_the_inference_image(
    venvs: dict[str, Path], served: str
) -> None:
    """The chart's `helm test` script, run with the inference image's Python as the test pod does,
    scores a record from the trained model's schema and finds the request in /metrics."""
    out = subprocess.run(
        [
            str(venvs["inference"] / "bin/python"),
            str(REPO / "charts/porto/files/helm_test.py"),
            served,
            "--timeout",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    with urllib.request.urlopen(f"{served}/metrics", timeout=5) as resp:
        body = resp.read().decode()
    assert 'inference_requests_total{endpoint="/predict"' in body
    assert "model_loaded" in body


# --- the UI image --------------------------------------------------------------------------------


def _http(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return str(resp.read().decode())


#: Runs "$@" with the root filesystem read-only except the directory "$0" (as the chart's pod:
#: readOnlyRootFilesystem, emptyDirs for HOME and /tmp), in a mount namespace of its own.
READ_ONLY_ROOT = 'mount --bind "$0" "$0" && mount -o remount,bind,ro / && exec "$@"'


def read_only_root(writable: Path) -> list[str] | None:
    """The command prefix that runs a program on a read-only root filesystem with only
    ``writable`` writable, or None where this machine does not allow it (mounting needs root)."""
    if not shutil.which("unshare"):
        return None
    prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c", READ_ONLY_ROOT]
    probe = subprocess.run(
        [*prefix, str(writable), "sh", "-c", f"! touch /{writable.name}-probe 2>/dev/null"],
        capture_output=True,
    )
    return [*prefix, str(writable)] if probe.returncode == 0 else None


@pytest.fixture(scope="module")
def ui_served(
    venvs: dict[str, Path], served: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, bool]]:
    """The UI image's ENTRYPOINT + CMD with its ENV (the image's addresses moved to the loopback
    address and free ports), against the inference image's API, on a read-only root filesystem
    where the machine allows it; yields (UI URL, metrics URL, whether the root was read-only)."""
    work = tmp_path_factory.mktemp("ui-run")
    (work / "home").mkdir()
    (work / "tmp").mkdir()
    sandbox = read_only_root(work)
    dockerfile = parse(DOCKERFILES["ui"])
    (entrypoint,) = dockerfile.final.all("ENTRYPOINT")
    (cmd,) = dockerfile.final.all("CMD")
    port, metrics_port = free_port(), free_port()
    env = {
        **dockerfile.final.env(),
        "PATH": f"{venvs['ui'] / 'bin'}:/usr/bin:/bin",
        "HOME": str(work / "home"),
        "TMPDIR": str(work / "tmp"),
        "PORTO_UI_HOST": LOOPBACK,
        "PORTO_UI_PORT": str(port),
        "PORTO_UI_METRICS_HOST": LOOPBACK,
        "PORTO_UI_METRICS_PORT": str(metrics_port),
        "PORTO_UI_API_URL": served,
        "PORTO_UI_ENVIRONMENT": "production",
    }
    log = (work / "ui.log").open("w")
    process = subprocess.Popen(
        [*(sandbox or []), *entrypoint.exec_form(), *cmd.exec_form()],
        env=env,
        cwd=work / "home",
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url, metrics = f"http://{LOOPBACK}:{port}", f"http://{LOOPBACK}:{metrics_port}/metrics"
    try:
        _await(process, f"{url}/_stcore/health", work / "ui.log")
        yield url, metrics, sandbox is not None
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        # HOME (~/.streamlit) and TMPDIR hold far less than the chart's volumes allow.
        written = [p for p in work.rglob("*") if p.is_file() and p.name != "ui.log"]
        assert sum(p.stat().st_size for p in written) < 1_000_000, written


def test_ui_image_runs_on_a_read_only_root_filesystem(ui_served: tuple[str, str, bool]) -> None:
    """The other UI tests then ran with only HOME and TMPDIR writable, as in the pod."""
    if not ui_served[2]:
        pytest.skip("mounting a read-only root needs root (unshare --mount): ran writable")


def test_ui_image_serves_health_and_metrics_before_any_visitor(
    ui_served: tuple[str, str, bool],
) -> None:
    """What the chart's probes and ServiceMonitor read: Streamlit's health endpoint, and the
    metrics port (up from process start, so Prometheus never sees the target down)."""
    url, metrics, _ = ui_served
    assert _http(f"{url}/_stcore/health") == "ok"
    body = _http(metrics)
    assert "porto_ui_up 1.0" in body
    assert "# TYPE page_views_total counter" in body
    assert "<title>" in _http(url)  # the app's HTML shell


def test_ui_image_runs_a_page_against_the_inference_image(
    ui_served: tuple[str, str, bool],
) -> None:
    """A session (what a browser opens) runs the inference page against the API served by the
    inference image: no error on the page, and the view is counted on the metrics port as the
    Grafana page-view panel reads it."""
    url, metrics, _ = ui_served
    run = open_page(url, "inference")
    assert "page_not_found" not in run.messages, run  # /inference is the page's own URL
    assert run.status == "FINISHED_SUCCESSFULLY", run
    assert not run.errors, run.errors
    assert {"selectbox", "number_input"} & set(run.elements), run.elements
    assert 'page_views_total{page="inference"} 1.0' in _http(metrics)


def test_ui_image_never_imports_the_model_or_storage_stack(venvs: dict[str, Path]) -> None:
    """The UI talks only to the API (ARCHITECTURE.md): none of its modules loads a model, the
    bucket or the database client. (The `porto` package it imports the feature schema from still
    brings catboost, scikit-learn and boto3 into the image as declared dependencies.)"""
    code = (
        "import importlib, pkgutil, sys, porto_ui\n"
        "for m in pkgutil.iter_modules(porto_ui.__path__):\n"
        "    if m.name not in ('app', 'app_pages', '__main__'):\n"
        "        importlib.import_module('porto_ui.' + m.name)\n"
        "print(' '.join(sorted(sys.modules)))"
    )
    out = _python(venvs["ui"], code)
    assert out.returncode == 0, out.stderr
    loaded = {name.split(".")[0] for name in out.stdout.split()}
    assert {"porto", "streamlit"} <= loaded
    assert not loaded & {"catboost", "sklearn", "boto3", "botocore", "skops", "asyncpg"}
