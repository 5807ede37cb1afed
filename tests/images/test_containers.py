"""porto's images, built by ``make images`` and run as containers by a real Docker engine.

The training image trains on synthetic data and publishes to the MinIO image; the inference image
serves that model from MinIO with the PostgreSQL image holding the prediction log, and keeps every
accepted prediction through a restart of the database; the UI image runs a Streamlit session
against the inference container. Every container runs as in the chart's pods (read-only root,
no capabilities, non-root), and SIGTERM stops each one cleanly.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from harness.containers import Container, Containers, run_once, wait_healthy
from harness.docker import DockerEngine
from harness.timing import DEADLINE
from harness.ui_session import open_page
from images.conftest import BuiltImages

REPO = Path(__file__).resolve().parents[2]
BUCKET = "porto-models"
STORE = f"s3://{BUCKET}/models"

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.read().decode()


#: The API key of the containers' production deployment (production refuses to start without
#: one of real strength; the chart generates one the same way).
API_KEY = secrets.token_hex(32)


def _post(url: str, body: Any) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-API-Key": API_KEY},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return resp.status, json.loads(resp.read())


@dataclass
class Stack:
    """The containers of one deployment: object store, database, training run, API, UI."""

    minio: Container
    postgres: Container
    training_exit: int
    training_log: str
    inference: Container
    ui: Container
    s3_env: dict[str, str]
    db: dict[str, str]
    box: Containers

    def psql(self, sql: str) -> str:
        status, out = self.postgres.exec(
            "psql", "-U", self.db["user"], "-d", self.db["name"], "-tAc", sql
        )
        assert status == 0, out
        return out.strip()


@pytest.fixture(scope="module")
def stack(docker_engine: DockerEngine, built_images: BuiltImages) -> Iterator[Stack]:
    """MinIO and PostgreSQL containers, a training container run to completion against them,
    then the inference and UI containers serving its model, on a network of their own."""
    box = Containers(docker_engine)
    try:
        access, secret = f"porto-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
        minio = box.run(
            built_images.ref("minio"),
            env={"MINIO_ROOT_USER": access, "MINIO_ROOT_PASSWORD": secret},
            aliases=("minio",),
        )
        db = {"user": "porto", "password": secrets.token_urlsafe(16), "name": "porto_log"}
        postgres = box.run(
            built_images.ref("postgres"),
            env={
                "POSTGRES_USER": db["user"],
                "POSTGRES_PASSWORD": db["password"],
                "POSTGRES_DB": db["name"],
            },
            aliases=("postgres",),
        )
        wait_healthy(f"{minio.url(9000)}/minio/health/ready", minio)
        s3_env = {
            "endpoint": "http://minio:9000",
            "access": access,
            "secret": secret,
        }
        training = box.run(
            built_images.ref("training"),
            "train",
            "--rows",
            "3000",
            "--promote",
            "--set",
            "insights.shap_rows=200",
            "--set",
            "insights.mutual_info_rows=1000",
            env={
                "PORTO_STORE": STORE,
                "PORTO_S3_ENDPOINT_URL": s3_env["endpoint"],
                "PORTO_S3_ACCESS_KEY": access,
                "PORTO_S3_SECRET_KEY": secret,
                "PORTO_S3_CREATE_BUCKET": "true",
            },
        )
        training_exit = training.wait_exit(timeout=600)
        training_log = training.logs()
        assert training_exit == 0, training_log[-3000:]
        _wait_for_postgres(postgres, db)
        inference = box.run(
            built_images.ref("inference"),
            env={
                "PORTO_INFERENCE_STORE_URI": STORE,
                "PORTO_INFERENCE_S3_ENDPOINT_URL": s3_env["endpoint"],
                "PORTO_INFERENCE_S3_ACCESS_KEY": access,
                "PORTO_INFERENCE_S3_SECRET_KEY": secret,
                "PORTO_INFERENCE_DATABASE_URL": (
                    f"postgresql://{db['user']}:{db['password']}@postgres:5432/{db['name']}"
                ),
                "PORTO_INFERENCE_WORKERS": "2",
                "PORTO_INFERENCE_ENVIRONMENT": "production",
                "PORTO_INFERENCE_API_KEY": API_KEY,
            },
        )
        wait_healthy(f"{inference.url(8000)}/ready", inference)
        ui = box.run(
            built_images.ref("ui"),
            env={
                "PORTO_UI_API_URL": inference.url(8000),
                "PORTO_UI_ENVIRONMENT": "production",
                "PORTO_UI_API_KEY": API_KEY,
            },
        )
        wait_healthy(f"{ui.url(8501)}/_stcore/health", ui)
        yield Stack(minio, postgres, training_exit, training_log, inference, ui, s3_env, db, box)
    finally:
        box.close()


def _wait_for_postgres(postgres: Container, db: dict[str, str]) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        status, _ = postgres.exec(
            "pg_isready", "-h", "127.0.0.1", "-U", db["user"], "-d", db["name"]
        )
        if status == 0:
            return
        if not postgres.running():
            break
        time.sleep(0.5)
    pytest.fail(f"PostgreSQL container never became ready:\n{postgres.logs()[-3000:]}")


def _typical_record(stack: Stack) -> dict[str, Any]:
    _, body = _get(f"{stack.inference.url(8000)}/schema")
    record: dict[str, Any] = json.loads(body)["example"]
    return record


# --- the build -----------------------------------------------------------------------------------


def test_make_images_built_all_five_with_the_install_phase_cache(
    built_images: BuiltImages,
) -> None:
    """Every image was built; every download step (uv, the locked dependencies, Debian
    packages) came from the BuildKit cache the install phase filled: the suite downloads
    nothing. porto's own code was installed for real (that step ran, offline)."""
    for image in ("inference", "ui", "training", "minio", "postgres"):
        assert f"built porto-{image}:porto-test" in built_images.output, built_images.output
    for image in ("inference", "ui", "training"):
        log = built_images.logs[image]
        ran = _steps_that_ran(log)
        downloads = [s for s in ran if "pip install" in s or "--no-install-workspace" in s]
        assert not downloads, f"{image}: download steps ran in the suite (run make test-deps)"
        assert any("--no-editable" in step for step in ran) or "CACHED" in log


