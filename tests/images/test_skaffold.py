"""skaffold.yaml agrees with the Dockerfiles, the chart, the Makefile and the kind setup: it
builds each image from its Dockerfile, injects every built image into the chart values that
hold it (checked by rendering the chart the way skaffold's helm deployer does), and forwards the
ports the README promises."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from charts.chartlib import CHART, KUBE_VERSION, containers, helm, pod_templates

REPO = Path(__file__).resolve().parents[2]
SKAFFOLD: dict[str, Any] = yaml.safe_load((REPO / "skaffold.yaml").read_text())
IMAGES = {
    "porto-inference": "services/inference/Dockerfile",
    "porto-training": "jobs/training/Dockerfile",
    "porto-ui": "services/ui/Dockerfile",
}


def _release() -> dict[str, Any]:
    (release,) = SKAFFOLD["deploy"]["helm"]["releases"]
    assert isinstance(release, dict)
    return release


def _makefile_default(name: str) -> str:
    match = re.search(rf"^{name} \?= (\S+)$", (REPO / "Makefile").read_text(), re.M)
    assert match, f"Makefile has no `{name} ?=`"
    return match.group(1)


def test_schema_version_and_artifacts() -> None:
    assert SKAFFOLD["apiVersion"].startswith("skaffold/v4beta")
    artifacts = {a["image"]: a for a in SKAFFOLD["build"]["artifacts"]}
    assert sorted(artifacts) == sorted(IMAGES)
    for image, dockerfile in IMAGES.items():
        artifact = artifacts[image]
        assert artifact["context"] == "."
        assert artifact["docker"]["dockerfile"] == dockerfile
        assert (REPO / dockerfile).is_file()
    assert (REPO / ".dockerignore").is_file(), "the build context's .dockerignore"
    assert SKAFFOLD["build"]["local"]["push"] is False


def test_every_built_image_is_injected_into_its_chart_values() -> None:
    templates = _release()["setValueTemplates"]
    for image in IMAGES:
        key = image.removeprefix("porto-")
        var = image.replace("-", "_")
        assert templates[f"{key}.image.repository"] == f"{{{{.IMAGE_REPO_{var}}}}}"
        assert templates[f"{key}.image.tag"] == f"{{{{.IMAGE_TAG_{var}}}}}"
        values = yaml.safe_load((CHART / "charts" / key / "values.yaml").read_text())
        assert {"repository", "tag"} <= set(values["image"])


def test_rendered_release_runs_the_built_images() -> None:
    """Render the chart as skaffold would, with its templates filled in for a local build."""
    release = _release()
    args = [
        "template",
        release["name"],
        str(REPO / release["chartPath"]),
        "--namespace",
        release["namespace"],
        "--kube-version",
        KUBE_VERSION,
    ]
    for values in release["valuesFiles"]:
        assert (REPO / values).is_file()
        args += ["-f", str(REPO / values)]
    built = {image: (f"localhost:5000/{image}", "abc123") for image in IMAGES}
    for key, template in release["setValueTemplates"].items():
        image = re.search(r"IMAGE_(REPO|TAG)_(\w+)", template)
        assert image
        repo, tag = built[image.group(2).replace("_", "-")]
        args += ["--set", f"{key}={repo if image.group(1) == 'REPO' else tag}"]
    for key, value in release.get("setValues", {}).items():
        args += ["--set", f"{key}={value}"]
    docs = [d for d in yaml.safe_load_all(helm(*args).stdout) if d]
    images = {c["image"] for pod in pod_templates(docs) for c in containers(pod.spec)}
    ours = {i for i in images if "localhost:5000" in i}
    assert ours == {f"{repo}:{tag}" for repo, tag in built.values()}
    assert not [
        i for i in images if re.search(r"porto-(inference|training|ui):", i) and i not in ours
    ]


def test_release_matches_the_makefile() -> None:
    release = _release()
    assert release["name"] == _makefile_default("RELEASE")
    assert release["namespace"] == _makefile_default("NAMESPACE")
    assert release["chartPath"] == "charts/porto"


@pytest.mark.parametrize(
    ("service", "namespace", "local_port"),
    [
        ("porto-inference", "porto", 8000),
        ("porto-ui", "porto", 8501),
        ("kube-prometheus-stack-grafana", "monitoring", 3000),
    ],
)
def test_port_forwards(service: str, namespace: str, local_port: int) -> None:
    forwards = {f["resourceName"]: f for f in SKAFFOLD["portForward"]}
    forward = forwards[service]
    assert forward["resourceType"] == "service"
    assert forward["namespace"] == namespace
    assert forward["localPort"] == local_port
    if service.startswith("porto-"):
        chart = service.removeprefix("porto-")
        values = yaml.safe_load((CHART / "charts" / chart / "values.yaml").read_text())
        assert forward["port"] == values["service"]["port"]
    else:
        notes = yaml.safe_load((CHART / "values.yaml").read_text())["notes"]["grafana"]
        assert (notes["service"], notes["namespace"]) == (service, namespace)
        assert namespace == _makefile_default("MONITORING_NAMESPACE")


def test_profiles_for_kind_and_minikube() -> None:
    profiles = {p["name"]: p for p in SKAFFOLD["profiles"]}
    assert set(profiles) == {"kind", "minikube"}
    kind_cluster = yaml.safe_load((REPO / "deploy/kind-config.yaml").read_text())["name"]
    assert profiles["kind"]["activation"] == [{"kubeContext": f"kind-{kind_cluster}"}]
    assert profiles["minikube"]["activation"] == [{"kubeContext": "minikube"}]
    assert _makefile_default("KUBE_CONTEXT") == "kind-$(CLUSTER)"
    assert _makefile_default("CLUSTER") == kind_cluster
