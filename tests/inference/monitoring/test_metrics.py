"""observe_many equals observe; the metric names the dashboards query exist; multiprocess mode is
chosen through the environment, prometheus_client's documented switch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from porto_inference.monitoring.metrics import (
    PROBABILITY_BUCKETS,
    Metrics,
    flatten_metrics,
    observe_many,
)
from prometheus_client import CollectorRegistry, Histogram


def test_observe_many_equals_observe_one_by_one() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.random(997), [0.0, 0.05, 1.0, 0.1, 0.95]])
    one, many = CollectorRegistry(), CollectorRegistry()
    h_one = Histogram("h", "h", buckets=PROBABILITY_BUCKETS, registry=one)
    h_many = Histogram("h", "h", buckets=PROBABILITY_BUCKETS, registry=many)
    for v in values:
        h_one.observe(float(v))
    observe_many(h_many, values)
    observe_many(h_many, np.empty(0))
    for le in [*(str(b) for b in PROBABILITY_BUCKETS), "+Inf"]:
        assert one.get_sample_value("h_bucket", {"le": le}) == many.get_sample_value(
            "h_bucket", {"le": le}
        ), le
    assert one.get_sample_value("h_count") == many.get_sample_value("h_count") == len(values)
    assert many.get_sample_value("h_sum") == pytest.approx(one.get_sample_value("h_sum"))


def test_the_metric_names_the_dashboards_query_exist() -> None:
    text = Metrics().render()[0].decode()
    for name in (
        "inference_requests_total",
        "inference_errors_total",
        "inference_latency_seconds",
        "page_views_total",
        "inference_prediction_value",
        "batch_size",
        "model_f1_score",
        "prediction_score_distribution",
        "predictions_total",
        "http_requests_total",
    ):
        assert f"# TYPE {name} " in text, name


def test_prediction_value_buckets_are_005_wide() -> None:
    assert PROBABILITY_BUCKETS[0] == 0.05
    assert PROBABILITY_BUCKETS[-1] == 1.0
    assert len(PROBABILITY_BUCKETS) == 20


def test_flatten_training_metrics() -> None:
    nested = {"test": {"roc_auc": 0.7, "n": 3, "ok": True}, "name": "x", "gini": 0.4}
    assert flatten_metrics(nested) == {"test_roc_auc": 0.7, "test_n": 3.0, "gini": 0.4}


def test_roc_auc_matches_scikit_learn() -> None:
    from porto_inference.monitoring.quality import roc_auc
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    labels = (rng.random(500) < 0.2).astype(int)
    scores = np.round(rng.random(500) * 0.5 + labels * 0.2, 2)  # many ties
    assert roc_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores))
    assert roc_auc(scores, np.zeros(500, dtype=int)) is None


def test_in_flight_gauge_counts_requests_being_processed() -> None:
    import asyncio

    from porto_inference.api.middleware import RequestMiddleware
    from porto_inference.monitoring.metrics import Metrics

    metrics = Metrics()
    seen: list[float] = []

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        seen.append(metrics.registry.get_sample_value("http_requests_in_flight") or 0.0)

    middleware = RequestMiddleware(app, metrics=metrics)  # type: ignore[arg-type]
    scope = {"type": "http", "headers": [], "method": "GET", "path": "/health", "state": {}}
    asyncio.run(middleware(scope, None, None))  # type: ignore[arg-type]
    assert seen == [1.0]
    assert metrics.registry.get_sample_value("http_requests_in_flight") == 0.0


def _python(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    return subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "multiproc")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_serve_selects_multiprocess_mode_through_the_environment_only(tmp_path: Path) -> None:
    """What ``serve`` does before gunicorn forks: the variable is set before prometheus_client
    is imported, so its own (public) switch picks multiprocess values; Metrics leaves
    prometheus_client's private value class alone, and counts land in per-pid files that
    /metrics merges."""
    script = (
        "import os, sys, json\n"
        "from pathlib import Path\n"
        "from porto_inference.server import use_metrics_dir\n"
        "assert 'prometheus_client' not in sys.modules\n"
        "path = use_metrics_dir(Path(sys.argv[1]))\n"
        "import prometheus_client.values as v\n"
        "before = v.ValueClass\n"
        "from porto_inference.monitoring.metrics import Metrics\n"
        "m = Metrics()\n"
        "m.feedback.labels('applied').inc(3)\n"
        "if os.fork() == 0:\n"
        "    m.feedback.labels('applied').inc(4)\n"
        "    os._exit(0)\n"
        "os.wait()\n"
        "print(json.dumps({'same': v.ValueClass is before, 'files': sorted(\n"
        "    p.name for p in path.iterdir()), 'pid': os.getpid(),\n"
        "    'text': Metrics().render()[0].decode()}))\n"
    )
    proc = _python(script, tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["same"], "Metrics() replaced prometheus_client's value class"
    counters = [f for f in out["files"] if f.startswith("counter_")]
    assert f"counter_{out['pid']}.db" in counters and len(counters) == 2  # parent and child
    assert 'feedback_total{outcome="applied"} 7.0' in out["text"]


def test_serve_refuses_a_prometheus_client_imported_too_early(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "import prometheus_client\n"
        "from porto_inference.server import use_metrics_dir\n"
        "use_metrics_dir(Path(sys.argv[1]))\n"
    )
    proc = _python(script, tmp_path)
    assert proc.returncode != 0
    assert "prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set" in proc.stderr
