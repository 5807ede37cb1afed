"""Every metric the service exports keeps its name, type, labels, help text, buckets and
multiprocess mode: the dashboards and alerts in ``dashboards/`` query them, and a rename or a
moved bucket would blank a panel without failing anything else.

``metrics_exposition.txt`` is the exposition of a fresh ``Metrics`` (one child per labelled
metric, each label set to its own name, so label names and histogram buckets show) plus the
scrape-time collectors fed with one of everything. Families are compared in name order: the
order of declaration means nothing to Prometheus. After an intended change, regenerate it with
``python tests/inference/monitoring/test_metrics_exposition.py`` and review the diff.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from porto_inference.monitoring.metrics import DriftCollector, Metrics, ModelInfoCollector
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.metrics import MetricWrapperBase

SNAPSHOT = Path(__file__).with_name("metrics_exposition.txt")


def _monitor() -> SimpleNamespace:
    drift = SimpleNamespace(
        psi={"feature": 0.0}, missing_ratio={"feature": 0.0}, score_psi=0.0, rows=0
    )
    return SimpleNamespace(merged=lambda: {"model_version": drift})


def _manager() -> SimpleNamespace:
    manifest = SimpleNamespace(model_type="model_type", metrics={"metric": 0.0})
    model = SimpleNamespace(
        name="name",
        version="version",
        manifest=manifest,
        threshold=0.0,
        loaded_at=datetime(1970, 1, 1, tzinfo=UTC),
    )
    return SimpleNamespace(current=model, current_alias="alias")


def _attributes(metrics: Metrics) -> dict[str, MetricWrapperBase]:
    """The metrics callers reach as ``metrics.<attribute>``, by attribute name."""
    names = sorted(name for name in dir(metrics) if not name.startswith("_"))
    found = {name: getattr(metrics, name) for name in names}
    return {name: m for name, m in found.items() if isinstance(m, MetricWrapperBase)}


def _families(text: str) -> list[str]:
    """The exposition split into one block per metric family, in name order."""
    blocks = ["# HELP" + block for block in text.split("# HELP") if block]
    return sorted(blocks)


def exposition() -> str:
    """The snapshot text of a fresh ``Metrics``."""
    metrics = Metrics(CollectorRegistry(auto_describe=True))
    lines = []
    for attribute, metric in _attributes(metrics).items():
        # Private but stable attributes of prometheus_client: the label names and how a gauge
        # combines workers are not in the exposition text.
        labels = list(metric._labelnames)
        mode = ""
        if isinstance(metric, Gauge):
            mode = f" multiprocess_mode={metric._multiprocess_mode}"
        lines.append(f"# attribute {attribute}: {metric._name} {labels}{mode}")
        if labels:
            metric.labels(*labels)
    metrics.add_collector(DriftCollector(_monitor()))
    metrics.add_collector(ModelInfoCollector(_manager()))
    text = generate_latest(metrics.registry).decode()
    return "\n".join(lines) + "\n" + "".join(_families(text))


def test_the_exposition_matches_the_snapshot() -> None:
    assert exposition() == SNAPSHOT.read_text()


if __name__ == "__main__":
    SNAPSHOT.write_text(exposition())
