"""porto-minio (deploy/images/minio), run by a real Docker engine as the chart runs it: read-only
root filesystem, uid 10001, no capabilities. It serves S3 to porto's own S3Store, keeps its
objects across a restart, stops with exit 0 on SIGTERM, and the chart's bucket Job script creates
the bucket with this image alone."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from charts.chartlib import by_kind, render
from charts.chartlib import containers as pod_containers
from harness.containers import Container, Containers
from harness.docker import DockerEngine
from harness.ports import wait_for_http
from harness.tools import TOOLS_SCRIPT
from images.conftest import ServiceImages
from porto.errors import StoreError
from porto.store import S3Options, S3Store

pytestmark = [pytest.mark.slow, pytest.mark.integration]

UID = "10001:10001"
ACCESS_KEY = "porto-test"
SECRET_KEY = "porto-test-secret-key"
CREDENTIALS = {"MINIO_ROOT_USER": ACCESS_KEY, "MINIO_ROOT_PASSWORD": SECRET_KEY}


def start_minio(box: Containers, image: str) -> Container:
    """MinIO with the image's own command (server /data), reachable as `porto-minio` on the
    network (the name the chart's Service gives it), ready when this returns."""
    minio = box.run(image, user=UID, env=CREDENTIALS, aliases=("porto-minio",))
    wait_ready(minio)
    return minio


def wait_ready(minio: Container) -> None:
    wait_for_http(f"http://{minio.ip}:9000/minio/health/ready", alive=minio.running)


def store(minio: Container, *, create_bucket: bool = True) -> S3Store:
    """porto's S3Store on bucket `porto` of ``minio`` (the chart's default bucket)."""
    options = S3Options(
        endpoint_url=f"http://{minio.ip}:9000",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        create_bucket=create_bucket,
        connect_timeout=2.0,
        read_timeout=10.0,
        max_attempts=2,
    )
    return S3Store("porto", options=options)


def test_serves_s3_and_keeps_objects_across_a_restart(
    service_images: ServiceImages, containers: Containers
) -> None:
    minio = start_minio(containers, service_images.minio)
    models = store(minio)
    models.put_bytes("models/v1/model.cbm", b"\x00model bytes\xff")
    assert models.get_bytes("models/v1/model.cbm") == b"\x00model bytes\xff"

    containers.engine.docker("restart", minio.id)
    wait_ready(minio)
    again = store(minio)  # the address may change with the restart
    assert again.get_bytes("models/v1/model.cbm") == b"\x00model bytes\xff"
    assert again.list_keys("models/") == ["models/v1/model.cbm"]


def test_stops_with_exit_0_on_sigterm(
    service_images: ServiceImages, containers: Containers
) -> None:
    minio = start_minio(containers, service_images.minio)
    containers.engine.docker("kill", "--signal", "TERM", minio.id)
    assert minio.wait_exit() == 0, minio.logs()[-2000:]


def test_runs_as_uid_10001_writing_only_data(
    service_images: ServiceImages, containers: Containers
) -> None:
    minio = start_minio(containers, service_images.minio)
    config = minio.inspect()["Config"]
    assert config["User"] == UID
    assert set(config["Volumes"]) == {"/data"}
    assert config["Entrypoint"] == ["minio"]
    assert config["Cmd"][:2] == ["server", "/data"]
    assert minio.exec("id", "-u") == (0, "10001\n")
    # The read-only root filesystem: MinIO started, so nothing but /data was needed.
    status, out = minio.exec("touch", "/home/minio/probe")
    assert status != 0 and "Read-only file system" in out
    status, _ = minio.exec("touch", "/data/.probe")
    assert status == 0


def test_labels_name_the_minio_source(
    service_images: ServiceImages, docker_engine: DockerEngine
) -> None:
    pin = re.search(r'"minio\|github\.com/minio/minio\|([^|]+)\|', TOOLS_SCRIPT.read_text())
    assert pin, "scripts/tools.sh pins no MinIO"

    def inspect(image: str, template: str) -> str:
        return docker_engine.docker("image", "inspect", "--format", template, image).stdout

    labels = json.loads(inspect(service_images.minio, "{{json .Config.Labels}}"))
    assert labels["org.opencontainers.image.title"] == "porto-minio"
    assert labels["porto.minio.version"] == pin.group(1)
    assert pin.group(1) in labels["org.opencontainers.image.description"]
    # Also tagged with its MinIO version: the chart's default tag.
    version_tag = f"porto-minio:{pin.group(1).removeprefix('v0.0.0-')}"
    assert inspect(version_tag, "{{.Id}}") == inspect(service_images.minio, "{{.Id}}")


# --- the chart's bucket Job, run with this image ------------------------------------------------


def bucket_job() -> dict[str, Any]:
    """The create-bucket container of the default release's hook Job."""
    jobs = [
        j
        for j in by_kind(render("default"), "Job")
        if j["metadata"]["name"] == "porto-minio-bucket"
    ]
    assert len(jobs) == 1, [j["metadata"]["name"] for j in by_kind(render("default"), "Job")]
    (container,) = pod_containers(jobs[0]["spec"]["template"]["spec"])
    assert isinstance(container, dict)
    return container


def run_bucket_job(box: Containers, image: str, password: str) -> tuple[int, str]:
    """The Job's command and environment (its Secret references filled in), run to the end in a
    container of ``image`` next to the MinIO container named `porto-minio`."""
    spec = bucket_job()
    env = {e["name"]: e["value"] for e in spec["env"] if "value" in e}
    env.update(MINIO_ROOT_USER=ACCESS_KEY, MINIO_ROOT_PASSWORD=password)
    entrypoint, *args = [*spec["command"], *spec["args"]]
    job = box.run(image, *args, user=UID, env=env, entrypoint=entrypoint)
    return job.wait_exit(), job.logs()


def test_the_charts_bucket_job_creates_the_bucket(
    service_images: ServiceImages, containers: Containers
) -> None:
    minio = start_minio(containers, service_images.minio)
    with pytest.raises(StoreError, match="does not exist"):
        store(minio, create_bucket=False).check()
    status, out = run_bucket_job(containers, service_images.minio, SECRET_KEY)
    assert status == 0, out
    assert "created bucket porto" in out
    store(minio, create_bucket=False).check()
    status, out = run_bucket_job(containers, service_images.minio, SECRET_KEY)
    assert status == 0, out
    assert "bucket porto exists" in out


def test_the_charts_bucket_job_fails_on_wrong_keys(
    service_images: ServiceImages, containers: Containers
) -> None:
    minio = start_minio(containers, service_images.minio)
    status, out = run_bucket_job(containers, service_images.minio, "not-the-key")
    assert status != 0
    assert "SignatureDoesNotMatch" in out, out
    with pytest.raises(StoreError, match="does not exist"):
        store(minio, create_bucket=False).check()
