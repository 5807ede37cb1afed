"""A model version's report: the model card, what training measured and drew, and — from the
prediction log — drift per feature over time, realized quality and data-quality counts.

Transport-agnostic: the API route and ``porto-inference report`` both call :func:`build_report`
with the artifact store, the registry and (when there is one) the prediction log's reads; the
card and the training section come from the bundle (:mod:`.model_card`). The
figures reuse what the live pages use, so they agree: PSI with :mod:`porto.reference`'s bins
against the version's ``reference.json`` and :func:`~porto_inference.monitoring.reports.live_values`
as ``/monitoring/drift`` does, quality with :func:`~porto_inference.monitoring.quality.quality`,
:func:`~porto_inference.monitoring.quality.gini` and
:func:`~porto_inference.monitoring.quality.calibration`.

The log sections read a bounded random sample per time bucket (``sample_per_bucket`` rows) and
at most ``label_limit`` labelled rows, each query pruned to the window's day partitions. When the
log is off or its database does not answer, those sections say so (``available: false`` and the
reason) and the rest of the report is complete: the card and training come from the bundle alone.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from porto.bundle import Manifest, read_json
from porto.contracts.report import (
    DataQualitySection,
    DriftBucket,
    DriftSection,
    FeatureDataQuality,
    FeatureDriftSummary,
    QualitySection,
    RealizedQuality,
    ReportWindow,
    VersionReport,
)
from porto.errors import PortoError
from porto.reference import REFERENCE_FILE, ReferenceStats, bin_counts, missing_categories, psi
from porto.registry import Registry
from porto.schema import FeatureKind
from porto.store import ArtifactStore
from prometheus_client import CollectorRegistry

from porto_inference.errors import DatabaseUnavailableError, ValidationFailedError
from porto_inference.log.queries import LogQueries
from porto_inference.log.report_queries import labelled_rows, sampled_rows, served_counts
from porto_inference.monitoring.model_card import model_card, parsed, training_section
from porto_inference.monitoring.quality import calibration, gini, quality
from porto_inference.monitoring.reports import PSI_MAJOR, PSI_MODERATE, live_values, severity
from porto_inference.settings import Settings

#: Most time buckets a report may have (bounds the queries: one sample per bucket).
MAX_REPORT_BUCKETS = 366
#: Most served rows a report samples over all its buckets (bounds its memory and time).
MAX_SAMPLE_ROWS = 200_000


@dataclass(frozen=True)
class ReportOptions:
    """The window the log sections read and their bounds (validated by the callers)."""

    days: int = 7
    bucket_hours: int = 24
    sample_per_bucket: int = 2000
    label_limit: int = 50_000

    @property
    def bucket_s(self) -> int:
        """Width of a bucket in seconds."""
        return self.bucket_hours * 3600

    @property
    def buckets(self) -> int:
        """How many buckets the window holds (the last one is the current, partial one)."""
        return max(1, math.ceil(self.days * 24 / self.bucket_hours))


@dataclass
class BuiltReport:
    """The report and the bundle images its HTML embeds (file → (bytes, media type))."""

    report: VersionReport
    images: dict[str, tuple[bytes, str]] = field(default_factory=dict)


def report_options(days: int, bucket_hours: int, sample: int) -> ReportOptions:
    """The options, or ValidationFailedError (422) naming the parameter that makes the report
    too large (the route and the CLI check ranges of each parameter themselves)."""
    options = ReportOptions(days=days, bucket_hours=bucket_hours, sample_per_bucket=sample)
    if options.buckets > MAX_REPORT_BUCKETS:
        raise ValidationFailedError(
            f"{days} days in buckets of {bucket_hours} h make {options.buckets} buckets, more "
            f"than {MAX_REPORT_BUCKETS}: widen the buckets or shorten the window",
            [{"field": "bucket_hours", "message": f"at most {MAX_REPORT_BUCKETS} buckets"}],
        )
    if options.buckets * sample > MAX_SAMPLE_ROWS:
        raise ValidationFailedError(
            f"{options.buckets} buckets of {sample} sampled rows exceed {MAX_SAMPLE_ROWS:,} rows: "
            "sample fewer rows per bucket or use fewer buckets",
            [{"field": "sample", "message": f"buckets x sample at most {MAX_SAMPLE_ROWS}"}],
        )
    return options


async def write_report(
    settings: Settings, ref: str, format: str, days: int, bucket_hours: int, sample: int
) -> str:
    """``porto-inference report``: the report of the version ``ref`` names, from the configured
    store and prediction log (its own short-lived pool; the log sections say why when the
    database does not answer), rendered as ``html`` or ``json``."""
    from porto.store import open_store

    from porto_inference.log.database import database_url
    from porto_inference.log.pool import LogPool
    from porto_inference.monitoring.metrics import LogMetrics
    from porto_inference.monitoring.report_html import render_html

    options = report_options(days, bucket_hours, sample)
    uri = settings.resolved_store_uri
    store = open_store(uri, settings.s3_options() if uri.startswith("s3://") else None)
    registry = Registry(store, settings.model_name)
    version = await asyncio.to_thread(registry.resolve, ref)
    try:
        url = await asyncio.to_thread(database_url, settings)
        cannot = None
    except PortoError as exc:  # no embedded server here (the image): the bundle parts still
        url, cannot = None, exc.message
    log = LogQueries(LogPool(settings, LogMetrics(CollectorRegistry()), url))
    try:
        if url is not None:
            await log.db.connect()
        built = await build_report(store, registry, version, log, options, log_off_reason=cannot)
    finally:
        await log.db.close()
    if format == "html":
        return render_html(built.report, built.images)
    return built.report.model_dump_json(indent=2) + "\n"


def report_window(options: ReportOptions, now: datetime) -> tuple[datetime, datetime]:
    """``[since, until)``: whole buckets aligned on the epoch (UTC days for 24 hours), the last
    one holding ``now``."""
    step = options.bucket_s
    last = datetime.fromtimestamp(now.timestamp() // step * step, UTC)
    since = last - timedelta(seconds=step * (options.buckets - 1))
    return since, last + timedelta(seconds=step)


async def build_report(
    store: ArtifactStore,
    registry: Registry,
    version: str,
    log: LogQueries | None,
    options: ReportOptions,
    *,
    now: datetime | None = None,
    log_off_reason: str | None = None,
) -> BuiltReport:
    """The report of ``version`` (a concrete version; resolve aliases first). ``log`` None or
    disabled: the log sections say the prediction log is off (or ``log_off_reason``)."""
    now = now or datetime.now(UTC)
    manifest = await asyncio.to_thread(registry.get, version)
    aliases = await asyncio.to_thread(registry.aliases)
    named = sorted(a for a, v in aliases.items() if v == manifest.version)
    training, images = await asyncio.to_thread(training_section, store, manifest)
    reference = None
    if REFERENCE_FILE in manifest.files:
        raw = await asyncio.to_thread(read_json, store, manifest, REFERENCE_FILE)
        reference = parsed(ReferenceStats, raw)
    since, until = report_window(options, now)
    window = ReportWindow(
        days=options.days,
        bucket_hours=options.bucket_hours,
        since=since.isoformat(),
        until=until.isoformat(),
        sample_per_bucket=options.sample_per_bucket,
    )
    drift, data_quality, realized = await _log_sections(
        log, manifest, reference, options, since, until, log_off_reason
    )
    report = VersionReport(
        generated_at=now.isoformat(),
        model_name=manifest.name,
        model_version=manifest.version,
        window=window,
        card=model_card(manifest, named),
        training=training,
        drift=drift,
        quality=realized,
        data_quality=data_quality,
    )
    return BuiltReport(report=report, images=images)


async def _log_sections(
    log: LogQueries | None,
    manifest: Manifest,
    reference: ReferenceStats | None,
    options: ReportOptions,
    since: datetime,
    until: datetime,
    off_reason: str | None,
) -> tuple[DriftSection, DataQualitySection, QualitySection]:
    """The three sections the prediction log fills, or each marked unavailable with why."""
    if log is None or not log.db.enabled:
        why = off_reason or "the prediction log is off (PORTO_INFERENCE_PREDICTION_LOG=false)"
        return _unavailable(why)
    name, version, step = manifest.name, manifest.version, options.bucket_s
    try:
        sample = await sampled_rows(
            log, name, version, since, until, step, options.sample_per_bucket
        )
        served = await served_counts(log, name, version, since, until, step)
        labelled = await labelled_rows(log, name, version, since, until, options.label_limit)
    except DatabaseUnavailableError as exc:
        return _unavailable(exc.message)
    buckets = [since + timedelta(seconds=step * i) for i in range(options.buckets)]
    drift, data_quality = await asyncio.to_thread(
        drift_and_data_quality, manifest, reference, sample, served, buckets
    )
    realized = quality_section(labelled, since, step, options.label_limit)
    return drift, data_quality, realized


def _unavailable(reason: str) -> tuple[DriftSection, DataQualitySection, QualitySection]:
    return (
        DriftSection(available=False, reason=reason),
        DataQualitySection(available=False, reason=reason),
        QualitySection(available=False, reason=reason),
    )


# --- the log: drift, data quality, realized quality --------------------------------------------
def drift_and_data_quality(
    manifest: Manifest,
    reference: ReferenceStats | None,
    sample: list[dict[str, Any]],
    served: dict[datetime, int],
    buckets: list[datetime],
) -> tuple[DriftSection, DataQualitySection]:
    """PSI per feature per bucket (and over the window) of the sampled rows against
    ``reference``, and the missing values and unseen categories of the same rows."""
    schema = manifest.feature_schema
    missing = missing_categories(schema)
    total_served = sum(served.values())
    all_scores = np.asarray([float(r["score"]) for r in sample], dtype=np.float64)
    frame = _frame(sample, schema.names)
    values = {
        spec.name: live_values(frame[spec.name], spec.kind, schema) for spec in schema.features
    }
    dq: list[FeatureDataQuality] = []
    n = len(sample)
    for spec in schema.features:
        col = values[spec.name]
        if spec.kind is FeatureKind.CATEGORICAL:
            is_missing = np.isin(col, list(missing))
            present = pd.Series(col[~is_missing], dtype=object)
            unseen: int | None = int((~present.isin(spec.categories or [])).sum())
        else:
            is_missing = np.isnan(col.astype("float64"))
            unseen = None
        count = int(is_missing.sum())
        dq.append(
            FeatureDataQuality(
                feature=spec.name,
                kind=str(spec.kind),
                missing=count,
                missing_rate=count / n if n else 0.0,
                training_missing_rate=spec.missing_rate,
                unseen=unseen,
            )
        )
    data_quality = DataQualitySection(available=True, served=total_served, rows=n, features=dq)
    if reference is None:
        why = (
            f"version {manifest.version} has no readable {REFERENCE_FILE}: no training distribution"
        )
        return DriftSection(available=False, reason=why), data_quality
    position = {start: i for i, start in enumerate(buckets)}
    bucket_of = np.fromiter(
        (position.get(r["bucket"], -1) for r in sample), dtype=np.int64, count=n
    )
    out_buckets: list[DriftBucket] = []
    totals: dict[str, np.ndarray] = {}
    max_psi: dict[str, float] = {}
    for i, start in enumerate(buckets):
        mask = bucket_of == i
        rows = int(mask.sum())
        figures: dict[str, float] = {}
        for ref in reference.features:
            if ref.name not in values:
                continue
            counts = bin_counts(ref, values[ref.name][mask], missing) if rows else None
            if counts is None:
                continue
            totals[ref.name] = totals.get(ref.name, np.zeros(len(ref.fractions))) + counts
            figures[ref.name] = psi(ref.fractions, counts)
            max_psi[ref.name] = max(max_psi.get(ref.name, 0.0), figures[ref.name])
        score_psi = None
        if rows:
            scores = np.clip(all_scores[mask], 0.0, 1.0)
            hist = np.histogram(scores, bins=np.asarray(reference.score.edges))[0]
            score_psi = psi(reference.score.fractions, hist)
        out_buckets.append(
            DriftBucket(
                start=start.isoformat(),
                served=served.get(start, 0),
                sampled=rows,
                psi=figures,
                score_psi=score_psi,
            )
        )
    summary = []
    for ref in reference.features:
        if ref.name in totals:
            value = psi(ref.fractions, totals[ref.name])
            summary.append(
                FeatureDriftSummary(
                    feature=ref.name,
                    psi=value,
                    severity=severity(value),
                    max_bucket_psi=max_psi[ref.name],
                )
            )
    summary.sort(key=lambda f: f.psi, reverse=True)
    drift = DriftSection(
        available=True,
        moderate=PSI_MODERATE,
        major=PSI_MAJOR,
        features=summary,
        buckets=out_buckets,
    )
    return drift, data_quality


def _frame(sample: list[dict[str, Any]], names: list[str]) -> pd.DataFrame:
    """The sampled rows' features as columns in model order (absent ones as None)."""
    records = [r["features"] if isinstance(r["features"], dict) else {} for r in sample]
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    for name in names:
        if name not in frame.columns:
            frame[name] = pd.Series([None] * len(sample), dtype=object)
    return frame


