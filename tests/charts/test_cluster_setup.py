"""The cluster setup a user runs (`make cluster images load deploy dev e2e ...`), checked without
a cluster: the workflow passes actionlint, the Makefile targets exist with help and dry-run to
commands that name the intended context and files, and the pieces agree with each other (kind
node labels and ingress-nginx, kube-prometheus-stack's selectors and Grafana sidecar with the
chart's labels, the Grafana admin Secret everywhere it is named)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from charts.chartlib import CHART, KUBE_VERSION, REPO
from harness.tools import MissingToolError, pinned_tools, tool_path

from harness import kubeschemas

CLUSTER_TARGETS = (
    "cluster",
    "images",
    "load",
    "deploy",
    "dev",
    "port-forward",
    "e2e",
    "undeploy",
    "cluster-down",
    "train-cluster",
)
DEPLOY = REPO / "deploy"
#: The images `make images` builds, by the chart that runs each.
IMAGES = {
    "inference": "services/inference/Dockerfile",
    "ui": "services/ui/Dockerfile",
    "training": "jobs/training/Dockerfile",
}


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _dry_run(target: str, *variables: str) -> str:
    out = subprocess.run(
        ["make", "--no-print-directory", "-n", target, *variables],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_workflows_pass_actionlint() -> None:
    try:
        actionlint = tool_path("actionlint")
    except MissingToolError as exc:
        pytest.fail(str(exc), pytrace=False)
    workflows = sorted((REPO / ".github" / "workflows").glob("*.yml"))
    assert workflows
    out = subprocess.run([str(actionlint), *map(str, workflows)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_e2e_workflow_runs_the_user_commands_in_order() -> None:
    workflow = _yaml(REPO / ".github/workflows/e2e.yml")
    (job,) = workflow["jobs"].values()
    commands = [
        s["run"].split()[:2] for s in job["steps"] if "run" in s and s["run"].startswith("make")
    ]
    assert [c[1] for c in commands] == [
        "cluster",
        "images",
        "load",
        "deploy",
        "e2e",
        "cluster-down",
    ]
    last = job["steps"][-1]
    assert last["if"] == "always()" and last["run"] == "make cluster-down"


@pytest.mark.parametrize("target", CLUSTER_TARGETS)
def test_cluster_targets_are_documented_and_phony(target: str) -> None:
    makefile = (REPO / "Makefile").read_text()
    assert re.search(rf"^{re.escape(target)}:.*## \S", makefile, re.M), f"{target}: no ## help"
    phony = " ".join(re.findall(r"^\.PHONY:((?:.*\\\n)*.*)$", makefile, re.M)).replace("\\", " ")
    assert target in phony.split()


def test_kubernetes_commands_name_the_context() -> None:
    text = "\n".join(_dry_run(t) for t in ("cluster", "deploy", "undeploy", "port-forward"))
    for line in text.splitlines():
        words = line.split()
        if (
            any(w.endswith((pinned_tools()["helm"], "kubectl")) for w in words[:1])
            and "port-forward" not in words[:1]
        ):
            assert "--kube-context" in words or "--context" in words, line


def test_cluster_dry_run_uses_the_repository_files() -> None:
    text = _dry_run("cluster")
    for path in re.findall(r"(?:--config|-f) (deploy/\S+)", text):
        assert (REPO / path).is_file(), path
    assert "--version 77." in text, "kube-prometheus-stack pinned to the 77.x the CRD schemas match"
    assert kubeschemas.PROMETHEUS_OPERATOR == "v0.85.0"
    assert "grafana-admin" in text and "--from-literal=admin-password=" in text
    assert "admin-password=admin" not in text


def test_minikube_variants() -> None:
    assert "minikube image load" in _dry_run("load", "KUBE_CONTEXT=minikube")
    addons = _dry_run("cluster-addons", "KUBE_CONTEXT=minikube", "INGRESS_NGINX=none")
    assert "ingress-nginx" not in addons and "--kube-context minikube" in addons


def test_deploy_installs_the_loaded_images_and_runs_helm_test() -> None:
    text = _dry_run("deploy", "IMAGE_TAG=t1")
    sets = re.findall(r"--set (\S+)=(\S+)", text)
    assert {key for key, value in sets if value == "t1"} == {
        f"{chart}.image.tag" for chart in IMAGES
    }
    assert " test porto " in text
    load = _dry_run("load", "IMAGE_TAG=t1").split()
    images = _dry_run("images", "IMAGE_TAG=t1")
    for chart, dockerfile in IMAGES.items():
        assert f"porto-{chart}:t1" in load
        assert f"-f {dockerfile} -t porto-{chart}:t1" in images
        assert (REPO / dockerfile).is_file()
    assert "porto-ui:t1" in _dry_run("load", "KUBE_CONTEXT=minikube", "IMAGE_TAG=t1").split()


def test_port_forward_opens_the_api_ui_and_grafana() -> None:
    text = _dry_run("port-forward")
    ui_port = _yaml(CHART / "charts/ui/values.yaml")["service"]["port"]
    for service, ports in [
        ("porto-inference", "8000:8000"),
        ("porto-ui", f"8501:{ui_port}"),
        ("kube-prometheus-stack-grafana", "3000:80"),
    ]:
        assert f"port-forward svc/{service} {ports}" in text, service


def test_kind_cluster_config() -> None:
    config = _yaml(DEPLOY / "kind-config.yaml")
    (node,) = config["nodes"]
    image = node["image"]
    match = re.fullmatch(r"kindest/node:v(\d+)\.(\d+)\.\d+@sha256:[0-9a-f]{64}", image)
    assert match, f"{image}: pin the node image by digest"
    assert ".".join(match.groups()) == ".".join(KUBE_VERSION.split(".")[:2]), "validated version"
    ports = {(m["containerPort"], m["hostPort"]) for m in node["extraPortMappings"]}
    assert ports == {(80, 80), (443, 443)}
    assert all(m["listenAddress"] == "127.0.0.1" for m in node["extraPortMappings"])
    label = "ingress-ready=true"
    assert label in node["kubeadmConfigPatches"][0]
    ingress = _yaml(DEPLOY / "ingress-nginx-values.yaml")["controller"]
    assert ingress["nodeSelector"]["ingress-ready"] == "true"
    assert ingress["hostPort"]["enabled"] is True


def test_kind_values_expose_the_api_and_the_ui_on_localhost_names() -> None:
    """Both ingresses answer on the host's port 80 (kind-config.yaml) under names that resolve to
    the loopback address, through the IngressClass the ingress-nginx values create."""
    values = _yaml(DEPLOY / "porto-values-kind.yaml")
    class_name = _yaml(DEPLOY / "ingress-nginx-values.yaml")["controller"]["ingressClassResource"]
    for chart in ("inference", "ui"):
        ingress = values[chart]["ingress"]
        assert ingress["enabled"] is True
        assert ingress["host"].endswith(".localhost"), chart
        default = _yaml(CHART / "charts" / chart / "values.yaml")["ingress"]["className"]
        assert ingress.get("className", default) == class_name["name"]


def test_kube_prometheus_stack_values_fit_the_chart() -> None:
    kps = _yaml(DEPLOY / "kube-prometheus-stack-values.yaml")
    umbrella = _yaml(CHART / "values.yaml")
    dashboards = _yaml(CHART / "charts/dashboards/values.yaml")["grafana"]
    sidecar = kps["grafana"]["sidecar"]["dashboards"]
    assert (sidecar["label"], sidecar["labelValue"]) == (
        dashboards["label"],
        dashboards["labelValue"],
    )
    assert sidecar["folderAnnotation"] == dashboards["folderAnnotation"]
    assert sidecar["searchNamespace"] == "ALL"
    assert sidecar["provider"]["foldersFromFilesStructure"] is True
    admin = kps["grafana"]["admin"]
    assert admin["existingSecret"] == umbrella["notes"]["grafana"]["adminSecret"] == "grafana-admin"
    assert admin["passwordKey"] == "admin-password"
    assert kps["grafana"]["ingress"]["enabled"] is True
    (host,) = kps["grafana"]["ingress"]["hosts"]
    assert umbrella["notes"]["grafana"]["url"] == f"http://{host}"
    spec = kps["prometheus"]["prometheusSpec"]
    # Selection by the `release` label: the chart's global.monitoring.release is this release.
    for key in ("serviceMonitor", "podMonitor", "rule"):
        assert spec[f"{key}SelectorNilUsesHelmValues"] is True
        assert spec[f"{key}NamespaceSelector"] == {}
    assert umbrella["global"]["monitoring"]["release"] == "kube-prometheus-stack"
    # The release is named kube-prometheus-stack, in MONITORING_NAMESPACE.
    addons = " ".join(_dry_run("cluster-addons").split())
    assert "upgrade --install kube-prometheus-stack kube-prometheus-stack" in addons
