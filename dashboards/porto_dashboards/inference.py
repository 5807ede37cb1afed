"""porto / Inference service: traffic, errors, latency, predictions, the service's internals,
its pods (kube-prometheus-stack) and the nodes under them (node-exporter).

The service's traffic panels, with no hard-coded disk device or instance.
"""

from __future__ import annotations

from porto_dashboards.common import (
    ENDPOINT,
    ENDPOINT_LEGEND,
    INSTANCE,
    NAMESPACE,
    NODES,
    PODS,
    RATE,
    SERVICE,
    SERVICE_VAR,
    TAGS,
    quantile,
)
from porto_dashboards.grafana import (
    Dashboard,
    Override,
    Query,
    Row,
    bargauge,
    gauge,
    heatmap,
    stat,
    timeseries,
)

S = SERVICE
PREDICT = f'{S}, {ENDPOINT}="/predict"'
#: Pseudo and container-runtime filesystems say nothing about a node's disks.
FILESYSTEMS = (
    'fstype!~"tmpfs|overlay|squashfs|ramfs|nsfs|autofs|proc|sysfs|fuse.*", '
    'mountpoint!~"/run|/run/.*|/var/lib/(kubelet|docker|containerd)/.*"'
)
DISKS = 'device!~"(ram|loop|zram|fd|sr|nbd)[0-9]*"'
_ERRORS = [(None, "green"), (0.01, "orange"), (0.05, "red")]


def _error_ratio(status_re: str, window: str) -> str:
    """Share of inference requests answered with ``status_re``; 0 (not empty) when none were."""
    return (
        f'(sum(rate(inference_errors_total{{{S}, status=~"{status_re}"}}[{window}])) or vector(0))'
        f" / sum(rate(inference_requests_total{{{S}}}[{window}]))"
    )


TRAFFIC = (
    Row("Traffic"),
    stat(
        "Requests",
        "Inference requests (predict, batch, feedback) in the selected time range.",
        "short",
        Query(f"sum(increase(inference_requests_total{{{S}}}[$__range]))", "requests"),
    ),
    stat(
        "Error ratio",
        "Share of inference requests answered 4xx or 5xx in the selected time range.",
        "percentunit",
        Query(_error_ratio("4..|5..", "$__range"), "errors"),
        decimals=2,
        thresholds=tuple(_ERRORS),
    ),
    stat(
        "p95 latency /predict",
        "95th percentile time to answer POST /predict, over the rate window.",
        "s",
        Query(quantile(0.95, "inference_latency_seconds", PREDICT), "p95"),
        thresholds=((None, "green"), (0.1, "orange"), (0.25, "red")),
    ),
    stat(
        "In flight now",
        "HTTP requests being processed right now, summed over every worker of every pod.",
        "short",
        Query(f"sum(http_requests_in_flight{{{S}}})", "in flight"),
    ),
    stat(
        "Model loaded",
        "Whether every live worker of every pod serves a model (the readiness condition).",
        "none",
        Query(f"min(model_loaded{{{S}}})", "model"),
        thresholds=((None, "red"), (1, "green")),
        mappings=(("0", "no model", "red"), ("1", "loaded", "green")),
        graph=False,
    ),
    stat(
        "Pods available",
        "Available replicas of the inference Deployment (kube-state-metrics).",
        "short",
        Query(
            'sum(kube_deployment_status_replicas_available{namespace="$namespace", '
            'deployment="$service"})',
            "available",
        ),
        thresholds=((None, "red"), (1, "green")),
        graph=False,
    ),
    timeseries(
        "Request rate by endpoint",
        "Inference requests per second, by endpoint.",
        "reqps",
        Query(
            f"sum by ({ENDPOINT}) (rate(inference_requests_total{{{S}}}[{RATE}]))",
            ENDPOINT_LEGEND,
        ),
    ),
    timeseries(
        "Error rate",
        "Share of inference requests answered with a server error (5xx: the service failed) "
        "or a client error (4xx: invalid input, unknown model version, payload too large).",
        "percentunit",
        Query(_error_ratio("5..", RATE), "server errors (5xx)"),
        Query(_error_ratio("4..", RATE), "client errors (4xx)"),
        min=0,
        thresholds=tuple(_ERRORS),
    ),
    timeseries(
        "Latency /predict (p50 / p95 / p99)",
        "Time to answer POST /predict, from the first byte read to the response.",
        "s",
        Query(quantile(0.5, "inference_latency_seconds", PREDICT), "p50"),
        Query(quantile(0.95, "inference_latency_seconds", PREDICT), "p95"),
        Query(quantile(0.99, "inference_latency_seconds", PREDICT), "p99"),
        min=0,
    ),
    timeseries(
        "p95 latency by endpoint",
        "95th percentile latency of each inference endpoint (batches take longer per request).",
        "s",
        Query(quantile(0.95, "inference_latency_seconds", S, ENDPOINT), ENDPOINT_LEGEND),
        min=0,
    ),
    timeseries(
        "Errors by endpoint and status",
        "Failed inference requests per second, by endpoint and HTTP status.",
        "reqps",
        Query(
            f"sum by ({ENDPOINT}, status) (rate(inference_errors_total{{{S}}}[{RATE}]))",
            ENDPOINT_LEGEND + " {{status}}",
        ),
    ),
    timeseries(
        "HTTP requests by route and status",
        "Every HTTP request the API answered (health checks and metrics scrapes included).",
        "reqps",
        Query(
            f"sum by (handler, status) (rate(http_requests_total{{{S}}}[{RATE}]))",
            "{{handler}} {{status}}",
        ),
    ),
    timeseries(
        "In-flight requests",
        "HTTP requests being processed, per pod.",
        "short",
        Query(f"sum by (pod) (http_requests_in_flight{{{S}}})", "{{pod}}"),
        min=0,
    ),
    timeseries(
        "Page views",
        "Views of human-facing pages per second: the API's /docs, /redoc and /, and the UI's "
        "pages (every porto Service of the namespace).",
        "reqps",
        Query(
            f'sum by (service, page) (rate(page_views_total{{namespace="$namespace"}}[{RATE}]))',
            "{{service}} {{page}}",
        ),
    ),
)

