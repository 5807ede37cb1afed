"""Where each metric the dashboards and alerts read comes from, when it is not porto's own.

porto's own metrics are declared in ``services/inference/src/porto_inference/monitoring/metrics.py``
(and the training job's in ``porto_training/progress.py``); the tests read the declarations from
there. The rest come from the monitoring stack kube-prometheus-stack installs, or are not exported
yet.
"""

from __future__ import annotations

#: Exporter → metric-name prefixes (or exact names) it provides in a kube-prometheus-stack cluster.
EXTERNAL: dict[str, tuple[str, ...]] = {
    "node-exporter": ("node_",),
    "kubelet / cAdvisor": ("container_",),
    "kube-state-metrics": ("kube_",),
    "Prometheus (scrape health)": ("up",),
}

#: Metrics the dashboards and alerts use that the inference service does not export yet, with
#: the type and labels asked for. Panels that read them show "No data" until it does; the live
#: test expects exactly that (a strict xfail), so adding one to the service flags this list.
PENDING: dict[str, str] = {}


def external_source(name: str) -> str | None:
    """The exporter that provides metric ``name`` in a cluster, or None if it is not external."""
    for source, prefixes in EXTERNAL.items():
        if any(name == p or (p.endswith("_") and name.startswith(p)) for p in prefixes):
            return source
    return None
