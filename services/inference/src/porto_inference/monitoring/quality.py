"""Live model quality from feedback: F1, precision, recall and ROC-AUC per model version.

The numbers come from the prediction log (labelled rows in a rolling window), so they are the
same whichever worker computes them: every worker recomputes them now and then and sets gauges in
``mostrecent`` multiprocess mode, so a scrape shows one value per version, never a sum over
workers.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import numpy as np

from porto_inference.log.store import PredictionLog
from porto_inference.monitoring.metrics import QualityMetrics
from porto_inference.periodic import PeriodicTask
from porto_inference.settings import Settings

log = logging.getLogger("porto_inference.quality")


@dataclass
class Quality:
    """Classification quality of one version over the window."""

    samples: int
    f1: float
    precision: float
    recall: float
    roc_auc: float | None


def quality(scores: np.ndarray, predicted: np.ndarray, labels: np.ndarray) -> Quality:
    """Quality of predictions against labels (ROC-AUC needs both classes, else None)."""
    tp = int(((predicted == 1) & (labels == 1)).sum())
    fp = int(((predicted == 1) & (labels == 0)).sum())
    fn = int(((predicted == 0) & (labels == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Quality(len(labels), f1, precision, recall, roc_auc(scores, labels))


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """ROC-AUC by ranks (Mann-Whitney U, ties averaged); None without both classes.

    numpy only: this runs in the event loop, where importing scikit-learn would stall requests
    for most of a second."""
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranked = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    # Average rank over each run of equal scores.
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    ends = np.r_[starts[1:], len(ranked)]
    average = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(average, ends - starts)
    u = ranks[labels == 1].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))


def gini(auc: float | None) -> float | None:
    """The normalised Gini coefficient of a ROC-AUC (2·AUC − 1; None stays None)."""
    return None if auc is None else 2.0 * auc - 1.0


#: Equal-width probability bins of :func:`calibration`'s expected calibration error.
CALIBRATION_BINS = 10


@dataclass
class Calibration:
    """How well probabilities match outcomes over labelled rows."""

    samples: int
    mean_score: float
    """The mean predicted probability."""
    positive_rate: float
    """The observed share of positive labels (a calibrated model's mean score is close)."""
    brier: float
    """Mean squared error of the probabilities (lower is better)."""
    ece: float
    """Expected calibration error: over :data:`CALIBRATION_BINS` equal-width bins, the
    row-weighted mean of |mean score − positive rate| (0 is perfectly calibrated)."""


def calibration(scores: np.ndarray, labels: np.ndarray) -> Calibration | None:
    """Calibration of ``scores`` (probabilities) against 0/1 ``labels``; None without rows."""
    n = len(labels)
    if n == 0:
        return None
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    bins = np.minimum((s * CALIBRATION_BINS).astype(np.int64), CALIBRATION_BINS - 1)
    score_sums = np.bincount(bins, weights=s, minlength=CALIBRATION_BINS)
    label_sums = np.bincount(bins, weights=y, minlength=CALIBRATION_BINS)
    ece = float(np.abs(score_sums - label_sums).sum() / n)
    return Calibration(
        samples=n,
        mean_score=float(s.mean()),
        positive_rate=float(y.mean()),
        brier=float(np.mean((s - y) ** 2)),
        ece=ece,
    )


class QualityMonitor:
    """Recomputes the live quality gauges from the prediction log."""

    def __init__(self, settings: Settings, metrics: QualityMetrics, prediction_log: PredictionLog):
        self.settings = settings
        self.metrics = metrics
        self.prediction_log = prediction_log
        self.latest: dict[str, Quality] = {}
        interval = settings.quality_interval_s
        self._loop = PeriodicTask(
            "quality-monitor",
            # Jitter spreads the workers' queries instead of firing them all at once.
            lambda: interval * random.uniform(0.8, 1.2),
            self._turn,
            what="live quality not refreshed",
            logger=log,
            with_traceback=False,
        )

    def start(self) -> None:
        """Start the periodic task (nothing to do without a prediction log)."""
        if self.prediction_log.enabled:
            self._loop.start()

    async def stop(self) -> None:
        """Stop the periodic task."""
        await self._loop.stop()

    async def _turn(self) -> None:
        if self.prediction_log.state == "up":
            await self.refresh()

    async def refresh(self) -> dict[str, Quality]:
        """Query the window and set the gauges; return the numbers."""
        rows = await self.prediction_log.quality_window(
            self.settings.model_name,
            float(self.settings.quality_window_s),
            self.settings.quality_window_rows,
        )
        if rows is None:
            return {}
        by_version: dict[str, list[tuple[float, int, int]]] = {}
        for r in rows:
            by_version.setdefault(str(r["model_version"]), []).append(
                (float(r["score"]), int(r["predicted_class"]), int(r["label"]))
            )
        result: dict[str, Quality] = {}
        for version, items in by_version.items():
            arr = np.asarray(items, dtype=np.float64)
            q = quality(arr[:, 0], arr[:, 1].astype(int), arr[:, 2].astype(int))
            result[version] = q
            self.metrics.model_f1.labels(version).set(q.f1)
            self.metrics.model_precision.labels(version).set(q.precision)
            self.metrics.model_recall.labels(version).set(q.recall)
            self.metrics.model_feedback_samples.labels(version).set(q.samples)
            if q.roc_auc is not None:
                self.metrics.model_roc_auc.labels(version).set(q.roc_auc)
        self.latest = result
        return result