PREDICTIONS = (
    Row("Predictions"),
    timeseries(
        "Batch size",
        "Rows per request: mean per endpoint, and the 95th percentile of /predict/batch.",
        "short",
        Query(
            f"sum by ({ENDPOINT}) (rate(batch_size_sum{{{S}}}[{RATE}])) / "
            f"sum by ({ENDPOINT}) (rate(batch_size_count{{{S}}}[{RATE}]))",
            "mean " + ENDPOINT_LEGEND,
        ),
        Query(
            quantile(0.95, "batch_size", f'{S}, {ENDPOINT}="/predict/batch"'), "p95 /predict/batch"
        ),
        min=0,
    ),
    heatmap(
        "Prediction distribution",
        "Predicted probability of the positive class: rows per 0.05-wide bucket over time.",
        "short",
        Query(
            f"sum by (le) (increase(inference_prediction_value_bucket{{{S}}}[{RATE}]))",
            "{{le}}",
            heatmap=True,
        ),
    ),
    timeseries(
        "Rows scored per second",
        "Rows scored per second (single predictions and batch rows), by model version.",
        "short",
        Query(
            f"sum by (model_version) (rate(predictions_total{{{S}}}[{RATE}]))",
            "{{model_version}}",
        ),
        min=0,
    ),
    timeseries(
        "Mean predicted probability",
        "Average predicted probability of the positive class; a shift hints at drift.",
        "percentunit",
        Query(
            f"sum(rate(inference_prediction_value_sum{{{S}}}[{RATE}])) / "
            f"sum(rate(inference_prediction_value_count{{{S}}}[{RATE}]))",
            "mean probability",
        ),
        min=0,
    ),
)

