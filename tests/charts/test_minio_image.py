"""The chart's MinIO image is porto's own (deploy/images/minio), tagged with the MinIO source
scripts/tools.sh pins: the chart default, `make images`' tag and `make load` cannot drift apart."""

from __future__ import annotations

import re
import subprocess

import yaml
from charts.chartlib import CHART, REPO, containers, pod_templates, render
from harness.tools import TOOLS_SCRIPT, make_dry_run
from images.dockerfile import parse

MINIO_CHART = CHART / "charts" / "minio"


def _tools_pin() -> str:
    """The Go module version of MinIO in scripts/tools.sh (v0.0.0-<time>-<commit>)."""
    pattern = r'^\s*"minio\|github\.com/minio/minio\|([^|]+)\|'
    match = re.search(pattern, TOOLS_SCRIPT.read_text(), re.M)
    assert match, "scripts/tools.sh pins no MinIO"
    return match.group(1)


def _chart_tag() -> str:
    values = yaml.safe_load((MINIO_CHART / "values.yaml").read_text())
    chart = yaml.safe_load((MINIO_CHART / "Chart.yaml").read_text())
    return str(values["image"]["tag"] or chart["appVersion"])


def test_the_chart_default_tag_is_the_pinned_minio_source() -> None:
    pin = _tools_pin()
    assert pin.startswith("v0.0.0-"), pin
    assert _chart_tag() == pin.removeprefix("v0.0.0-")


def test_make_images_tags_porto_minio_with_the_chart_default() -> None:
    out = subprocess.run(
        [str(REPO / "scripts/build-images.sh"), "minio-tag"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == _chart_tag()


def test_make_load_loads_porto_minio_under_the_chart_default_tag() -> None:
    out = make_dry_run("load", "IMAGE_TAG=v9", "KIND=kind")
    assert f"porto-minio:{_chart_tag()}" in out
    minikube = make_dry_run("load", "IMAGE_TAG=v9", "KUBE_CONTEXT=minikube")
    assert f"porto-minio:{_chart_tag()}" in minikube


def test_the_default_release_runs_porto_minio_with_the_images_uid() -> None:
    docs = render("default")
    pods = [p for p in pod_templates(docs) if p.where.split("/")[1].startswith("porto-minio")]
    assert {p.owner["kind"] for p in pods} == {"StatefulSet", "Job"}  # server and bucket Job
    for pod in pods:
        assert [c["image"] for c in containers(pod.spec)] == [f"porto-minio:{_chart_tag()}"]
    dockerfile = parse(REPO / "deploy/images/minio/Dockerfile")
    (user,) = dockerfile.final.all("USER")
    uid, gid = (int(x) for x in user.value.split(":"))
    context = yaml.safe_load((MINIO_CHART / "values.yaml").read_text())["podSecurityContext"]
    assert (context["runAsUser"], context["runAsGroup"], context["fsGroup"]) == (uid, gid, gid)


def test_the_bucket_job_needs_no_mc() -> None:
    """porto-minio has curl, not upstream's `mc` (tests/images runs the Job's script)."""
    job = (MINIO_CHART / "templates/bucket-job.yaml").read_text()
    assert "mc " not in job and "MC_HOST" not in job
    assert "--aws-sigv4" in job
