"""Every Prometheus metric the service exports, declared in one place.

Under gunicorn each worker is a process, so counters and histograms use prometheus_client's
multiprocess mode, the documented way: ``porto-inference serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh, empty directory before prometheus_client is first
imported and before gunicorn starts (:func:`porto_inference.server.use_metrics_dir`), gunicorn's
``child_exit`` hook marks dead workers, and ``GET /metrics`` merges every worker's files. Only
prometheus_client's public API is used to choose the mode: it reads the environment variable
once, at import, and nothing here patches its private ``values`` module. Gauges
declare how workers combine (``livesum`` for queue depth, ``mostrecent`` for values every worker
computes alike from the database, such as the live F1 score, so nothing is counted twice).

State that belongs to one worker's current view — the served model and its training metrics, the
drift window — is exported by collectors at scrape time instead, so a replaced model or a feature
that no longer exists leaves no stale series behind.

The names, labels and buckets are an interface: the dashboards and alerting rules in
``dashboards/`` query them by name (``inference_*``, ``batch_size``, ``http_requests_total``,
``predictions_total``, ``prediction_score_distribution``, ``model_f1_score``, ...), and
``page_views_total`` is also the UI's page-view counter, so one panel shows both. The ``model``
and ``model_version`` labels carry the model version. A snapshot test
(``tests/inference/monitoring/metrics_exposition.txt``) pins every one of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.02,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
#: Probability histograms: 0.05 wide buckets over [0, 1], the rows of the dashboards' score
#: heatmaps.
PROBABILITY_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))
BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
LOAD_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
FLUSH_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def multiprocess_enabled() -> bool:
    """Whether prometheus_client runs in multiprocess mode (gunicorn workers)."""
    return bool(os.environ.get(MULTIPROC_ENV))


def mark_process_dead(pid: int) -> None:
    """gunicorn ``child_exit``: drop a dead worker's live gauges (its counters stay counted)."""
    if multiprocess_enabled():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class RequestMetrics:
    """What the API middleware counts for every request: the inference dashboard's traffic,
    error and latency panels and the error-ratio and latency alerts query these."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.inference_requests = Counter(
            "inference_requests_total",
            "Inference requests (predict, batch, feedback) by outcome.",
            ["endpoint", "model", "status"],
            registry=registry,
        )
        self.inference_errors = Counter(
            "inference_errors_total",
            "Inference requests that failed (4xx and 5xx).",
            ["endpoint", "model", "status"],
            registry=registry,
        )
        self.inference_latency = Histogram(
            "inference_latency_seconds",
            "Time to answer an inference request, from first byte read to response.",
            ["endpoint", "model"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        # The UI exports its own page_views_total{page}: one page-views panel shows both.
        self.page_views = Counter(
            "page_views_total",
            "Hits on the API's human-facing pages (/docs, /redoc, /).",
            ["page"],
            registry=registry,
        )
        self.http_requests = Counter(
            "http_requests_total",
            "Every HTTP request, by method, route template and status.",
            ["method", "handler", "status"],
            registry=registry,
        )
        self.http_in_flight = Gauge(
            "http_requests_in_flight",
            "HTTP requests being processed now (summed over live workers).",
            multiprocess_mode="livesum",
            registry=registry,
        )


class PredictionMetrics:
    """What the scoring service records per scored row: batch sizes, the probability heatmaps
    (0.05-wide buckets) and the rows by predicted class of both dashboards."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.prediction_value = Histogram(
            "inference_prediction_value",
            "Predicted probability of the positive class.",
            ["model"],
            buckets=PROBABILITY_BUCKETS,
            registry=registry,
        )
        self.batch_size = Histogram(
            "batch_size",
            "Rows per inference request.",
            ["endpoint", "model"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.score_distribution = Histogram(
            "prediction_score_distribution",
            "Distribution of prediction probabilities.",
            ["model_version"],
            buckets=PROBABILITY_BUCKETS,
            registry=registry,
        )
        self.predictions = Counter(
            "predictions_total",
            "Scored rows by predicted class.",
            ["class", "model_version"],
            registry=registry,
        )


def _live_quality_gauge(registry: CollectorRegistry, name: str, documentation: str) -> Gauge:
    """A per-version gauge every worker computes alike from the database (``mostrecent``)."""
    return Gauge(
        name, documentation, ["model_version"], multiprocess_mode="mostrecent", registry=registry
    )


class QualityMetrics:
    """Live quality from feedback, computed from the database by every worker alike (hence
    ``mostrecent``): the model quality dashboard's live panels and the F1 alert."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.model_f1 = _live_quality_gauge(
            registry,
            "model_f1_score",
            "F1 at the model's threshold over the feedback window (from the prediction log).",
        )
        self.model_roc_auc = _live_quality_gauge(
            registry, "model_roc_auc", "ROC-AUC over the feedback window."
        )
        self.model_precision = _live_quality_gauge(
            registry, "model_precision", "Precision at the threshold over the feedback window."
        )
        self.model_recall = _live_quality_gauge(
            registry, "model_recall", "Recall at the threshold over the feedback window."
        )
        self.model_feedback_samples = _live_quality_gauge(
            registry, "model_feedback_samples", "Labelled predictions in the feedback window."
        )


class ModelMetrics:
    """What the model manager records about loading and serving model versions."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.model_load_seconds = Histogram(
            "model_load_duration_seconds",
            "Time to fetch, verify and load a model version.",
            buckets=LOAD_BUCKETS,
            registry=registry,
        )
        self.model_load_last_seconds = Gauge(
            "model_load_last_duration_seconds",
            "Time the latest load of each model version took (fetch, verify, load), per worker.",
            ["model_version"],
            multiprocess_mode="max",
            registry=registry,
        )
        self.model_load_failures = Counter(
            "model_load_failures_total",
            "Model versions that failed to load or verify, by reason.",
            ["version", "reason"],
            registry=registry,
        )
        self.model_swaps = Counter(
            "model_swaps_total",
            "Hot swaps of the served model to a newly promoted version.",
            registry=registry,
        )
        self.model_loaded = Gauge(
            "model_loaded",
            "1 when every live worker serves a model, else 0.",
            multiprocess_mode="livemin",
            registry=registry,
        )
        self.model_serving_fallback = Gauge(
            "model_serving_fallback",
            "1 when a live worker serves a fallback version because the version its alias "
            "names cannot be loaded (/ready says which and why), else 0.",
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.model_fallbacks = Counter(
            "model_fallbacks_total",
            "Times a worker began serving a fallback version, by why the alias's version was "
            "refused (integrity, not_found, store, error).",
            ["reason"],
            registry=registry,
        )


class LogMetrics:
    """What the prediction log records: its queue and writer, and the feedback it stores."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.feedback = Counter(
            "feedback_total",
            "Feedback labels received, by outcome (applied, pending, unknown, refused: the parked "
            "set was full; expired: parked past the horizon without its prediction).",
            ["outcome"],
            registry=registry,
        )
        self.log_queue_depth = Gauge(
            "prediction_log_queue_depth",
            "Rows waiting to be written to PostgreSQL.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.log_written = Counter(
            "prediction_log_written_total", "Rows written to the prediction log.", registry=registry
        )
        self.log_dropped = Counter(
            "prediction_log_dropped_total",
            "Rows never written, by reason (queue_full, shutdown, unstorable).",
            ["reason"],
            registry=registry,
        )
        self.log_quarantined = Counter(
            "prediction_log_quarantined_total",
            "Rows PostgreSQL refused to store, kept in prediction_log_rejected instead.",
            registry=registry,
        )
        self.log_flush_seconds = Histogram(
            "prediction_log_flush_duration_seconds",
            "Time per COPY into the prediction log.",
            buckets=FLUSH_BUCKETS,
            registry=registry,
        )
        self.log_errors = Counter(
            "prediction_log_errors_total",
            "Failed attempts to reach or write the database.",
            registry=registry,
        )
        self.log_backpressure = Counter(
            "prediction_log_backpressure_total",
            "Requests refused with 429 because the log queue was full (overflow policy "
            "backpressure): nothing was scored or dropped.",
            registry=registry,
        )
        self.log_size_bytes = Gauge(
            "prediction_log_size_bytes",
            "On-disk size of the prediction log (every partition, indexes included).",
            multiprocess_mode="max",
            registry=registry,
        )
        self.log_partitions = Gauge(
            "prediction_log_partitions",
            "Partitions of the prediction log (one per UTC day, plus the default one).",
            multiprocess_mode="max",
            registry=registry,
        )
        self.log_oldest_row = Gauge(
            "prediction_log_oldest_row_timestamp_seconds",
            "created_at of the oldest row the prediction log holds (Unix time): retention "
            "keeps time() minus this below log_retention_days.",
            multiprocess_mode="min",
            registry=registry,
        )
        self.log_up = Gauge(
            "prediction_log_database_up",
            "1 when every live worker reaches PostgreSQL, else 0.",
            multiprocess_mode="livemin",
            registry=registry,
        )


class InputMetrics:
    """What the drift monitor counts in the scored rows themselves (data quality)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.feature_missing = Counter(
            "feature_missing_values_total",
            "Missing values per feature in scored rows (rate: divide by sum(predictions_total)).",
            ["feature"],
            registry=registry,
        )
        self.unseen_categories = Counter(
            "feature_unseen_categories_total",
            "Categorical values not seen in training, per feature.",
            ["feature"],
            registry=registry,
        )


#: What the comparison gauges are computed on (their help text's second half).
COMPARED_ON = (
    "on the labelled rows both the champion (role=champion) and the challenger model_version "
    "(role=challenger) scored, over the quality window."
)


class ChallengerMetrics:
    """Shadow scoring of challengers (per worker, summed) and the champion-versus-challenger
    comparison every worker computes alike from the database (``mostrecent``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.shadow_rows = Counter(
            "challenger_shadow_rows_total",
            "Rows a challenger scored in shadow and wrote to challenger_predictions.",
            ["model_version"],
            registry=registry,
        )
        self.shadow_skipped = Counter(
            "challenger_shadow_skipped_total",
            "Rows not scored (or not kept) in shadow, once per challenger, by why: queue_full, "
            "not_loaded, encode_error, score_error, database, error.",
            ["reason"],
            registry=registry,
        )
        self.shadow_queue = Gauge(
            "challenger_shadow_queue_rows",
            "Rows waiting for shadow scoring.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.challenger_loaded = Gauge(
            "challenger_loaded",
            "1 while every live worker has the configured challenger loaded (0: skipped).",
            ["challenger"],
            multiprocess_mode="livemin",
            registry=registry,
        )
        labels = ["model_version", "role"]
        self.compare_auc = Gauge(
            "challenger_roc_auc",
            "Realized ROC-AUC " + COMPARED_ON,
            labels,
            multiprocess_mode="mostrecent",
            registry=registry,
        )
        self.compare_gini = Gauge(
            "challenger_gini",
            "Realized normalised Gini " + COMPARED_ON,
            labels,
            multiprocess_mode="mostrecent",
            registry=registry,
        )
        self.compare_f1 = Gauge(
            "challenger_f1",
            "Realized F1 at each model's threshold " + COMPARED_ON,
            labels,
            multiprocess_mode="mostrecent",
            registry=registry,
        )
        self.compare_ece = Gauge(
            "challenger_ece",
            "Expected calibration error " + COMPARED_ON,
            labels,
            multiprocess_mode="mostrecent",
            registry=registry,
        )
        self.compare_labels = Gauge(
            "challenger_labels",
            "Labelled rows behind the challenger_* comparison gauges.",
            ["model_version"],
            multiprocess_mode="mostrecent",
            registry=registry,
        )


class Metrics(
    RequestMetrics,
    PredictionMetrics,
    QualityMetrics,
    ModelMetrics,
    LogMetrics,
    InputMetrics,
    ChallengerMetrics,
):
    """The service's metrics, registered in ``registry`` (a fresh one per app, so tests that build
    several apps in one process count from zero).

    One family per component that feeds it; ``Metrics`` is all of them at once, so callers write
    ``metrics.http_requests``, and a component that needs one family can take that type.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # *_created series double the output and no dashboard uses them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.multiprocess = multiprocess_enabled()
        self._collectors: list[Collector] = []
        RequestMetrics.__init__(self, self.registry)
        PredictionMetrics.__init__(self, self.registry)
        QualityMetrics.__init__(self, self.registry)
        ModelMetrics.__init__(self, self.registry)
        LogMetrics.__init__(self, self.registry)
        InputMetrics.__init__(self, self.registry)
        ChallengerMetrics.__init__(self, self.registry)

    def add_collector(self, collector: Collector) -> None:
        """Export per-worker state at scrape time (model info, drift window)."""
        self._collectors.append(collector)
        if not self.multiprocess:
            self.registry.register(collector)

    def render(self) -> tuple[bytes, str]:
        """The exposition text for ``GET /metrics`` and its content type."""
        if not self.multiprocess:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        for collector in self._collectors:
            registry.register(collector)
        return generate_latest(registry), CONTENT_TYPE_LATEST


def observe_many(histogram: Any, observed: np.ndarray) -> None:
    """Observe every value of ``observed`` in one pass: one increment per bucket, not per value.

    ``Histogram.observe`` costs a lock and a file write per call in multiprocess mode; a
    1,000-row batch would pay that 1,000 times. This reaches into the histogram's bucket values
    (stable private attributes of prometheus_client, pinned by a test against ``observe``).
    """
    if observed.size == 0:
        return
    bounds = np.asarray(histogram._upper_bounds, dtype=np.float64)
    counts = np.bincount(np.searchsorted(bounds, observed, side="left"), minlength=len(bounds))
    for i, count in enumerate(counts[: len(bounds)].tolist()):
        if count:
            histogram._buckets[i].inc(count)
    histogram._sum.inc(float(observed.sum()))


def _gauge(name: str, documentation: str, labels: Iterable[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


class DriftCollector(Collector):
    """Scrape-time drift gauges, per model version, from a drift monitor's ``merged()`` view:
    under gunicorn the windows of all live workers summed, so any worker answers alike."""

    def __init__(self, monitor: Any) -> None:
        self.monitor = monitor

    def describe(self) -> Iterable[Metric]:
        return ()

    def collect(self) -> Iterable[Metric]:
        psi = _gauge(
            "feature_drift_psi",
            "PSI of each feature over the recent window against the training reference "
            "(< 0.1 stable, 0.1-0.25 moderate, > 0.25 major).",
            ["feature", "model_version"],
        )
        missing = _gauge(
            "feature_missing_ratio",
            "Share of missing values per feature over the recent window.",
            ["feature", "model_version"],
        )
        score = _gauge(
            "prediction_drift_psi",
            "PSI of the predicted scores over the recent window against the holdout scores.",
            ["model_version"],
        )
        window = _gauge(
            "drift_window_rows",
            "Rows in the drift window (every live worker's, merged), per model version.",
            ["model_version"],
        )
        for version, drift in sorted(self.monitor.merged().items()):
            for name, value in drift.psi.items():
                psi.add_metric([name, version], value)
            for name, value in drift.missing_ratio.items():
                missing.add_metric([name, version], value)
            if drift.score_psi is not None:
                score.add_metric([version], drift.score_psi)
            window.add_metric([version], drift.rows)
        return [psi, missing, score, window]


class ModelInfoCollector(Collector):
    """Scrape-time ``model_info`` and the served model's training metrics, from a model manager
    (``current``, ``current_alias``)."""

    def __init__(self, manager: Any) -> None:
        self.manager = manager

    def describe(self) -> Iterable[Metric]:
        return ()

    def collect(self) -> Iterable[Metric]:
        model = self.manager.current
        info = _gauge(
            "model_info",
            "The served model (value 1): name, version, alias, type.",
            ["name", "version", "alias", "model_type"],
        )
        training = _gauge(
            "model_training_metric",
            "Training/evaluation metrics of the served model, from its manifest.",
            ["name", "version", "metric"],
        )
        threshold = _gauge(
            "model_threshold", "Decision threshold of the served model.", ["name", "version"]
        )
        loaded = _gauge(
            "model_loaded_timestamp_seconds",
            "When the answering worker loaded the served model.",
            ["name", "version"],
        )
        if model is not None:
            labels = [model.name, model.version]
            info.add_metric(
                [*labels, self.manager.current_alias or "", model.manifest.model_type], 1.0
            )
            for metric, value in flatten_metrics(model.manifest.metrics).items():
                training.add_metric([*labels, metric], value)
            threshold.add_metric(labels, model.threshold)
            loaded.add_metric(labels, model.loaded_at.timestamp())
        return [info, training, threshold, loaded]


def flatten_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested metrics dict, keyed ``outer_inner`` (booleans excluded)."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_metrics(value, f"{name}_"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = float(value)
    return out
