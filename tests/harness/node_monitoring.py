"""The monitoring stack on the node, set up as ``make cluster`` gets it from kube-prometheus-stack
(deploy/kube-prometheus-stack-values.yaml), from binaries built or installed here:

* every prometheus-operator CRD, at the operator version the chart is validated against, and
  the Gateway API CRDs (the kind values' HTTPRoutes need the kind);
* the Prometheus Operator (namespace ``monitoring``), managing the kubelet's Service as
  kube-prometheus-stack's does (``kube-system/kube-prometheus-stack-kubelet``);
* a Prometheus named as the chart's (Service ``kube-prometheus-stack-prometheus``), selecting
  ServiceMonitors, PodMonitors and PrometheusRules labelled ``release: kube-prometheus-stack``
  in every namespace, scraping every 15 s (Prometheus built at the operator's default version);
* the exporters the dashboards and alerts read besides porto's own: kube-state-metrics
  (``kube_*``), the kubelet's cAdvisor (``container_*``) and Debian's node exporter (``node_*``),
  each with the ServiceMonitor kube-prometheus-stack ships.

Grafana is the part that does not run here (no build of it is available offline); its
dashboards' queries are evaluated against this Prometheus by the node tests instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.crds import GATEWAY_API_CRDS, PROMETHEUS_OPERATOR_CRDS
from harness.node import NODE_IP
from harness.node_addons import _RESTRICTED, _rbac, apply, deployment, rollout
from harness.node_images import debian_version, tool_version

if TYPE_CHECKING:
    from harness.node import Node

NAMESPACE = "monitoring"
#: kube-prometheus-stack's release name: its Prometheus selects monitors by this label.
RELEASE = "kube-prometheus-stack"
PROMETHEUS = f"{RELEASE}-prometheus"
SELECTOR = {"matchLabels": {"release": RELEASE}}
SCRAPE_INTERVAL = "15s"

_READ = ["get", "list", "watch"]


def _service_monitor(
    name: str,
    namespace: str,
    selector: dict[str, str],
    endpoints: list[dict[str, Any]],
    namespaces: list[str] | None = None,
    job_label: str | None = None,
) -> dict[str, Any]:
    """A ServiceMonitor as kube-prometheus-stack's: ``job_label`` names the Service label whose
    value becomes the targets' ``job`` (``kube-state-metrics``, ``node-exporter``, ``kubelet``,
    which the dashboards and alerts select on)."""
    spec: dict[str, Any] = {"selector": {"matchLabels": selector}, "endpoints": endpoints}
    if job_label:
        spec["jobLabel"] = job_label
    if namespaces:
        spec["namespaceSelector"] = {"matchNames": namespaces}
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": name, "namespace": namespace, "labels": {"release": RELEASE}},
        "spec": spec,
    }


def _service(name: str, labels: dict[str, str], ports: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": {"selector": labels, "ports": ports},
    }


def operator() -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": "prometheus-operator"}
    version = tool_version("prometheus-operator")
    groups = "monitoring.coreos.com"
    rules = [
        {"apiGroups": [groups], "resources": ["*"], "verbs": ["*"]},
        {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["*"]},
        {"apiGroups": [""], "resources": ["configmaps", "secrets"], "verbs": ["*"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "delete"]},
        {
            "apiGroups": [""],
            "resources": ["services", "services/finalizers", "endpoints"],
            "verbs": ["get", "create", "update", "delete"],
        },
        {"apiGroups": [""], "resources": ["nodes", "namespaces"], "verbs": _READ},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
        {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": _READ},
        {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": ["get"]},
        {
            "apiGroups": ["discovery.k8s.io"],
            "resources": ["endpointslices"],
            "verbs": ["get", "list", "watch", "create", "update", "delete"],
        },
        {
            "apiGroups": ["apiextensions.k8s.io"],
            "resources": ["customresourcedefinitions"],
            "verbs": _READ,
        },
    ]
    container = {
        "name": "prometheus-operator",
        "image": f"porto-prometheus-operator:{version}",
        "args": [
            f"--kubelet-service=kube-system/{RELEASE}-kubelet",
            "--kubelet-endpointslice=true",
            f"--prometheus-config-reloader=porto-prometheus-config-reloader:{version}",
            "--log-level=info",
            "--web.listen-address=:8080",
        ],
        "ports": [{"name": "http", "containerPort": 8080}],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
    }
    return [
        *_rbac("prometheus-operator", NAMESPACE, rules),
        deployment("prometheus-operator", NAMESPACE, labels, "prometheus-operator", container),
        _service("prometheus-operator", labels, [{"name": "http", "port": 8080}]),
    ]


def prometheus() -> list[dict[str, Any]]:
    rules = [
        {
            "apiGroups": [""],
            "resources": ["nodes", "nodes/metrics", "services", "endpoints", "pods"],
            "verbs": _READ,
        },
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": _READ},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": _READ},
        {"nonResourceURLs": ["/metrics", "/metrics/cadvisor"], "verbs": ["get"]},
    ]
    version = tool_version("prometheus")
    return [
        *_rbac("prometheus", NAMESPACE, rules),
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "Prometheus",
            "metadata": {"name": PROMETHEUS, "namespace": NAMESPACE},
            "spec": {
                "image": f"porto-prometheus:{version}",
                "version": version,
                "imagePullPolicy": "Never",
                "replicas": 1,
                "serviceAccountName": "prometheus",
                "serviceMonitorSelector": SELECTOR,
                "podMonitorSelector": SELECTOR,
                "ruleSelector": SELECTOR,
                "probeSelector": SELECTOR,
                "serviceMonitorNamespaceSelector": {},
                "podMonitorNamespaceSelector": {},
                "ruleNamespaceSelector": {},
                "scrapeInterval": SCRAPE_INTERVAL,
                "evaluationInterval": SCRAPE_INTERVAL,
                "retention": "1d",
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 65534,
                    "runAsGroup": 65534,
                    "fsGroup": 65534,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": PROMETHEUS,
                "namespace": NAMESPACE,
                "labels": {"app": "kube-prometheus-stack-prometheus"},
            },
            "spec": {
                "selector": {"app.kubernetes.io/name": "prometheus", "prometheus": PROMETHEUS},
                "ports": [{"name": "http-web", "port": 9090, "targetPort": 9090}],
            },
        },
    ]


def kubelet_monitor() -> dict[str, Any]:
    """kube-prometheus-stack's kubelet ServiceMonitor: the kubelet's own metrics and cAdvisor's,
    over HTTPS with the Prometheus ServiceAccount's token."""
    common = {
        "port": "https-metrics",
        "scheme": "https",
        "tlsConfig": {"insecureSkipVerify": True},
        "bearerTokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token",
        "honorLabels": True,
        "interval": SCRAPE_INTERVAL,
    }
    return _service_monitor(
        f"{RELEASE}-kubelet",
        NAMESPACE,
        {"app.kubernetes.io/name": "kubelet"},
        [common, {**common, "path": "/metrics/cadvisor"}],
        namespaces=["kube-system"],
        job_label="k8s-app",
    )


