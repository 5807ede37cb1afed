"""A model version's report (``GET /models/{version}/report``, ``porto-inference report``): the
model card, what training measured and drew, and what the prediction log says about the version
since — drift per feature over time, realized quality and data-quality counts.

The JSON form is this model; the HTML form is rendered from it, so both hold the same figures.
A section that needs the prediction log says whether it could be filled (``available``) and, when
not, why (``reason``), so a report without a database still carries the card and training.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, JsonValue

from porto.contracts.insights import FeatureRanking

#: Bumped when a reader of an older report would misread a newer one.
REPORT_FORMAT = 1


class CardFeature(BaseModel):
    """One feature of the model as the card lists it."""

    name: str
    kind: str = Field(description="numeric, categorical or binary.")
    dtype: str
    missing: str = Field(description="How a missing value is written and what training saw.")
    training_missing_rate: float
    categories: int | None = Field(
        default=None, description="Categories seen in training (categorical features)."
    )


class CardData(BaseModel):
    """Where the training data came from."""

    source: str
    fingerprint: str = Field(description="sha256 over the raw dataset bytes (or generator spec).")
    rows: int
    columns: int
    positives: int
    positive_rate: float
    synthetic: bool
    target: str
    id_column: str | None
    missing_value: float | None = Field(description="The marker that means missing, besides null.")
    positive_label: str
    negative_label: str
    ignored_columns: list[str]


class ModelCard(BaseModel):
    """Who the model is, what it was trained on, what it is for and where it stops."""

    name: str
    version: str
    created_at: str
    model_type: str
    code_version: str
    aliases: list[str]
    threshold: float = Field(description="Probability at or above which the class is 1.")
    data: CardData
    features: list[CardFeature]
    intended_use: str
    limitations: list[str]
    holdout: str = Field(description="Which rows the holdout metrics describe (e.g. test).")
    holdout_metrics: dict[str, float] = Field(
        description="Every figure training recorded on the holdout (ROC-AUC, Gini, F1, ...)."
    )
    card_source: str = Field(
        description="'config' when intended use and limits come from the training config "
        "(model_card), 'generated' when porto wrote them from the bundle, 'mixed' for one each."
    )


class ReportPlot(BaseModel):
    """A training plot of the bundle: its image file and the data it was drawn from."""

    name: str
    title: str
    image: str | None = Field(description="The bundle's PNG (or SVG), if it has one.")
    data_file: str | None
    data: dict[str, JsonValue] | None = Field(description="The plot's points (plots/<name>.json).")


class TrainingSection(BaseModel):
    """What training recorded: every metric, the plots, and the feature rankings."""

    metrics: dict[str, JsonValue] = Field(description="The bundle's metrics.json, as written.")
    plots: list[ReportPlot]
    mutual_information: FeatureRanking | None = Field(
        description="Mutual information of each feature with the label (drawn as a bar chart)."
    )
    importance: FeatureRanking | None


class ReportWindow(BaseModel):
    """The stretch of the prediction log the log sections read."""

    days: int
    bucket_hours: int
    since: str
    until: str
    sample_per_bucket: int = Field(
        description="Most served rows read per bucket (a random sample) for drift and data quality."
    )


class DriftBucket(BaseModel):
    """PSI of one time bucket's served rows against the training reference."""

    start: str
    served: int = Field(description="Rows of the version served in the bucket.")
    sampled: int = Field(description="Rows the PSI was computed on.")
    psi: dict[str, float] = Field(description="Feature → PSI.")
    score_psi: float | None


class FeatureDriftSummary(BaseModel):
    """One feature's PSI over the whole window (all sampled rows together)."""

    feature: str
    psi: float
    severity: str
    max_bucket_psi: float


class DriftSection(BaseModel):
    """Drift per feature over time."""

    available: bool
    reason: str | None = None
    moderate: float = 0.1
    major: float = 0.25
    features: list[FeatureDriftSummary] = Field(default_factory=list)
    buckets: list[DriftBucket] = Field(default_factory=list)


class RealizedQuality(BaseModel):
    """Quality of labelled predictions (by when they were made)."""

    start: str | None = Field(default=None, description="The bucket's start (None: overall).")
    labelled: int
    positives: int
    roc_auc: float | None
    gini: float | None
    f1: float
    precision: float
    recall: float
    brier: float | None
    ece: float | None
    mean_score: float | None
    positive_rate: float | None


class QualitySection(BaseModel):
    """Realized quality from feedback labels."""

    available: bool
    reason: str | None = None
    limit: int = 0
    overall: RealizedQuality | None = None
    buckets: list[RealizedQuality] = Field(default_factory=list)


class FeatureDataQuality(BaseModel):
    """Missing values and unseen categories of one feature in the sampled rows."""

    feature: str
    kind: str
    missing: int
    missing_rate: float
    training_missing_rate: float
    unseen: int | None = Field(
        description="Categories the model never saw in training (categorical features)."
    )


class DataQualitySection(BaseModel):
    """Data-quality counts over the window."""

    available: bool
    reason: str | None = None
    served: int = 0
    rows: int = Field(default=0, description="Rows counted (the drift sample).")
    features: list[FeatureDataQuality] = Field(default_factory=list)


class VersionReport(BaseModel):
    """Everything the report of one version holds."""

    format: int = REPORT_FORMAT
    generated_at: str
    model_name: str
    model_version: str
    window: ReportWindow
    card: ModelCard
    training: TrainingSection
    drift: DriftSection
    quality: QualitySection
    data_quality: DataQualitySection
