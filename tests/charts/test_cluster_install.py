"""charts/porto installed for real: helm against a real kube-apiserver (``kube_cluster``).

Every scenario (the defaults, each ``ci/*-values.yaml``, the kind values) is installed with
``helm install`` into a namespace of its own, so admission, server-side validation, defaulting and
the CRDs' schemas all apply; the stored objects are read back with the ``kubernetes`` client and
compared with what the chart intends. Upgrade, ``helm test``, uninstall and reinstall are checked
on the defaults; ``helm install --dry-run=server`` and ``kubectl apply --dry-run=server`` are
extra checks per scenario. No kubelet or controllers run: ``ControllerStandIns`` completes the
hook Jobs helm waits for and the test pod ``helm test`` waits for (see tests/harness).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from charts.chartlib import CHART, SCENARIOS
from charts.clusterlib import Release, values_args
from harness.kube import KubeControlPlane
from harness.kube_helm import run_tool
from harness.kube_standins import ControllerStandIns
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

pytestmark = pytest.mark.integration

RELEASE = "porto"
#: What the test API server reports (scripts/tools.sh pins kube-apiserver).
KUBE_VERSION = "1.36.3"
#: The kube-prometheus-stack release each scenario's monitoring objects are labelled for.
MONITORING_RELEASE = {"monitoring": "kps"}
#: Where each scenario's dashboard ConfigMaps go ("" = the release namespace).
DASHBOARD_NAMESPACE = {"monitoring": "monitoring"}
POD_OWNERS = ("Deployment", "StatefulSet")


#: Pod Security Admission at its strictest: every pod the chart creates must run as the
#: ``restricted`` profile demands (non-root, no privilege escalation, capabilities dropped,
#: seccomp). Enforced for Pods; for workloads the server answers with warnings.
RESTRICTED = {
    f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")
}


def _namespace(plane: KubeControlPlane, name: str) -> str:
    """Create namespace ``name`` (restricted pod security) unless it exists (the session's
    cluster is shared)."""
    try:
        return plane.create_namespace(name, RESTRICTED)
    except ApiException as exc:
        if exc.status != 409:
            raise
        return name


@pytest.fixture(scope="module", params=list(SCENARIOS))
def release(request: pytest.FixtureRequest, kube_cluster: KubeControlPlane) -> Iterator[Release]:
    """One scenario installed into namespace ``inst-<scenario>``."""
    scenario: str = request.param
    if scenario in DASHBOARD_NAMESPACE:
        _namespace(kube_cluster, DASHBOARD_NAMESPACE[scenario])
    rel = Release(kube_cluster, RELEASE, _namespace(kube_cluster, f"inst-{scenario}"), scenario)
    rel.install()
    yield rel
    rel.helm("uninstall", RELEASE, check=False)


def _labels(doc: dict[str, Any]) -> dict[str, str]:
    return dict((doc.get("metadata") or {}).get("labels") or {})


def _pod_template(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "CronJob":
        return dict(doc["spec"]["jobTemplate"]["spec"]["template"])
    return dict(doc["spec"]["template"])


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def test_install_is_deployed(release: Release) -> None:
    """Installed into a namespace enforcing the ``restricted`` pod security profile, without a
    single warning from the server."""
    assert "PodSecurity" not in release.install_output, release.install_output
    status = json.loads(release.helm("status", RELEASE, "-o", "json").stdout)
    assert status["info"]["status"] == "deployed", status["info"]
    assert status["version"] == 1


def test_every_rendered_object_is_stored_as_intended(release: Release) -> None:
    """Names, labels, selectors and data as rendered; defaults filled in by the server."""
    docs = release.manifest()
    assert len(docs) >= (7 if release.scenario == "subcharts-off" else 20), len(docs)
    for doc in docs:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        stored = release.stored(doc)
        assert stored is not None, f"{where} was not stored"
        for key, value in _labels(doc).items():
            assert _labels(stored).get(key) == value, f"{where}: label {key}"
        assert stored["metadata"]["uid"], where
        if doc["kind"] in ("Deployment", "StatefulSet"):
            assert stored["spec"]["selector"] == doc["spec"]["selector"], where
            template_labels = _labels(stored["spec"]["template"])
            assert _selects(stored["spec"]["selector"]["matchLabels"], template_labels), where
            # Defaulted by the API server, not written by the chart.
            pod = stored["spec"]["template"]["spec"]
            assert pod["dnsPolicy"] == "ClusterFirst", where
            assert pod["schedulerName"] == "default-scheduler", where
        if doc["kind"] == "ConfigMap":
            assert stored.get("data") == doc.get("data"), where
        if doc["kind"] == "Service":
            assert stored["spec"]["selector"] == doc["spec"]["selector"], where
            # Allocated by the server from --service-cluster-ip-range, or headless as written.
            if doc["spec"].get("clusterIP") == "None":
                assert stored["spec"]["clusterIP"] == "None", where
            else:
                assert stored["spec"]["clusterIP"].startswith("10.96."), where


def test_services_select_a_pod_template_with_their_ports(release: Release) -> None:
    docs = release.manifest()
    owners = [release.stored(d) for d in docs if d["kind"] in POD_OWNERS]
    services = [release.stored(d) for d in docs if d["kind"] == "Service"]
    assert services, "no Service"
    for service in services:
        assert service is not None
        name = service["metadata"]["name"]
        selected = [
            o
            for o in owners
            if o is not None and _selects(service["spec"]["selector"], _labels(_pod_template(o)))
        ]
        assert len(selected) == 1, f"Service/{name} selects {len(selected)} workloads"
        pod = _pod_template(selected[0])["spec"]
        named_ports = {p.get("name") for c in pod["containers"] for p in c.get("ports", [])}
        numbers = {p["containerPort"] for c in pod["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            target = port["targetPort"]
            assert target in named_ports or target in numbers, f"Service/{name}: {port}"


def test_monitoring_objects_select_what_the_release_runs(release: Release) -> None:
    """ServiceMonitors select a Service and name its ports; PodMonitors select the training
    pods; PrometheusRules and monitors carry the kube-prometheus-stack ``release`` label."""
    expected_release = MONITORING_RELEASE.get(release.scenario, "kube-prometheus-stack")
    docs = release.manifest()
    services = [release.stored(d) for d in docs if d["kind"] == "Service"]
    monitors = [d for d in docs if d["kind"] == "ServiceMonitor"]
    assert monitors, "the CRDs exist, so a ServiceMonitor of the API must be rendered"
    for doc in monitors:
        monitor = release.stored(doc)
        assert monitor is not None
        name = monitor["metadata"]["name"]
        assert _labels(monitor).get("release") == expected_release, name
        matches = [
            s
            for s in services
            if s is not None and _selects(monitor["spec"]["selector"]["matchLabels"], _labels(s))
        ]
        assert len(matches) == 1, f"ServiceMonitor/{name} selects {len(matches)} Services"
        port_names = {p.get("name") for p in matches[0]["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] in port_names, f"ServiceMonitor/{name}: {endpoint}"

    training = [
        release.stored(d)
        for d in docs
        if d["kind"] == "CronJob" and "training" in d["metadata"]["name"]
    ] + [h for h in release.hooks() if h["kind"] == "Job" and "training" in h["metadata"]["name"]]
    training += [d for d in docs if d["kind"] == "Job"]
    for doc in (d for d in docs if d["kind"] == "PodMonitor"):
        monitor = release.stored(doc)
        assert monitor is not None
        selector = monitor["spec"]["selector"]["matchLabels"]
        # The pods it selects (not every Job is a training run: batch scoring's are not).
        pods = [
            p
            for p in (_pod_template(t) for t in training if t is not None)
            if _selects(selector, _labels(p))
        ]
        assert pods, f"PodMonitor {selector}"
        ports = {
            p.get("name") for pod in pods for c in pod["spec"]["containers"] for p in c["ports"]
        }
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            assert endpoint["port"] in ports

    rules = [release.stored(d) for d in docs if d["kind"] == "PrometheusRule"]
    if release.scenario != "subcharts-off":
        assert rules, "the alert rules must be installed"
    for rule in rules:
        assert rule is not None
        assert _labels(rule).get("release") == expected_release
        groups = rule["spec"]["groups"]
        assert groups and all(g["rules"] for g in groups)


def test_httproutes_are_stored_with_the_gateway_api_defaults(release: Release) -> None:
    """The Gateway API CRDs of GATEWAY_API_VERSION accepted each HTTPRoute (CEL rules and all),
    filled in its defaults (the parent is a Gateway, the backend a core Service of weight 1)
    and its backend is a Service of the release."""
    routes = [d for d in release.manifest() if d["kind"] == "HTTPRoute"]
    if release.scenario not in ("httproute", "kind"):
        assert not routes
        return
    assert len(routes) == 2
    for doc in routes:
        stored = release.stored(doc)
        assert stored is not None
        where = f"HTTPRoute/{doc['metadata']['name']}"
        assert stored["spec"]["hostnames"] == doc["spec"]["hostnames"], where
        for parent in stored["spec"]["parentRefs"]:
            assert (parent["group"], parent["kind"]) == ("gateway.networking.k8s.io", "Gateway")
        ((rule,),) = [stored["spec"]["rules"]]
        ((backend,),) = [rule["backendRefs"]]
        assert (backend["group"], backend["kind"], backend["weight"]) == ("", "Service", 1), where
        service = release.stored(
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": backend["name"]}}
        )
        assert service is not None, where
        assert backend["port"] in {p["port"] for p in service["spec"]["ports"]}, where


def test_dashboards_are_configmaps_grafana_picks_up(release: Release) -> None:
    docs = release.manifest()
    namespace = DASHBOARD_NAMESPACE.get(release.scenario) or release.namespace
    dashboards = [
        release.stored(d)
        for d in docs
        if d["kind"] == "ConfigMap" and _labels(d).get("grafana_dashboard") == "1"
    ]
    if release.scenario == "subcharts-off":
        assert not dashboards
        return
    assert dashboards, "no dashboard ConfigMap"
    for cm in dashboards:
        assert cm is not None
        assert cm["metadata"]["namespace"] == namespace
        for key, text in cm["data"].items():
            assert key.endswith(".json")
            assert json.loads(text)["panels"], key


def test_hook_jobs_ran_and_were_cleaned_up(release: Release) -> None:
    """helm waited for the hook Jobs (MinIO's bucket) to complete, then deleted them as their
    ``hook-succeeded`` policy says."""
    hooks = [h for h in release.hooks() if h["kind"] == "Job"]
    if release.scenario in ("external", "subcharts-off"):
        assert not hooks
        return
    assert hooks
    for hook in hooks:
        assert release.stored(hook) is None, f"hook Job {hook['metadata']['name']} left behind"


# -- the rest of each scenario's life: upgrade, helm test, uninstall (in this order) ---------

UPGRADE_ANNOTATION = "porto.dev/upgraded"


def test_upgrade_with_changed_values(release: Release) -> None:
    """A changed value reaches the stored object; the release moves to revision 2."""
    release.upgrade("--set-string", "inference.podAnnotations.porto\\.dev/upgraded=yes")
    assert "PodSecurity" not in release.install_output, release.install_output
    status = json.loads(release.helm("status", RELEASE, "-o", "json").stdout)
    assert (status["version"], status["info"]["status"]) == (2, "deployed")
    inference = release.stored(
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "porto-inference"}}
    )
    assert inference is not None
    annotations = inference["spec"]["template"]["metadata"].get("annotations") or {}
    assert annotations.get(UPGRADE_ANNOTATION) == "yes"


def test_helm_test_creates_its_pod(release: Release) -> None:
    with (
        release.plane.api_client() as api,
        ControllerStandIns(api, release.namespace) as standins,
    ):
        result = release.helm("test", RELEASE, "--timeout", "60s")
    assert re.search(r"TEST SUITE:\s+porto-test-api.*Phase:\s+Succeeded", result.stdout, re.S)
    assert standins.test_pods == ["porto-test-api"]
    pod = release.stored(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "porto-test-api"}}
    )
    assert pod is not None
    assert pod["spec"]["containers"][0]["args"][0] == "http://porto-inference:8000"


def test_uninstall_removes_all_but_the_kept_secrets(release: Release) -> None:
    docs = release.manifest()
    release.helm("uninstall", RELEASE, "--timeout", "60s")
    for doc in docs:
        kept = (doc["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") == "keep"
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        assert (release.stored(doc) is not None) == kept, f"{where}: kept={kept}"
    listed = release.helm("list", "-o", "json").stdout
    assert json.loads(listed) == []


@pytest.fixture(scope="module")
def lifecycle(kube_cluster: KubeControlPlane) -> Release:
    """The defaults, installed once for the credentials across upgrade, uninstall and reinstall."""
    rel = Release(kube_cluster, RELEASE, _namespace(kube_cluster, "lifecycle"), "default")
    rel.install()
    return rel


def _secret_data(rel: Release, name: str) -> dict[str, str]:
    with rel.plane.api_client() as api:
        core: Any = k8s.CoreV1Api(api)
        return dict(core.read_namespaced_secret(name, rel.namespace).data)


#: The Secrets the chart generates, each kept across upgrades and reinstalls by its `lookup`.
GENERATED_SECRETS = ("porto-postgres", "porto-minio", "porto-inference-api-key")


def test_the_generated_api_key_is_stored_and_read_by_the_api_ui_and_helm_test(
    lifecycle: Release,
) -> None:
    """The key production needs is in the stored Secret, strong enough for the API's own rule,
    and the stored Deployments (and the test pod's template) read it from there."""
    from porto_inference.settings import api_key_problem

    data = _secret_data(lifecycle, "porto-inference-api-key")
    key = base64.b64decode(data["api-key"]).decode()
    assert api_key_problem(key) is None
    ref = {"name": "porto-inference-api-key", "key": "api-key"}
    readers = {"porto-inference": "PORTO_INFERENCE_API_KEY", "porto-ui": "PORTO_UI_API_KEY"}
    for name, variable in readers.items():
        deployment = lifecycle.stored(
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}}
        )
        assert deployment is not None, name
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        stored_ref = env[variable]["valueFrom"]["secretKeyRef"]
        assert {k: stored_ref[k] for k in ("name", "key")} == ref, name
    (test_pod,) = [h for h in lifecycle.hooks() if h["kind"] == "Pod"]
    (env,) = [e for e in test_pod["spec"]["containers"][0]["env"] if e["name"] == "PORTO_API_KEY"]
    assert env["valueFrom"]["secretKeyRef"] == ref