def kube_state_metrics() -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": "kube-state-metrics"}
    groups = [
        "",
        "apps",
        "batch",
        "autoscaling",
        "policy",
        "networking.k8s.io",
        "storage.k8s.io",
        "coordination.k8s.io",
        "certificates.k8s.io",
        "admissionregistration.k8s.io",
        "discovery.k8s.io",
    ]
    container = {
        "name": "kube-state-metrics",
        "image": f"porto-kube-state-metrics:{tool_version('kube-state-metrics')}",
        "args": ["--port=8080", "--telemetry-port=8081"],
        "ports": [
            {"name": "http", "containerPort": 8080},
            {"name": "telemetry", "containerPort": 8081},
        ],
        "readinessProbe": {"httpGet": {"path": "/", "port": 8081}},
        "resources": {"requests": {"cpu": "20m", "memory": "64Mi"}},
    }
    name = f"{RELEASE}-kube-state-metrics"
    return [
        *_rbac(
            "kube-state-metrics",
            NAMESPACE,
            [{"apiGroups": groups, "resources": ["*"], "verbs": ["list", "watch"]}],
        ),
        deployment(name, NAMESPACE, labels, "kube-state-metrics", container),
        _service(name, labels, [{"name": "http", "port": 8080}]),
        _service_monitor(
            name,
            NAMESPACE,
            labels,
            [{"port": "http", "honorLabels": True, "interval": SCRAPE_INTERVAL}],
            job_label="app.kubernetes.io/name",
        ),
    ]


