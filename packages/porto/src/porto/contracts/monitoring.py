"""The answers of the inference API's ``GET /monitoring/*`` routes (read from the prediction
log), as the UI draws them."""

from __future__ import annotations

from pydantic import BaseModel, Field, JsonValue

from porto.contracts.serving import ChallengerState


class LoggedPrediction(BaseModel):
    """One row of the prediction log."""

    prediction_id: str
    created_at: str
    model_version: str
    endpoint: str
    record_id: str | None
    score: float
    class_: int = Field(alias="class")
    threshold: float
    latency_ms: float | None
    label: int | None
    label_time: str | None
    features: dict[str, JsonValue] | None = Field(
        default=None, description="Only when asked for (features=true)."
    )


class RecentPredictions(BaseModel):
    """``GET /monitoring/predictions``: the newest rows first."""

    minutes: int
    limit: int
    count: int
    predictions: list[LoggedPrediction]


class ThroughputMinute(BaseModel):
    """Predictions of one minute."""

    minute: str
    predictions: int
    positives: int
    mean_score: float | None
    p95_latency_ms: float | None


class Throughput(BaseModel):
    """``GET /monitoring/throughput``: predictions per minute, zero-filled, oldest first."""

    minutes: int
    model_version: str | None
    total: int
    series: list[ThroughputMinute]


class ScoreBucket(BaseModel):
    """The scores of one time bucket."""

    start: str
    count: int
    mean: float | None
    p10: float | None
    p50: float | None
    p90: float | None
    histogram: list[int] = Field(description="Rows per score bin (the answer's ``edges``).")


class ScoreHistory(BaseModel):
    """``GET /monitoring/scores``: a score histogram and percentiles per time bucket."""

    minutes: int
    bucket_minutes: int
    since: str | None
    model_version: str | None
    edges: list[float]
    high: float = Field(description="Upper end of the bins; the top bin holds higher scores.")
    buckets: list[ScoreBucket]


class FeatureDrift(BaseModel):
    """One feature's PSI and both distributions on the reference's bins."""

    feature: str
    kind: str
    psi: float
    severity: str = Field(description="'stable', 'moderate' or 'major'.")
    bins: list[str]
    reference: list[float]
    live: list[float]
    missing_rate: float
    reference_missing_rate: float


class ScoreDrift(BaseModel):
    """The scores' PSI and both distributions."""

    psi: float
    severity: str
    edges: list[float]
    reference: list[float]
    live: list[float]
    reference_mean: float
    live_mean: float


class PsiThresholds(BaseModel):
    """Where moderate and major drift begin."""

    moderate: float
    major: float


class DriftReport(BaseModel):
    """``GET /monitoring/drift``: recent logged rows of one version against its reference."""

    model_version: str
    minutes: int | None = Field(default=None, description="Absent when ``available`` is false.")
    limit: int | None = None
    rows: int
    available: bool = True
    reason: str | None = Field(default=None, description="Why no drift can be computed.")
    thresholds: PsiThresholds | None = None
    features: list[FeatureDrift] = Field(description="Worst first.")
    score: ScoreDrift | None


class QualityFigures(BaseModel):
    """Quality of labelled predictions."""

    samples: int
    positives: int
    f1: float
    precision: float
    recall: float
    roc_auc: float | None = Field(description="None while the labels hold a single class.")
    gini: float | None = Field(
        default=None,
        description="Normalised Gini, 2 x ROC-AUC - 1 (the Porto Seguro competition's metric); "
        "None with roc_auc.",
    )


# The answers name what they measure before the figures; pydantic orders fields from the last
# base class to the first, so these one-field bases come after QualityFigures.
class _BucketStart(BaseModel):
    start: str


class _VersionName(BaseModel):
    model_version: str


class QualityBucket(QualityFigures, _BucketStart):
    """Quality of the predictions labelled in one time bucket."""


class VersionQuality(QualityFigures, _VersionName):
    """A version's live quality, overall, per label-time bucket and per prediction-time bucket
    (oldest first)."""

    series: list[QualityBucket] = Field(
        description="By label time: how the model looks as labels arrive."
    )
    by_prediction_time: list[QualityBucket] = Field(
        default_factory=list,
        description="The same labelled predictions by when they were made: how good the "
        "predictions of each period turned out (a period fills in as its labels arrive).",
    )


class LiveQuality(BaseModel):
    """``GET /monitoring/quality``: quality per version from feedback."""

    minutes: int
    limit: int
    bucket_minutes: int
    labelled: int
    versions: list[VersionQuality]


class ModelFigures(QualityFigures):
    """One model's realized quality on labelled rows, with its calibration."""

    brier: float | None = Field(description="Mean squared error of the probabilities.")
    ece: float | None = Field(
        description="Expected calibration error over ten equal-width score bins."
    )
    mean_score: float | None
    positive_rate: float | None = Field(description="Observed share of positive labels.")


class PairedBucket(BaseModel):
    """Champion and challenger on the same labelled rows predicted in one time bucket."""

    start: str
    labels: int = Field(description="Labelled rows behind both points.")
    champion: ModelFigures
    challenger: ModelFigures


class PromotionSuggestion(BaseModel):
    """Whether the figures say the challenger should become the champion."""

    promote: bool
    reason: str = Field(description="Why (or why not), with the figures.")
    auc_gain: float | None = Field(description="Challenger ROC-AUC minus the champion's.")
    labels: int
    min_labels: int
    min_auc_gain: float
    how: str | None = Field(
        default=None, description="The promotion route and CLI command, when suggested."
    )


class ChallengerReport(BaseModel):
    """One challenger version against the champion on the rows both scored, paired by
    prediction id (shadow scores joined with the served rows' labels)."""

    model_version: str
    champion_versions: list[str] = Field(description="The served versions it was paired with.")
    labels: int
    champion: ModelFigures
    challenger: ModelFigures
    series: list[PairedBucket] = Field(description="By prediction time, oldest first.")
    promotion: PromotionSuggestion


class ChallengerComparison(BaseModel):
    """``GET /monitoring/challengers``: every challenger version with shadow scores in the
    window, against the champion on the same labelled rows."""

    minutes: int
    bucket_minutes: int
    limit: int
    shadow_share: float
    canary_share: float
    configured: list[ChallengerState] = Field(
        description="The configured challengers as the answering worker sees them."
    )
    challengers: list[ChallengerReport]