def test_upgrade_with_changed_values_keeps_generated_credentials(lifecycle: Release) -> None:
    before = {name: _secret_data(lifecycle, name) for name in GENERATED_SECRETS}
    lifecycle.upgrade("--set", "inference.replicaCount=3", "--set", "ui.enabled=false")
    status = json.loads(lifecycle.helm("status", RELEASE, "-o", "json").stdout)
    assert (status["version"], status["info"]["status"]) == (2, "deployed")
    inference = lifecycle.stored(
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "porto-inference"}}
    )
    assert inference is not None and inference["spec"]["replicas"] == 3
    ui = lifecycle.stored(
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "porto-ui"}}
    )
    assert ui is None, "ui.enabled=false must remove the UI"
    # The generated passwords and the API key survive the upgrade (the chart looks the Secrets
    # up): clients given the key keep working.
    assert {name: _secret_data(lifecycle, name) for name in GENERATED_SECRETS} == before
    # Every revision has a training run of its own; the previous revision's Job goes with it.
    jobs = [j["metadata"]["name"] for j in lifecycle.list_stored("batch/v1", "Job")]
    assert jobs == ["porto-training-r2"], jobs


def test_uninstall_removes_everything_but_kept_secrets_then_reinstall_reuses_them(
    lifecycle: Release,
) -> None:
    docs = lifecycle.manifest()
    credentials = {name: _secret_data(lifecycle, name) for name in GENERATED_SECRETS}
    lifecycle.helm("uninstall", RELEASE, "--timeout", "60s")
    for doc in docs:
        kept = (doc["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") == "keep"
        stored = lifecycle.stored(doc)
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        assert (stored is not None) == kept, f"{where}: kept={kept}, stored={stored is not None}"
    lifecycle.install()
    assert {name: _secret_data(lifecycle, name) for name in GENERATED_SECRETS} == credentials


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_install_dry_run_server(kube_cluster: KubeControlPlane, scenario: str) -> None:
    namespace = _namespace(kube_cluster, f"dry-{scenario}")
    if scenario in DASHBOARD_NAMESPACE:
        _namespace(kube_cluster, DASHBOARD_NAMESPACE[scenario])
    rel = Release(kube_cluster, RELEASE, namespace, scenario)
    result = rel.helm("install", RELEASE, str(CHART), *values_args(scenario), "--dry-run=server")
    assert "PodSecurity" not in result.stderr, result.stderr
    assert "STATUS: pending-install" in result.stdout
    assert rel.list_stored("apps/v1", "Deployment") == [], "a dry run must not create objects"


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_kubectl_apply_dry_run_server(kube_cluster: KubeControlPlane, scenario: str) -> None:
    """The rendered manifests (hooks and test pods included) pass the server's validation."""
    namespace = _namespace(kube_cluster, f"kdry-{scenario}")
    if scenario in DASHBOARD_NAMESPACE:
        _namespace(kube_cluster, DASHBOARD_NAMESPACE[scenario])
    rendered = run_tool(
        "helm",
        kube_cluster.kubeconfig,
        "template",
        RELEASE,
        str(CHART),
        "-n",
        namespace,
        *values_args(scenario),
        "--api-versions",
        "monitoring.coreos.com/v1",
        "--kube-version",
        KUBE_VERSION,
    ).stdout
    result = run_tool(
        "kubectl",
        kube_cluster.kubeconfig,
        "apply",
        "--dry-run=server",
        "-f",
        "-",
        stdin=rendered,
    )
    assert "PodSecurity" not in result.stderr, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines and all(line.endswith("(server dry run)") for line in lines), result.stdout
    assert len(lines) == rendered.count("\nkind: ") + rendered.startswith("kind: ")


def test_the_server_rejects_what_the_values_schema_lets_through(
    kube_cluster: KubeControlPlane,
) -> None:
    """A label value with a space passes the chart's schema but not the API server: helm
    fails with the server's own message and the release is recorded as failed."""
    rel = Release(kube_cluster, RELEASE, _namespace(kube_cluster, "rejected"), "default")
    result = rel.helm(
        "install",
        RELEASE,
        str(CHART),
        *values_args("default"),
        "--set-string",
        "inference.podLabels.team=not a label",
        check=False,
    )
    assert result.returncode != 0
    assert "Invalid value" in result.stderr and "not a label" in result.stderr, result.stderr