def node_exporter() -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": "prometheus-node-exporter"}
    name = f"{RELEASE}-prometheus-node-exporter"
    host_paths = {"proc": "/proc", "sys": "/sys", "root": "/"}
    daemonset = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "hostNetwork": True,
                    "hostPID": True,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65534,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "node-exporter",
                            "image": f"porto-node-exporter:"
                            f"{debian_version('prometheus-node-exporter')}",
                            "imagePullPolicy": "Never",
                            "args": [
                                # The node's bridge address only, never the host's other interfaces.
                                f"--web.listen-address={NODE_IP}:9100",
                                "--path.procfs=/host/proc",
                                "--path.sysfs=/host/sys",
                                "--path.rootfs=/host/root",
                                "--no-collector.systemd",
                            ],
                            "ports": [{"name": "http-metrics", "containerPort": 9100}],
                            "securityContext": _RESTRICTED,
                            "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}},
                            "volumeMounts": [
                                {"name": key, "mountPath": f"/host/{key}", "readOnly": True}
                                for key in host_paths
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": key, "hostPath": {"path": path}}
                        for key, path in host_paths.items()
                    ],
                },
            },
        },
    }
    service = _service(name, labels, [{"name": "http-metrics", "port": 9100}])
    service["metadata"]["labels"] = {**labels, "jobLabel": "node-exporter"}
    return [
        daemonset,
        service,
        _service_monitor(
            name,
            NAMESPACE,
            labels,
            [{"port": "http-metrics", "interval": SCRAPE_INTERVAL}],
            job_label="jobLabel",
        ),
    ]


def crds() -> list[dict[str, Any]]:
    """Every prometheus-operator CRD and the standard Gateway API CRDs, from the cache."""
    return [*PROMETHEUS_OPERATOR_CRDS.documents(None), *GATEWAY_API_CRDS.documents()]


def apply_monitoring(node: Node) -> None:
    """The stack, waiting until Prometheus runs."""
    node.kubectl("create", "namespace", NAMESPACE, check=False)
    apply(node, crds())
    node.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=120s")
    apply(node, operator() + kube_state_metrics())
    rollout(node, NAMESPACE, "deployment/prometheus-operator")
    apply(node, prometheus() + node_exporter() + [kubelet_monitor()])
    rollout(node, NAMESPACE, f"deployment/{RELEASE}-kube-state-metrics")
    from harness.node import _wait

    _wait(
        lambda: (
            node.kubectl(
                "-n", NAMESPACE, "get", "statefulset", f"prometheus-{PROMETHEUS}", check=False
            ).returncode
            == 0
        ),
        120,
        "the operator to create Prometheus' StatefulSet",
    )
    rollout(
        node,
        NAMESPACE,
        f"statefulset/prometheus-{PROMETHEUS}",
        logs_of="deploy/prometheus-operator",
    )
    # The node exporter is a DaemonSet: one pod, on the node.
    rollout(node, NAMESPACE, f"daemonset/{RELEASE}-prometheus-node-exporter")