def _steps_that_ran(log: str) -> list[str]:
    """The BuildKit steps of ``log`` that executed (not CACHED)."""
    steps: dict[str, str] = {}
    cached: set[str] = set()
    for line in log.splitlines():
        number, _, rest = line.partition(" ")
        if not number.startswith("#"):
            continue
        if rest.startswith("["):
            steps.setdefault(number, rest)
        elif rest == "CACHED":
            cached.add(number)
    return [step for number, step in steps.items() if number not in cached]


def test_image_sizes_are_within_their_targets(
    docker_engine: DockerEngine, built_images: BuiltImages
) -> None:
    """``make image-sizes`` prints each image against its target and fails when one is over
    (inference ≤ 700 MB, UI ≤ 450 MB, training ≤ 1.2 GB, as `docker images` shows)."""
    out = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "image-sizes",
            "IMAGE_TAG=porto-test",
            "IMAGES=inference ui training minio postgres",
        ],
        cwd=REPO,
        env=docker_engine.env(),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "porto-inference:porto-test" in out.stdout
    assert "OVER" not in out.stdout


@pytest.mark.parametrize(
    ("image", "present", "absent"),
    [
        (
            "inference",
            ["porto", "porto_inference", "gunicorn", "asyncpg", "catboost"],
            # porto[cluster] is for starting training runs, pgserver for local mode only
            ["porto_training", "kubernetes", "pgserver", "pytest"],
        ),
        (
            "training",
            ["porto", "porto_training", "catboost", "matplotlib", "kubernetes"],
            ["porto_inference", "gunicorn", "pytest"],
        ),
        (
            "ui",
            ["porto", "porto_ui", "streamlit", "altair", "kubernetes"],
            # the UI talks to the API only: no model libraries, no bucket, no database client
            ["catboost", "sklearn", "skops", "porto_inference", "porto_training", "asyncpg"],
        ),
    ],
)
def test_each_image_carries_its_package_and_nothing_it_does_not_need(
    docker_engine: DockerEngine,
    built_images: BuiltImages,
    image: str,
    present: list[str],
    absent: list[str],
) -> None:
    code = (
        "import importlib.util, json\n"
        f"names = {present + absent!r}\n"
        "print(json.dumps({n: importlib.util.find_spec(n) is not None for n in names}))"
    )
    out = run_once(
        docker_engine, built_images.ref(image), "-c", code, options=("--entrypoint", "python")
    )
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert [n for n in present if not found[n]] == [], f"{image} lacks modules"
    assert [n for n in absent if found[n]] == [], f"{image} carries modules it should not"


