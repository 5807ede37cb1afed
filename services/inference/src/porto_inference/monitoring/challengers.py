"""Champion against challenger on realized labels: the comparison, the promotion suggestion, and
the gauges the dashboard draws.

Every figure is **paired**: computed on the labelled served rows a challenger also scored in
shadow (``challenger_predictions`` joined with ``prediction_log`` on the served prediction id), so
champion and challenger are judged on exactly the same rows and labels. The champion's score is
the served one (the served version at the time; an answer lists them all). Quality and
calibration are :mod:`porto_inference.monitoring.quality`'s, as on the quality page.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime
from typing import Any

import numpy as np
from porto.contracts.monitoring import (
    ChallengerComparison,
    ChallengerReport,
    ModelFigures,
    PairedBucket,
    PromotionSuggestion,
)
from porto.contracts.serving import ChallengerState

from porto_inference.log.challengers import paired_rows
from porto_inference.log.store import PredictionLog
from porto_inference.monitoring.metrics import ChallengerMetrics
from porto_inference.monitoring.quality import calibration, gini, quality
from porto_inference.periodic import PeriodicTask
from porto_inference.settings import Settings

log = logging.getLogger("porto_inference.challengers")

#: Columns of a paired array, as :func:`_arrays` builds it.
_TIME, _LABEL, _CHAMP_SCORE, _CHAMP_CLASS, _CHAL_SCORE, _CHAL_CLASS = range(6)


def model_figures(scores: np.ndarray, predicted: np.ndarray, labels: np.ndarray) -> ModelFigures:
    """Quality (F1, precision, recall, ROC-AUC, Gini) and calibration of one model's scores."""
    q = quality(scores, predicted, labels)
    c = calibration(scores, labels)
    return ModelFigures(
        samples=q.samples,
        positives=int(labels.sum()),
        f1=q.f1,
        precision=q.precision,
        recall=q.recall,
        roc_auc=q.roc_auc,
        gini=gini(q.roc_auc),
        brier=None if c is None else c.brier,
        ece=None if c is None else c.ece,
        mean_score=None if c is None else c.mean_score,
        positive_rate=None if c is None else c.positive_rate,
    )


def _pair(arr: np.ndarray) -> tuple[ModelFigures, ModelFigures]:
    labels = arr[:, _LABEL].astype(int)
    champion = model_figures(arr[:, _CHAMP_SCORE], arr[:, _CHAMP_CLASS].astype(int), labels)
    challenger = model_figures(arr[:, _CHAL_SCORE], arr[:, _CHAL_CLASS].astype(int), labels)
    return champion, challenger


def suggestion(
    version: str,
    champion: ModelFigures,
    challenger: ModelFigures,
    *,
    min_labels: int,
    min_auc_gain: float,
) -> PromotionSuggestion:
    """Promote ``version`` when its ROC-AUC beats the champion's by ``min_auc_gain`` or more on
    at least ``min_labels`` paired labels holding both classes; otherwise say what is missing."""
    labels = challenger.samples
    gain = (
        None
        if challenger.roc_auc is None or champion.roc_auc is None
        else challenger.roc_auc - champion.roc_auc
    )

    def answer(promote: bool, reason: str, how: str | None = None) -> PromotionSuggestion:
        return PromotionSuggestion(
            promote=promote,
            reason=reason,
            auc_gain=gain,
            labels=labels,
            min_labels=min_labels,
            min_auc_gain=min_auc_gain,
            how=how,
        )

    if labels < min_labels:
        return answer(False, f"not enough labels: {labels} of the {min_labels} needed")
    if gain is None or champion.roc_auc is None or challenger.roc_auc is None:
        return answer(False, f"the {labels} labels hold a single class: no ROC-AUC")
    figures = (
        f"ROC-AUC {challenger.roc_auc:.4f} against the champion's {champion.roc_auc:.4f} "
        f"({gain:+.4f}) on {labels} labels"
    )
    if gain < min_auc_gain:
        return answer(False, f"not better by {min_auc_gain:g}: {figures}")
    return answer(
        True,
        f"promote {version}: {figures}",
        f"POST /models/{version}/promote, or `porto-train models promote {version}`",
    )


