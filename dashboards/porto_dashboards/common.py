"""Selectors and variables both dashboards share, so every panel selects series the same way.

Labels follow what kube-prometheus-stack attaches to a ServiceMonitor target: ``namespace``,
``service``, ``pod``, ``job`` (the Service name). Pods of the inference Deployment are matched by
name (``<deployment>-<replicaset hash>-<suffix>``), which holds because the chart gives the
Deployment and its Service the same name; node panels read node-exporter as kube-prometheus-stack
scrapes it (``job="node-exporter"``, ``instance`` = the node).
"""

from __future__ import annotations

from porto_dashboards.grafana import Variable

#: Grafana folder both dashboards live in (file provisioning and the chart's ConfigMap annotation).
FOLDER = "MLOps"
TAGS = ("porto", "mlops")

#: Series of the selected inference Service (one scrape target per pod).
SERVICE = 'namespace="$namespace", service="$service"'
#: kubelet/cAdvisor and kube-state-metrics series of the selected Service's pods.
PODS = 'namespace="$namespace", pod=~"$service-[a-z0-9]+-[a-z0-9]+"'
#: node-exporter series of the selected nodes.
NODES = 'job="node-exporter", instance=~"$instance"'
#: The service labels inference metrics with the request's route as ``endpoint``, but a
#: ServiceMonitor target has an ``endpoint`` label of its own (the Service port's name), so with
#: the default ``honorLabels: false`` Prometheus keeps the target's and renames the service's to
#: ``exported_endpoint``. The live test scrapes with the same target labels and proves it.
ENDPOINT = "exported_endpoint"
#: Legend text showing the route.
ENDPOINT_LEGEND = "{{" + ENDPOINT + "}}"
#: Grafana's rate window: at least four scrapes, never shorter than the step.
RATE = "$__rate_interval"

NAMESPACE = Variable("namespace", "Namespace", "label_values(model_loaded, namespace)")
SERVICE_VAR = Variable(
    "service", "Service", 'label_values(model_loaded{namespace="$namespace"}, service)'
)
INSTANCE = Variable(
    "instance",
    "Node",
    'label_values(node_uname_info{job="node-exporter"}, instance)',
    multi=True,
    include_all=True,
    all_value=".+",
)
MODEL_VERSION = Variable(
    "model_version",
    "Model version",
    f"label_values(predictions_total{{{SERVICE}}}, model_version)",
    multi=True,
    include_all=True,
    all_value=".+",
)


def quantile(q: float, metric: str, selector: str, by: str = "") -> str:
    """PromQL for the ``q`` quantile of histogram ``metric`` over the rate window."""
    group = f"{by}, le" if by else "le"
    return (
        f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{selector}}}[{RATE}])))"
    )