# --- the running stack ---------------------------------------------------------------------------


def test_training_container_published_a_champion_to_minio(stack: Stack) -> None:
    assert stack.training_exit == 0
    assert "champion" in stack.training_log
    status, body = _get(f"{stack.inference.url(8000)}/models")
    assert status == 200
    assert "champion" in body


def test_inference_container_serves_ready_predict_and_metrics(stack: Stack) -> None:
    base = stack.inference.url(8000)
    status, body = _get(f"{base}/ready")
    ready = json.loads(body)
    assert status == 200 and ready["status"] == "ready", ready
    status, answer = _post(f"{base}/predict", {"features": _typical_record(stack)})
    assert status == 200
    assert 0.0 <= answer["probability"] <= 1.0
    _, metrics = _get(f"{base}/metrics")
    assert 'inference_requests_total{endpoint="/predict"' in metrics
    assert "model_loaded" in metrics


def test_the_helm_test_script_passes_in_the_inference_image(
    built_images: BuiltImages, stack: Stack
) -> None:
    """The chart's `helm test` pod: the inference image running files/helm_test.py."""
    script = REPO / "charts/porto/files/helm_test.py"
    test_pod = stack.box.run(
        built_images.ref("inference"),
        "/scripts/helm_test.py",
        stack.inference.url(8000),
        "--timeout",
        "60",
        entrypoint="python",
        env={"PORTO_API_KEY": API_KEY},  # as the chart sets it from the release's key Secret
        mounts=(f"type=bind,source={script},target=/scripts/helm_test.py,readonly",),
    )
    assert test_pod.wait_exit() == 0, test_pod.logs()


def test_prediction_log_keeps_every_prediction_through_a_postgres_restart(stack: Stack) -> None:
    """Predictions accepted while the database restarts are queued, then written: none lost. (The
    API reaches PostgreSQL by its name on the network, as through a Service in the chart: a
    restarted container may come back at another address.)"""
    base = stack.inference.url(8000)
    record = _typical_record(stack)
    ids: list[str] = []
    for _ in range(10):
        _, answer = _post(f"{base}/predict", {"features": record})
        ids.append(answer["prediction_id"])
    stack.postgres.restart()
    for _ in range(10):
        _, answer = _post(f"{base}/predict", {"features": record})
        ids.append(answer["prediction_id"])
    _wait_for_postgres(stack.postgres, stack.db)
    wanted = "ARRAY[" + ",".join(f"'{i}'::uuid" for i in ids) + "]"
    query = f"SELECT count(*) FROM prediction_log WHERE prediction_id = ANY({wanted})"
    deadline = time.monotonic() + DEADLINE
    written = 0
    while time.monotonic() < deadline:
        written = int(stack.psql(query))
        if written >= len(ids):
            break
        time.sleep(0.5)
    assert written == len(ids), (
        _get(f"{base}/ready")[1],
        "\n".join(stack.inference.logs().splitlines()[-60:]),
    )
    # The database kept its data across the restart: no second initialisation.
    assert stack.postgres.logs().count("initialisation done") == 1


