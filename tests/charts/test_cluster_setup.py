"""The cluster setup a user runs (`make cluster images load deploy dev e2e ...`), checked without
a cluster: the workflow passes actionlint, the Makefile targets exist with help and dry-run to
commands that name the intended context and files, and the pieces agree with each other (kind
node labels and Traefik, Traefik's IngressClass and Gateway with porto's and Grafana's Ingress
and HTTPRoute values, kube-prometheus-stack's selectors and Grafana sidecar with the chart's
labels, the Grafana admin Secret everywhere it is named), and the add-on versions of
deploy/versions.mk with the CRDs the tests install and validate against."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from charts.chartlib import CHART, KUBE_VERSION, REPO
from harness.crds import (
    CRD_MODULES,
    GATEWAY_API_CRDS,
    PROMETHEUS_OPERATOR,
    PROMETHEUS_OPERATOR_CRDS,
)
from harness.tools import MissingToolError, make_dry_run, pinned_tools, tool_path
from harness.versions import VERSIONS, VERSIONS_FILE, read

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
    return make_dry_run(target, *variables)


def _flat(text: str) -> str:
    """Commands on one line each, continuations joined and spaces collapsed."""
    return " ".join(text.replace("\\\n", " ").split())


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
    assert "grafana-admin" in text and "--from-literal=admin-password=" in text
    assert "admin-password=admin" not in text


def test_add_on_versions_move_together() -> None:
    """deploy/versions.mk is the one place: the Makefile installs its versions, the harness
    fetches the CRDs of the operator its kube-prometheus-stack runs and of its Gateway API."""
    addons = _flat(_dry_run("cluster-addons"))
    kps = "kube-prometheus-stack --repo https://prometheus-community.github.io/helm-charts"
    assert f"{kps} --version {VERSIONS.kube_prometheus_stack} " in addons
    assert (
        f"traefik --repo https://traefik.github.io/charts --version {VERSIONS.traefik} " in addons
    )
    assert f"/gateway-api/releases/download/{VERSIONS.gateway_api}/standard-install.yaml" in addons
    assert VERSIONS.operators[VERSIONS.kube_prometheus_stack] == PROMETHEUS_OPERATOR
    assert GATEWAY_API_CRDS.version == VERSIONS.gateway_api
    assert f"prometheus-operator {PROMETHEUS_OPERATOR};" in addons
    # The Makefile reads the same pins (an override on the command line moves the operator too).
    out = make_dry_run("cluster-addons", "KPS_VERSION=77.1.1")
    assert "--version 77.1.1 " in _flat(out) and "prometheus-operator v0.85.0;" in out


def test_a_kube_prometheus_stack_version_without_its_operator_is_refused(tmp_path: Path) -> None:
    """`make cluster-addons` (its check-versions step) and the harness both refuse a
    KPS_VERSION that has no operator row, with one line naming what to add."""
    assert subprocess.run(["make", "-s", "check-versions"], cwd=REPO).returncode == 0
    out = subprocess.run(
        ["make", "-s", "check-versions", "KPS_VERSION=99.0.0"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
    assert "error: KPS_VERSION=99.0.0 has no KPS_OPERATOR_99.0.0 row in deploy/versions.mk" in (
        out.stderr
    )
    bumped = tmp_path / "versions.mk"
    bumped.write_text(
        re.sub(r"(?m)^KPS_VERSION \?= \S+", "KPS_VERSION ?= 99.0.0", VERSIONS_FILE.read_text())
    )
    with pytest.raises(ValueError, match=r"KPS_VERSION 99\.0\.0 has no KPS_OPERATOR_99\.0\.0 row"):
        _ = read(bumped).prometheus_operator


@pytest.mark.parametrize("module", CRD_MODULES, ids=lambda m: m.name)
def test_the_crds_are_those_of_the_pinned_release(module: Any) -> None:
    """Every CRD the tests install and convert says it belongs to the pinned release (the
    operator version of KPS_VERSION, GATEWAY_API_VERSION), read offline from the module cache."""
    try:
        documents = list(module.documents())
    except MissingToolError as exc:
        pytest.fail(str(exc), pytrace=False)
    assert documents
    for doc in documents:
        annotations = doc["metadata"].get("annotations") or {}
        assert annotations.get(module.version_annotation) == module.annotated_version, doc[
            "metadata"
        ]["name"]
    if module is PROMETHEUS_OPERATOR_CRDS:
        plurals = {d["spec"]["names"]["plural"] for d in documents}
        assert {"servicemonitors", "podmonitors", "prometheusrules"} <= plurals
    else:
        assert {d["spec"]["names"]["kind"] for d in documents} >= {"Gateway", "HTTPRoute"}


def test_minikube_variants() -> None:
    assert "minikube image load" in _dry_run("load", "KUBE_CONTEXT=minikube")
    addons = _dry_run("cluster-addons", "KUBE_CONTEXT=minikube", "TRAEFIK=none")
    assert "traefik" not in addons and "gateway-api" not in addons
    assert "--kube-context minikube" in addons
    minikube = _dry_run("cluster-addons", "KUBE_CONTEXT=minikube", "TRAEFIK=minikube")
    assert "-f deploy/traefik-values.yaml -f deploy/traefik-values-minikube.yaml" in minikube
    assert (DEPLOY / "traefik-values-minikube.yaml").is_file()


def test_deploy_installs_the_loaded_images_and_runs_helm_test() -> None:
    text = _dry_run("deploy", "IMAGE_TAG=t1")
    sets = re.findall(r"--set (\S+)=(\S+)", text)
    assert {key for key, value in sets if value == "t1"} == {
        f"{chart}.image.tag" for chart in IMAGES
    }
    assert " test porto " in text
    load = _dry_run("load", "IMAGE_TAG=t1").split()
    images = _dry_run("images", "IMAGE_TAG=t1")
    assert "IMAGE_TAG='t1'" in images and "scripts/build-images.sh build" in images
    table = (REPO / "scripts/build-images.sh").read_text()
    for chart, dockerfile in IMAGES.items():
        assert f"porto-{chart}:t1" in load
        assert f'"{chart}|{dockerfile}|' in table  # the image make images builds from it
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


def _traefik() -> dict[str, Any]:
    """Traefik's values on kind: the common file with the kind file on top (as helm merges)."""
    values: dict[str, Any] = _yaml(DEPLOY / "traefik-values.yaml")
    for key, value in _yaml(DEPLOY / "traefik-values-kind.yaml").items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    return values