INTERNALS = (
    Row("Model loading and prediction log"),
    timeseries(
        "Model loads, swaps and failures",
        "Hot swaps to a newly promoted version, and versions that failed to load or verify.",
        "short",
        Query(f"sum(increase(model_swaps_total{{{S}}}[{RATE}]))", "swaps"),
        Query(
            f"sum(increase(model_load_failures_total{{{S}}}[{RATE}])) or vector(0)",
            "load failures",
        ),
        Query(
            f"sum(model_load_duration_seconds_sum{{{S}}}) / "
            f"sum(model_load_duration_seconds_count{{{S}}})",
            "mean load time (s)",
        ),
        min=0,
        width=8,
    ),
    timeseries(
        "Prediction log queue",
        "Rows waiting to be written to PostgreSQL (all workers); it grows while the database "
        "is slow or down and drains after.",
        "short",
        Query(f"sum(prediction_log_queue_depth{{{S}}})", "queued rows"),
        min=0,
        width=8,
    ),
    timeseries(
        "Prediction log throughput",
        "Rows written to the prediction log per second, rows dropped (queue full or shutdown) "
        "and failed database attempts.",
        "short",
        Query(f"sum(rate(prediction_log_written_total{{{S}}}[{RATE}]))", "written rows/s"),
        Query(
            f"sum(rate(prediction_log_dropped_total{{{S}}}[{RATE}])) or vector(0)",
            "dropped rows/s",
        ),
        Query(
            f"sum(rate(prediction_log_errors_total{{{S}}}[{RATE}])) or vector(0)",
            "database errors/s",
        ),
        Query(
            f"sum(rate(prediction_log_backpressure_total{{{S}}}[{RATE}])) or vector(0)",
            "requests refused (backpressure)/s",
        ),
        min=0,
        width=8,
    ),
    timeseries(
        "Prediction log size",
        "The log's size on disk (every day partition, indexes included) and the age of its "
        "oldest row: with retention on, the age stays below LOG_RETENTION_DAYS.",
        "bytes",
        Query(f"max(prediction_log_size_bytes{{{S}}})", "size"),
        Query(
            f"(time() - min(prediction_log_oldest_row_timestamp_seconds{{{S}}})) / 86400",
            "oldest row (days)",
        ),
        overrides=(Override("B", "d", axis_right=True),),
        min=0,
        width=8,
    ),
)

PODS_ROW = (
    Row("Pods (kube-prometheus-stack)"),
    timeseries(
        "CPU usage per pod (cores)",
        "CPU time per second of the inference containers (cAdvisor).",
        "short",
        Query(
            f"sum by (pod) (rate(container_cpu_usage_seconds_total"
            f'{{{PODS}, container!="", container!="POD"}}[{RATE}]))',
            "{{pod}}",
        ),
        min=0,
        width=9,
    ),
    gauge(
        "CPU usage of limit",
        "CPU used by all inference pods as a share of their CPU limits.",
        Query(
            f"sum(rate(container_cpu_usage_seconds_total"
            f'{{{PODS}, container!="", container!="POD"}}[{RATE}])) / '
            f'sum(kube_pod_container_resource_limits{{{PODS}, resource="cpu"}})',
            "CPU",
        ),
        width=3,
    ),
    timeseries(
        "Memory per pod",
        "Working-set memory of the inference containers (what the OOM killer looks at).",
        "bytes",
        Query(
            f"sum by (pod) (container_memory_working_set_bytes"
            f'{{{PODS}, container!="", container!="POD"}})',
            "{{pod}}",
        ),
        min=0,
        width=9,
    ),
    gauge(
        "Memory usage of limit",
        "Working-set memory of all inference pods as a share of their memory limits.",
        Query(
            f'sum(container_memory_working_set_bytes{{{PODS}, container!="", container!="POD"}})'
            f' / sum(kube_pod_container_resource_limits{{{PODS}, resource="memory"}})',
            "memory",
        ),
        width=3,
    ),
    timeseries(
        "Pod restarts",
        "Container restarts per pod and rate window (crashes, OOM kills, failed probes).",
        "short",
        Query(
            f"sum by (pod) (increase(kube_pod_container_status_restarts_total{{{PODS}}}[{RATE}]))",
            "{{pod}}",
        ),
        min=0,
    ),
    timeseries(
        "Replicas",
        "Desired, available and unavailable replicas of the inference Deployment.",
        "short",
        Query(
            'sum(kube_deployment_spec_replicas{namespace="$namespace", deployment="$service"})',
            "desired",
        ),
        Query(
            'sum(kube_deployment_status_replicas_available{namespace="$namespace", '
            'deployment="$service"})',
            "available",
        ),
        Query(
            'sum(kube_deployment_status_replicas_unavailable{namespace="$namespace", '
            'deployment="$service"})',
            "unavailable",
        ),
        min=0,
    ),
)