def test_ui_container_runs_a_session_against_the_inference_container(stack: Stack) -> None:
    url = stack.ui.url(8501)
    run = open_page(url, "inference")
    assert run.status == "FINISHED_SUCCESSFULLY", run
    assert not run.errors, run.errors
    assert {"selectbox", "number_input"} & set(run.elements), run.elements
    _, metrics = _get(f"{stack.ui.url(8502)}/metrics")
    assert 'page_views_total{page="inference"}' in metrics


@pytest.mark.parametrize(
    ("role", "volumes"),
    [
        ("inference", {"/tmp", "/var/run/porto/metrics", "/var/lib/porto"}),
        ("ui", {"/tmp", "/var/lib/porto-ui"}),
        ("minio", {"/data"}),
        ("postgres", {"/var/lib/postgresql/data", "/var/run/postgresql", "/tmp"}),
    ],
)
def test_containers_run_non_root_on_a_read_only_root(
    stack: Stack, role: str, volumes: set[str]
) -> None:
    """Non-root uid, read-only root filesystem, and only the declared volumes writable."""
    container: Container = getattr(stack, role)
    info = container.inspect()
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    _, uid = container.exec("id", "-u")
    assert uid.strip().isdigit() and int(uid) != 0, uid
    declared = set(info["Config"]["Volumes"] or {})
    assert declared == volumes
    for path in declared:
        status, out = container.exec("sh", "-c", f"touch {path}/.p && rm {path}/.p")
        assert status == 0, (path, out)
    status, out = container.exec("sh", "-c", "touch /usr/.porto-probe")
    assert status != 0
    assert "Read-only file system" in out


def test_training_container_ran_non_root_on_a_read_only_root(
    docker_engine: DockerEngine, built_images: BuiltImages
) -> None:
    out = run_once(
        docker_engine,
        built_images.ref("training"),
        "-c",
        "id -u; touch /usr/x 2>&1; touch /var/lib/porto/x /tmp/x && echo writable",
        options=("--entrypoint", "sh"),
    )
    lines = out.stdout.splitlines()
    assert lines[0] != "0" and lines[0].isdigit(), out.stdout
    assert "Read-only file system" in out.stdout
    assert lines[-1] == "writable"


def test_sigterm_stops_a_training_container_at_once_without_publishing(
    docker_engine: DockerEngine, built_images: BuiltImages
) -> None:
    """``docker stop`` mid-training (a deleted Job's pod): porto-train, PID 1 in the container,
    stops at once instead of being killed when the grace period ends, and exits 143, so the Job
    controller never takes a stopped run for a finished one (a service exits 0: it was asked to
    stop and did; a run was asked to stop and did not finish)."""
    box = Containers(docker_engine)
    try:
        run = box.run(built_images.ref("training"), "train", "--rows", "300000")
        run.wait_log("train: started")
        # Killed when the grace period ended, it would exit 137 (SIGKILL).
        assert run.stop(grace=60) == 143
        assert run.logs().strip().splitlines()[-1] == "error: terminated (SIGTERM)"
    finally:
        box.close()


def test_inference_image_without_a_database_url_says_how_to_set_one(
    docker_engine: DockerEngine, built_images: BuiltImages
) -> None:
    out = run_once(docker_engine, built_images.ref("inference"))
    assert out.returncode != 0
    assert "DATABASE_URL" in out.stdout + out.stderr


def test_sigterm_stops_every_container_cleanly(stack: Stack) -> None:
    """``docker stop``: each process exits 0 on SIGTERM, the API after writing its log."""
    assert stack.ui.stop() == 0
    assert stack.inference.stop() == 0
    events = [json.loads(line) for line in stack.inference.logs().splitlines() if line[:1] == "{"]
    stopped = [e for e in events if e.get("message") == "porto inference stopped"]
    assert len(stopped) == 2, stack.inference.logs()[-2000:]  # each of the two workers
    for event in stopped:
        assert event["prediction_log"]["queued_rows"] == 0
        assert event["prediction_log"]["dropped_rows"] == 0
    assert stack.minio.stop() == 0
    assert stack.postgres.stop() == 0
    assert "database system is shut down" in stack.postgres.logs()