def _gateway_ref(traefik: dict[str, Any]) -> dict[str, str]:
    """The Gateway Traefik's chart creates (in the release namespace `traefik` of the Makefile)."""
    addons = _flat(_dry_run("cluster-addons"))
    assert "upgrade --install traefik traefik" in addons and "--namespace traefik " in addons
    return {"name": traefik["gateway"]["name"], "namespace": "traefik"}


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
    traefik = _traefik()
    assert traefik["nodeSelector"]["ingress-ready"] == "true"
    # The node's ports 80/443 (mapped to the host) are Traefik's web and websecure entry points.
    assert {name: traefik["ports"][name]["hostPort"] for name in ("web", "websecure")} == {
        "web": 80,
        "websecure": 443,
    }
    assert traefik["service"]["spec"]["type"] == "NodePort", "no load balancer on kind"


def test_traefik_serves_both_ingress_and_the_gateway_api() -> None:
    traefik = _traefik()
    providers = traefik["providers"]
    assert providers["kubernetesIngress"]["enabled"] is True
    assert providers["kubernetesGateway"]["enabled"] is True
    assert traefik["ingressClass"] == {"enabled": True, "isDefaultClass": True, "name": "traefik"}
    assert traefik["gatewayClass"]["enabled"] is True and traefik["gateway"]["enabled"] is True
    (listener,) = traefik["gateway"]["listeners"].values()
    # The listener is the `web` entry point (Traefik's chart requires its port in `ports`; the
    # chart's default web port is 8000) and admits routes from porto's and Grafana's namespaces.
    assert listener["protocol"] == "HTTP" and listener["port"] == 8000
    assert listener["namespacePolicy"] == {"from": "All"}


def test_kind_values_expose_the_api_and_the_ui_on_localhost_names() -> None:
    """Both answer on the host's port 80 (kind-config.yaml) under names that resolve to the
    loopback address: through HTTPRoutes on Traefik's Gateway, and the Ingress switch names
    Traefik's IngressClass."""
    values = _yaml(DEPLOY / "porto-values-kind.yaml")
    traefik = _traefik()
    gateway = _gateway_ref(traefik)
    for chart in ("inference", "ui"):
        defaults = _yaml(CHART / "charts" / chart / "values.yaml")
        ingress = {**defaults["ingress"], **values[chart].get("ingress", {})}
        route = {**defaults["httpRoute"], **values[chart].get("httpRoute", {})}
        assert route["enabled"] is True and ingress["enabled"] is False, chart
        assert ingress["host"].endswith(".localhost"), chart
        assert route["hostnames"] in ([], [ingress["host"]]), chart
        assert route["parentRefs"] == [gateway], chart
        assert ingress["className"] == traefik["ingressClass"]["name"], chart
        policy = defaults["networkPolicy"]
        assert policy["ingressNamespace"] == gateway["namespace"], chart


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
    # Grafana through an HTTPRoute on Traefik's Gateway; the Ingress switch names its class.
    traefik = _traefik()
    route = kps["grafana"]["route"]["main"]
    assert route["enabled"] is True and kps["grafana"]["ingress"]["enabled"] is False
    assert route["parentRefs"] == [_gateway_ref(traefik)]
    (host,) = route["hostnames"]
    assert kps["grafana"]["ingress"]["hosts"] == [host]
    assert kps["grafana"]["ingress"]["ingressClassName"] == traefik["ingressClass"]["name"]
    assert umbrella["notes"]["grafana"]["url"] == f"http://{host}"
    # The operator's CRDs follow the chart version on upgrades (helm never upgrades CRDs).
    assert kps["crds"]["upgradeJob"]["enabled"] is True
    spec = kps["prometheus"]["prometheusSpec"]
    # Selection by the `release` label: the chart's global.monitoring.release is this release.
    for key in ("serviceMonitor", "podMonitor", "rule"):
        assert spec[f"{key}SelectorNilUsesHelmValues"] is True
        assert spec[f"{key}NamespaceSelector"] == {}
    assert umbrella["global"]["monitoring"]["release"] == "kube-prometheus-stack"
    # The release is named kube-prometheus-stack, in MONITORING_NAMESPACE.
    addons = _flat(_dry_run("cluster-addons"))
    assert "upgrade --install kube-prometheus-stack kube-prometheus-stack" in addons