def realized(
    scores: np.ndarray, predicted: np.ndarray, labels: np.ndarray, start: str | None
) -> RealizedQuality:
    """Quality and calibration of labelled rows."""
    q = quality(scores, predicted, labels)
    cal = calibration(scores, labels)
    return RealizedQuality(
        start=start,
        labelled=q.samples,
        positives=int(labels.sum()),
        roc_auc=q.roc_auc,
        gini=gini(q.roc_auc),
        f1=q.f1,
        precision=q.precision,
        recall=q.recall,
        brier=None if cal is None else cal.brier,
        ece=None if cal is None else cal.ece,
        mean_score=None if cal is None else cal.mean_score,
        positive_rate=None if cal is None else cal.positive_rate,
    )


def quality_section(rows: list[Any], since: datetime, step: int, limit: int) -> QualitySection:
    """Realized quality of the labelled ``rows`` overall and per bucket of prediction time."""
    if not rows:
        return QualitySection(available=True, limit=limit)
    scores = np.asarray([float(r["score"]) for r in rows])
    predicted = np.asarray([int(r["predicted_class"]) for r in rows])
    labels = np.asarray([int(r["label"]) for r in rows])
    offsets = np.asarray([(r["created_at"] - since).total_seconds() // step for r in rows])
    buckets = []
    for k in np.unique(offsets):
        sel = offsets == k
        start = (since + timedelta(seconds=step * int(k))).isoformat()
        buckets.append(realized(scores[sel], predicted[sel], labels[sel], start))
    return QualitySection(
        available=True,
        limit=limit,
        overall=realized(scores, predicted, labels, None),
        buckets=buckets,
    )
