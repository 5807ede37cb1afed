"""Monitoring queries over the prediction log, for the UI's live pages.

Everything is answered from PostgreSQL's ``prediction_log`` (never from one worker's memory), so
every worker and every replica gives the same answer. Each query is bounded twice — by a time
window and by a row limit, both validated by the router — and has a statement timeout, so a
monitoring page can never load the database the way an unbounded ``SELECT *`` would. The SQL
lives in the prediction log's read side (:mod:`porto_inference.log.queries`), parameterised.

Drift uses the same binning and PSI as the live drift gauges (:mod:`porto.reference`, against the
version's ``reference.json``), and live quality the same
:func:`porto_inference.monitoring.quality.quality` as the quality gauges, so the UI and the
dashboards agree.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from porto.bundle import Manifest, read_json
from porto.contracts.monitoring import (
    DriftReport,
    FeatureDrift,
    LiveQuality,
    LoggedPrediction,
    PsiThresholds,
    QualityBucket,
    QualityFigures,
    RecentPredictions,
    ScoreBucket,
    ScoreDrift,
    ScoreHistory,
    Throughput,
    ThroughputMinute,
    VersionQuality,
)
from porto.reference import (
    REFERENCE_FILE,
    ReferenceStats,
    bin_counts,
    missing_categories,
    psi,
)
from porto.schema import FeatureKind, FeatureSchema, categorical_series

from porto_inference.monitoring.quality import gini, quality

if TYPE_CHECKING:
    from porto_inference.scoring.service import InferenceService

#: Most time buckets a series may have (bounds the answer, whatever the window).
MAX_BUCKETS = 720
#: Conventional PSI reading: below stable, between moderate, above major drift.
PSI_MODERATE = 0.1
PSI_MAJOR = 0.25


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _optional_iso(value: datetime | None) -> str | None:
    return None if value is None else _iso(value)


def _num(value: Any) -> float | None:
    """A JSON-safe float (None for NULL or NaN)."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