def _arrays(rows: list[Any]) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Rows by challenger version: (times, label, champion score, class, challenger score,
    class) as one float array, and the champion versions met."""
    by_version: dict[str, list[tuple[float, ...]]] = {}
    champions: dict[str, set[str]] = {}
    for r in rows:
        version = str(r["challenger_version"])
        by_version.setdefault(version, []).append(
            (
                r["created_at"].timestamp(),
                float(r["label"]),
                float(r["champion_score"]),
                float(r["champion_class"]),
                float(r["challenger_score"]),
                float(r["challenger_class"]),
            )
        )
        champions.setdefault(version, set()).add(str(r["champion_version"]))
    return {
        v: (np.asarray(items, dtype=np.float64), sorted(champions[v]))
        for v, items in by_version.items()
    }


def comparison_report(
    rows: list[Any],
    *,
    minutes: int,
    bucket_minutes: int,
    limit: int,
    min_labels: int,
    min_auc_gain: float,
    shadow_share: float,
    canary_share: float,
    configured: list[ChallengerState],
) -> ChallengerComparison:
    """Per challenger version: champion and challenger over the whole window and per
    prediction-time bucket (oldest first), each point with the labels behind it, and the
    promotion suggestion."""
    step = bucket_minutes * 60
    reports = []
    for version, (arr, champions) in sorted(_arrays(rows).items()):
        champion, challenger = _pair(arr)
        starts = arr[:, _TIME] // step * step
        series = []
        for start in np.unique(starts):
            sel = arr[starts == start]
            ch, cl = _pair(sel)
            series.append(
                PairedBucket(
                    start=datetime.fromtimestamp(float(start), UTC).isoformat(),
                    labels=len(sel),
                    champion=ch,
                    challenger=cl,
                )
            )
        reports.append(
            ChallengerReport(
                model_version=version,
                champion_versions=champions,
                labels=len(arr),
                champion=champion,
                challenger=challenger,
                series=series,
                promotion=suggestion(
                    version,
                    champion,
                    challenger,
                    min_labels=min_labels,
                    min_auc_gain=min_auc_gain,
                ),
            )
        )
    return ChallengerComparison(
        minutes=minutes,
        bucket_minutes=bucket_minutes,
        limit=limit,
        shadow_share=shadow_share,
        canary_share=canary_share,
        configured=configured,
        challengers=reports,
    )


async def compare(
    prediction_log: PredictionLog,
    settings: Settings,
    configured: list[ChallengerState],
    *,
    minutes: int,
    bucket_minutes: int,
    limit: int,
) -> ChallengerComparison:
    """``GET /monitoring/challengers``: the newest ``limit`` paired labelled rows of the last
    ``minutes``, compared (503 when the log cannot answer)."""
    rows = await paired_rows(prediction_log.db, settings.model_name, minutes * 60.0, limit)
    return comparison_report(
        rows,
        minutes=minutes,
        bucket_minutes=bucket_minutes,
        limit=limit,
        min_labels=settings.promote_min_labels,
        min_auc_gain=settings.promote_min_auc_gain,
        shadow_share=settings.shadow_share,
        canary_share=settings.canary_share,
        configured=configured,
    )


class ChallengerMonitor:
    """Sets the ``challenger_*`` comparison gauges from the database now and then (every worker
    alike: ``mostrecent``), over the live-quality window."""

    def __init__(
        self, settings: Settings, metrics: ChallengerMetrics, prediction_log: PredictionLog
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.prediction_log = prediction_log
        interval = settings.quality_interval_s
        self._loop = PeriodicTask(
            "challenger-monitor",
            lambda: interval * random.uniform(0.8, 1.2),
            self._turn,
            what="challenger comparison not refreshed",
            logger=log,
            with_traceback=False,
        )

    def start(self) -> None:
        """Start the periodic task (only with challengers and a prediction log)."""
        if self.settings.challengers and self.prediction_log.enabled:
            self._loop.start()

    async def stop(self) -> None:
        """Stop the periodic task."""
        await self._loop.stop()

    async def _turn(self) -> None:
        if self.prediction_log.state == "up":
            await self.refresh()

    async def refresh(self) -> dict[str, tuple[ModelFigures, ModelFigures]]:
        """Query the window, set the gauges; return (champion, challenger) per version."""
        rows = await paired_rows(
            self.prediction_log.db,
            self.settings.model_name,
            self.settings.quality_window_s,
            self.settings.quality_window_rows,
        )
        out: dict[str, tuple[ModelFigures, ModelFigures]] = {}
        m = self.metrics
        for version, (arr, _) in _arrays(rows).items():
            pair = out[version] = _pair(arr)
            for role, figures in zip(("champion", "challenger"), pair, strict=True):
                m.compare_f1.labels(version, role).set(figures.f1)
                if figures.ece is not None:
                    m.compare_ece.labels(version, role).set(figures.ece)
                if figures.roc_auc is not None:
                    m.compare_auc.labels(version, role).set(figures.roc_auc)
                if figures.gini is not None:
                    m.compare_gini.labels(version, role).set(figures.gini)
            m.compare_labels.labels(version).set(len(arr))
        return out
