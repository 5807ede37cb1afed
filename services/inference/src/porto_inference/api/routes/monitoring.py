"""GET /monitoring/*: the prediction log, summarised for the UI's monitoring page.

Every query is bounded by a time window and a row or bucket limit, validated here (422 with the
parameter named), and behind the API key when one is set: the log holds customers' records.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from porto.contracts.monitoring import (
    ChallengerComparison,
    DriftReport,
    LiveQuality,
    RecentPredictions,
    ScoreHistory,
    Throughput,
)

from porto_inference.api.deps import ApiKeyDep, ServiceDep
from porto_inference.api.schemas import ERRORS
from porto_inference.errors import ValidationFailedError
from porto_inference.monitoring.challengers import compare
from porto_inference.monitoring.reports import MAX_BUCKETS, Monitoring

router = APIRouter(prefix="/monitoring", tags=["monitoring"], dependencies=[ApiKeyDep])

#: A week: the longest window any monitoring query scans.
MAX_MINUTES = 7 * 24 * 60

Minutes = Annotated[
    int,
    Query(ge=1, le=MAX_MINUTES, description="Time window: the last N minutes (at most 7 days)."),
]
VersionQuery = Annotated[
    str | None,
    Query(max_length=128, description="Only this version or alias (default: every version)."),
]
BucketMinutes = Annotated[
    int, Query(ge=1, le=MAX_MINUTES, description="Width of a time bucket in minutes.")
]


def _check_buckets(minutes: int, bucket_minutes: int) -> None:
    if -(-minutes // bucket_minutes) > MAX_BUCKETS:
        raise ValidationFailedError(
            f"{minutes} minutes in buckets of {bucket_minutes} make more than {MAX_BUCKETS} "
            "buckets: widen the buckets or shorten the window",
            [{"field": "bucket_minutes", "message": f"at most {MAX_BUCKETS} buckets"}],
        )


@router.get(
    "/predictions",
    summary="Latest logged predictions",
    response_model=RecentPredictions,
    # The fields a case leaves unset are absent from the answer, not null.
    response_model_exclude_unset=True,
    responses=ERRORS,
)
async def list_predictions(
    service: ServiceDep,
    minutes: Minutes = 60,
    limit: Annotated[int, Query(ge=1, le=1000, description="Rows, newest first.")] = 50,
    model_version: VersionQuery = None,
    features: Annotated[bool, Query(description="Include each row's features.")] = False,
) -> RecentPredictions:
    """The newest rows of the prediction log: id, time, version, score, class, label."""
    return await Monitoring(service).recent(
        minutes=minutes, limit=limit, model_version=model_version, features=features
    )


@router.get(
    "/throughput",
    summary="Predictions per minute",
    response_model=Throughput,
    responses=ERRORS,
)
async def get_throughput(
    service: ServiceDep,
    minutes: Annotated[int, Query(ge=1, le=MAX_BUCKETS, description="Last N minutes.")] = 60,
    model_version: VersionQuery = None,
) -> Throughput:
    """Predictions, positives, mean score and p95 latency per minute (zero-filled)."""
    return await Monitoring(service).throughput(minutes=minutes, model_version=model_version)


@router.get(
    "/scores",
    summary="Score distribution over time",
    response_model=ScoreHistory,
    responses=ERRORS,
)
async def get_scores(
    service: ServiceDep,
    minutes: Minutes = 60,
    bucket_minutes: BucketMinutes = 5,
    bins: Annotated[int, Query(ge=2, le=50, description="Equal-width score bins.")] = 10,
    high: Annotated[
        float,
        Query(gt=0, le=1, description="Upper end of the bins; higher scores fall in the top bin."),
    ] = 1.0,
    model_version: VersionQuery = None,
) -> ScoreHistory:
    """Per time bucket: a score histogram on [0, high], the mean and the 10/50/90th
    percentiles."""
    _check_buckets(minutes, bucket_minutes)
    return await Monitoring(service).scores(
        minutes=minutes,
        bucket_minutes=bucket_minutes,
        bins=bins,
        high=high,
        model_version=model_version,
    )


@router.get(
    "/drift",
    summary="Drift per feature against the training reference",
    response_model=DriftReport,
    # The fields a case leaves unset are absent from the answer, not null.
    response_model_exclude_unset=True,
    responses=ERRORS,
)
async def get_drift(
    service: ServiceDep,
    minutes: Minutes = 60,
    limit: Annotated[
        int, Query(ge=10, le=50_000, description="Most recent logged rows compared.")
    ] = 5000,
    model_version: Annotated[
        str | None,
        Query(max_length=128, description="Version or alias (default: the served version)."),
    ] = None,
) -> DriftReport:
    """PSI of each feature and of the scores: recent logged rows of one version against its
    ``reference.json``, worst first, with both distributions."""
    return await Monitoring(service).drift(
        minutes=minutes, limit=limit, model_version=model_version
    )


@router.get(
    "/quality",
    summary="Live F1 / ROC-AUC from feedback",
    response_model=LiveQuality,
    responses=ERRORS,
)
async def get_quality(
    service: ServiceDep,
    minutes: Minutes = 1440,
    limit: Annotated[
        int, Query(ge=1, le=100_000, description="Most recent labels used (by label time).")
    ] = 10_000,
    bucket_minutes: BucketMinutes = 60,
    model_version: VersionQuery = None,
) -> LiveQuality:
    """Quality of labelled predictions per version: overall and per label-time bucket."""
    _check_buckets(minutes, bucket_minutes)
    return await Monitoring(service).live_quality(
        minutes=minutes, limit=limit, bucket_minutes=bucket_minutes, model_version=model_version
    )


@router.get(
    "/challengers",
    summary="Champion against challengers on the same labels",
    response_model=ChallengerComparison,
    responses=ERRORS,
)
async def get_challengers(
    service: ServiceDep,
    minutes: Minutes = 1440,
    limit: Annotated[
        int, Query(ge=1, le=100_000, description="Most recent paired labelled rows used.")
    ] = 10_000,
    bucket_minutes: BucketMinutes = 60,
) -> ChallengerComparison:
    """Per challenger version with shadow scores: realized ROC-AUC, Gini, F1 (each at its own
    threshold) and calibration (ECE, Brier, mean score against positive rate) of champion and
    challenger on the same labelled rows, over the window and per prediction-time bucket with
    the labels behind each point, and whether to promote it (PROMOTE_MIN_AUC_GAIN on at least
    PROMOTE_MIN_LABELS labels)."""
    _check_buckets(minutes, bucket_minutes)
    return await compare(
        service.prediction_log,
        service.settings,
        service.challengers.states(),
        minutes=minutes,
        bucket_minutes=bucket_minutes,
        limit=limit,
    )