@dataclass
class Monitoring:
    """The monitoring queries of one service (its prediction log pool and model registry)."""

    service: InferenceService

    @property
    def model_name(self) -> str:
        """The registry name whose predictions are monitored."""
        return self.service.settings.model_name

    async def _version(self, ref: str | None) -> str:
        """The version ``ref`` names, or the served one."""
        if ref is None:
            return self.service.models.serving().version
        return await self.service.models.resolve(ref)

    async def _optional_version(self, ref: str | None) -> str | None:
        return None if ref is None else await self.service.models.resolve(ref)

    # --- queries ---------------------------------------------------------------------------------
    async def recent(
        self, *, minutes: int, limit: int, model_version: str | None, features: bool
    ) -> RecentPredictions:
        """The latest predictions, newest first (features only when asked: they are large;
        without them the rows have no ``features`` key, hence ``exclude_unset`` on the route)."""
        version = await self._optional_version(model_version)
        rows = await self.service.prediction_log.recent(
            self.model_name, minutes, version, limit, features=features
        )
        items = []
        for r in rows:
            # Keyed by alias (``class``: a keyword), hence validated rather than constructed.
            item: dict[str, object] = {
                "prediction_id": r["prediction_id"],
                "created_at": _iso(r["created_at"]),
                "model_version": r["model_version"],
                "endpoint": r["endpoint"],
                "record_id": r["record_id"],
                "score": float(r["score"]),
                "class": int(r["predicted_class"]),
                "threshold": float(r["threshold"]),
                "latency_ms": _num(r["latency_ms"]),
                "label": None if r["label"] is None else int(r["label"]),
                "label_time": _optional_iso(r["label_time"]),
            }
            if features:
                item["features"] = r["features"]
            items.append(LoggedPrediction.model_validate(item))
        return RecentPredictions(minutes=minutes, limit=limit, count=len(items), predictions=items)

    async def throughput(self, *, minutes: int, model_version: str | None) -> Throughput:
        """Predictions per minute over the last ``minutes`` (zero-filled, oldest first)."""
        version = await self._optional_version(model_version)
        rows = await self.service.prediction_log.throughput(self.model_name, minutes, version)
        series = [
            ThroughputMinute(
                minute=_iso(r["minute"]),
                predictions=int(r["predictions"]),
                positives=int(r["positives"]),
                mean_score=_num(r["mean_score"]),
                p95_latency_ms=_num(r["p95_latency_ms"]),
            )
            for r in rows
        ]
        return Throughput(
            minutes=minutes,
            model_version=version,
            total=sum(s.predictions for s in series),
            series=series,
        )

    async def scores(
        self,
        *,
        minutes: int,
        bucket_minutes: int,
        bins: int,
        high: float = 1.0,
        model_version: str | None,
    ) -> ScoreHistory:
        """The score distribution per time bucket: a histogram over ``bins`` equal bins on
        [0, ``high``] (scores above ``high`` count in the top bin: imbalanced problems score
        near 0, where the detail is), mean and the 10/50/90th percentiles."""
        version = await self._optional_version(model_version)
        now = datetime.now(UTC)
        # Buckets aligned to the bucket size (so a refresh does not shift every boundary).
        step = bucket_minutes * 60
        aligned = datetime.fromtimestamp(now.timestamp() // step * step, UTC)
        since = aligned - timedelta(minutes=minutes) + timedelta(seconds=step)
        histogram = await self.service.prediction_log.score_histogram(
            self.model_name, since, bucket_minutes, bins, version, high
        )
        summary = await self.service.prediction_log.score_summary(
            self.model_name, since, bucket_minutes, version
        )
        counts: dict[datetime, list[int]] = {}
        for r in histogram:
            counts.setdefault(r["bucket"], [0] * bins)[int(r["bin"]) - 1] = int(r["n"])
        buckets = []
        for r in summary:
            q = list(r["quantiles"] or [None, None, None])
            buckets.append(
                ScoreBucket(
                    start=_iso(r["bucket"]),
                    count=int(r["n"]),
                    mean=_num(r["mean"]),
                    p10=_num(q[0]),
                    p50=_num(q[1]),
                    p90=_num(q[2]),
                    histogram=counts.get(r["bucket"], [0] * bins),
                )
            )
        return ScoreHistory(
            minutes=minutes,
            bucket_minutes=bucket_minutes,
            since=_iso(since),
            model_version=version,
            edges=[high * i / bins for i in range(bins + 1)],
            high=high,
            buckets=buckets,
        )

    async def drift(self, *, minutes: int, limit: int, model_version: str | None) -> DriftReport:
        """PSI per feature (and of the scores) of the version's recent logged rows against its
        training reference, worst first, with both distributions so the UI can draw them. The
        fields a case does not fill stay unset: the answer leaves them out (``exclude_unset``)."""
        version = await self._version(model_version)
        store = self.service.models.store
        manifest = await asyncio.to_thread(self.service.models.registry.get, version)
        if REFERENCE_FILE not in manifest.files:
            return DriftReport(
                model_version=version,
                rows=0,
                available=False,
                reason=f"version {version} has no {REFERENCE_FILE}",
                features=[],
                score=None,
            )
        raw = await asyncio.to_thread(read_json, store, manifest, REFERENCE_FILE)
        reference = ReferenceStats.model_validate(raw)
        rows = await self.service.prediction_log.scored_features(
            self.model_name, version, minutes, limit
        )
        return await asyncio.to_thread(
            drift_report, manifest, reference, rows, minutes=minutes, limit=limit
        )

    async def live_quality(
        self, *, minutes: int, limit: int, bucket_minutes: int, model_version: str | None
    ) -> LiveQuality:
        """Live F1, precision, recall and ROC-AUC per version from labelled predictions (by label
        time), overall and per time bucket."""
        version = await self._optional_version(model_version)
        rows = await self.service.prediction_log.labelled(self.model_name, minutes, version, limit)
        return quality_report(rows, minutes=minutes, limit=limit, bucket_minutes=bucket_minutes)


# --- pure computations (threads; tested without a database) ------------------------------------
def live_values(values: pd.Series, kind: FeatureKind, schema: FeatureSchema) -> np.ndarray:
    """Logged raw values → the model-ready form :func:`porto.reference.bin_counts` bins: floats
    with NaN for missing (anything unparseable counts as missing), or canonical category strings.
    """
    if kind is FeatureKind.CATEGORICAL:
        return categorical_series(values.astype(object)).to_numpy(dtype=object)
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", copy=True)
    if schema.missing_value is not None:
        numbers[numbers == schema.missing_value] = np.nan
    return numbers


def drift_report(
    manifest: Manifest, reference: ReferenceStats, rows: list[Any], *, minutes: int, limit: int
) -> DriftReport:
    """Per-feature and score PSI of logged ``rows`` (``features`` by name, ``score``), the
    last ``limit`` rows of ``minutes`` of the version ``manifest`` describes."""
    schema = manifest.feature_schema
    n = len(rows)
    if n == 0:
        return DriftReport(
            model_version=manifest.version,
            minutes=minutes,
            limit=limit,
            rows=0,
            available=True,
            features=[],
            score=None,
        )
    records = [r["features"] for r in rows]
    frame = pd.DataFrame.from_records(records)
    missing = missing_categories(schema)
    kinds = {f.name: f.kind for f in schema.features}
    features: list[FeatureDrift] = []
    for ref in reference.features:
        kind = kinds.get(ref.name, ref.kind)
        if ref.name in frame.columns:
            column = frame[ref.name]
        else:
            column = pd.Series([None] * n, dtype=object)
        values = live_values(column, kind, schema)
        counts = bin_counts(ref, values, missing)
        value = psi(ref.fractions, counts)
        total = max(1, int(counts.sum()))
        features.append(
            FeatureDrift(
                feature=ref.name,
                kind=str(kind),
                psi=value,
                severity=severity(value),
                bins=ref.labels,
                reference=ref.fractions,
                live=[float(c) / total for c in counts],
                missing_rate=float(counts[-1]) / total,
                reference_missing_rate=float(ref.fractions[-1]),
            )
        )
    features.sort(key=lambda f: f.psi, reverse=True)
    scores = np.clip(np.asarray([float(r["score"]) for r in rows]), 0.0, 1.0)
    edges = reference.score.edges
    score_counts = np.histogram(scores, bins=np.asarray(edges))[0]
    score_psi = psi(reference.score.fractions, score_counts)
    return DriftReport(
        model_version=manifest.version,
        minutes=minutes,
        limit=limit,
        rows=n,
        available=True,
        thresholds=PsiThresholds(moderate=PSI_MODERATE, major=PSI_MAJOR),
        features=features,
        score=ScoreDrift(
            psi=score_psi,
            severity=severity(score_psi),
            edges=edges,
            reference=reference.score.fractions,
            live=[float(c) / max(1, n) for c in score_counts],
            reference_mean=reference.score.mean,
            live_mean=float(scores.mean()),
        ),
    )


def severity(value: float) -> str:
    """``stable``, ``moderate`` or ``major`` by the conventional PSI reading."""
    if value >= PSI_MAJOR:
        return "major"
    if value >= PSI_MODERATE:
        return "moderate"
    return "stable"


def _figures(scores: np.ndarray, predicted: np.ndarray, labels: np.ndarray) -> QualityFigures:
    q = quality(scores, predicted, labels)
    return QualityFigures(
        samples=q.samples,
        positives=int(labels.sum()),
        f1=q.f1,
        precision=q.precision,
        recall=q.recall,
        roc_auc=q.roc_auc,
        gini=gini(q.roc_auc),
    )


def _buckets(arr: np.ndarray, times: np.ndarray, step: int) -> list[QualityBucket]:
    """Quality of ``arr``'s rows (score, class, label, ...) per ``step``-second bucket of
    ``times``, oldest first."""
    starts = times // step * step
    series = []
    for start in np.unique(starts):
        sel = arr[starts == start]
        figures = _figures(sel[:, 0], sel[:, 1].astype(int), sel[:, 2].astype(int))
        series.append(
            QualityBucket(
                start=datetime.fromtimestamp(float(start), UTC).isoformat(),
                **figures.model_dump(),
            )
        )
    return series


def quality_report(
    rows: list[Any], *, minutes: int, limit: int, bucket_minutes: int
) -> LiveQuality:
    """Quality per version over all ``rows``, per label-time bucket and per prediction-time
    bucket (oldest first)."""
    by_version: dict[str, list[tuple[float, int, int, float, float]]] = {}
    for r in rows:
        by_version.setdefault(str(r["model_version"]), []).append(
            (
                float(r["score"]),
                int(r["predicted_class"]),
                int(r["label"]),
                r["label_time"].timestamp(),
                r["created_at"].timestamp(),
            )
        )
    step = bucket_minutes * 60
    versions = []
    for version, items in sorted(by_version.items()):
        arr = np.asarray(items, dtype=np.float64)
        overall = _figures(arr[:, 0], arr[:, 1].astype(int), arr[:, 2].astype(int))
        versions.append(
            VersionQuality(
                model_version=version,
                **overall.model_dump(),
                series=_buckets(arr, arr[:, 3], step),
                by_prediction_time=_buckets(arr, arr[:, 4], step),
            )
        )
    return LiveQuality(
        minutes=minutes,
        limit=limit,
        bucket_minutes=bucket_minutes,
        labelled=len(rows),
        versions=versions,
    )