NODE_ROW = (
    Row("Nodes (node-exporter)"),
    timeseries(
        "Node CPU usage",
        "Share of CPU time not idle, per node.",
        "percentunit",
        Query(
            f'1 - avg by (instance) (rate(node_cpu_seconds_total{{{NODES}, mode="idle"}}[{RATE}]))',
            "{{instance}}",
        ),
        min=0,
        max=1,
        width=9,
    ),
    gauge(
        "Node CPU",
        "CPU busy across the selected nodes.",
        Query(f'1 - avg(rate(node_cpu_seconds_total{{{NODES}, mode="idle"}}[{RATE}]))', "CPU"),
        width=3,
    ),
    timeseries(
        "Node memory usage",
        "Share of memory not available to new processes (MemAvailable), per node.",
        "percentunit",
        Query(
            f"1 - sum by (instance) (node_memory_MemAvailable_bytes{{{NODES}}}) / "
            f"sum by (instance) (node_memory_MemTotal_bytes{{{NODES}}})",
            "{{instance}}",
        ),
        min=0,
        max=1,
        width=9,
    ),
    gauge(
        "Node memory",
        "Memory in use across the selected nodes.",
        Query(
            f"1 - sum(node_memory_MemAvailable_bytes{{{NODES}}}) / "
            f"sum(node_memory_MemTotal_bytes{{{NODES}}})",
            "memory",
        ),
        width=3,
    ),
    bargauge(
        "Disk usage",
        "Used share of each real filesystem, per node and mount point (pseudo and "
        "container-runtime filesystems left out; no device is named).",
        "percentunit",
        Query(
            f"max by (instance, mountpoint) (1 - node_filesystem_avail_bytes{{{NODES}, "
            f"{FILESYSTEMS}}} / node_filesystem_size_bytes{{{NODES}, {FILESYSTEMS}}})",
            "{{instance}} {{mountpoint}}",
            instant=True,
        ),
        max=1,
        width=8,
        thresholds=((None, "green"), (0.8, "orange"), (0.9, "red")),
    ),
    timeseries(
        "Disk I/O",
        "Bytes read and written per second, per node and block device.",
        "Bps",
        Query(
            f"sum by (instance, device) (rate(node_disk_read_bytes_total{{{NODES}, {DISKS}}}"
            f"[{RATE}]))",
            "read {{instance}} {{device}}",
        ),
        Query(
            f"sum by (instance, device) (rate(node_disk_written_bytes_total{{{NODES}, {DISKS}}}"
            f"[{RATE}]))",
            "write {{instance}} {{device}}",
        ),
        min=0,
        width=8,
    ),
    timeseries(
        "Processes",
        "Processes running and blocked on I/O, and processes started per second, per node.",
        "short",
        Query(f"sum by (instance) (node_procs_running{{{NODES}}})", "running {{instance}}"),
        Query(f"sum by (instance) (node_procs_blocked{{{NODES}}})", "blocked {{instance}}"),
        Query(
            f"sum by (instance) (rate(node_forks_total{{{NODES}}}[{RATE}]))",
            "forks/s {{instance}}",
        ),
        min=0,
        width=8,
    ),
)

DASHBOARD = Dashboard(
    uid="porto-inference",
    title="porto / Inference service",
    description="Traffic, errors, latency and predictions of the porto inference API, with its "
    "pods (kube-prometheus-stack) and nodes (node-exporter).",
    tags=(*TAGS, "inference"),
    variables=(NAMESPACE, SERVICE_VAR, INSTANCE),
    items=(*TRAFFIC, *PREDICTIONS, *INTERNALS, *PODS_ROW, *NODE_ROW),
)
