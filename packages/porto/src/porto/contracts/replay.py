"""A replay of logged traffic: the logged requests of a time window scored again with any model
version, compared with what was served and with the labels where there are some.

``POST /monitoring/replay`` takes a :class:`ReplayRequest` and answers a :class:`ReplayReport`;
``porto-inference replay --json`` prints the same report, and the UI reads it.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ReplayFilters(BaseModel):
    """Which logged rows of the window are replayed (every field optional)."""

    model_config = ConfigDict(extra="forbid")

    model_name: str | None = Field(
        default=None,
        max_length=128,
        description="The log's model_name (default: the service's MODEL_NAME).",
    )
    model_version: str | None = Field(
        default=None, max_length=128, description="Only rows served by this version."
    )
    endpoint: str | None = Field(
        default=None,
        max_length=256,
        description="Only rows logged by this route, e.g. /predict or /predict/batch.",
    )


class ReplayRequest(BaseModel):
    """``POST /monitoring/replay``'s body."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True)

    version: str = Field(
        min_length=1, max_length=128, description="The version or alias to replay with."
    )
    from_: datetime = Field(
        alias="from",
        description="Start of the window (inclusive), ISO 8601; without an offset it is UTC.",
    )
    to: datetime = Field(description="End of the window (exclusive), ISO 8601.")
    limit: int | None = Field(
        default=None,
        ge=1,
        description="Most rows replayed, the oldest first (default and maximum: "
        "REPLAY_MAX_ROWS; more is answered 413).",
    )
    record: bool = Field(
        default=False,
        description="Write the replayed scores to challenger_predictions (source 'replay'); "
        "rows recorded before for this version are kept as they are.",
    )
    filters: ReplayFilters = Field(default_factory=ReplayFilters)


class Agreement(BaseModel):
    """Replayed scores against the served ones, over the rows replayed."""

    rows: int
    mean_abs_delta: float | None = Field(description="Mean |replayed − served score|.")
    max_abs_delta: float | None = Field(description="Largest |replayed − served score|.")
    class_agreement: float | None = Field(
        description="Share of rows whose replayed class (at the replay version's threshold) "
        "equals the served class."
    )
    became_positive: float | None = Field(
        description="Share of the rows replayed that were served as class 0 and replay as "
        "class 1 (class_agreement + became_positive + became_negative = 1)."
    )
    became_negative: float | None = Field(
        description="Share of the rows replayed that were served as class 1 and replay as class 0."
    )


class SkipReason(BaseModel):
    """Rows the replay version could not score, for one reason."""

    reason: str
    rows: int
    examples: list[str] = Field(description="A few of their prediction ids.")


class ServedVersionReplay(BaseModel):
    """The rows one served version answered: how many, how many were skipped, and how the
    replay compares on them."""

    model_version: str
    rows: int
    skipped: int
    agreement: Agreement


class CalibrationFigures(BaseModel):
    """How well probabilities match outcomes (``porto_inference.monitoring.quality``)."""

    mean_score: float
    positive_rate: float
    brier: float = Field(description="Mean squared error of the probabilities.")
    ece: float = Field(description="Expected calibration error over ten equal-width bins.")


class ScoreQuality(BaseModel):
    """One side's quality on the labelled rows, at its own threshold."""

    roc_auc: float | None = Field(description="None while the labels hold a single class.")
    gini: float | None = Field(description="Normalised Gini, 2 x ROC-AUC - 1.")
    f1: float
    precision: float
    recall: float
    calibration: CalibrationFigures


class LabelledComparison(BaseModel):
    """Served and replayed quality on the replayed rows that carry a label."""

    labels: int
    positives: int
    served: ScoreQuality = Field(
        description="The served scores, F1 at the classes served (each row's own threshold)."
    )
    replayed: ScoreQuality = Field(
        description="The replayed scores, F1 at the replay version's threshold."
    )


class ReplayReport(BaseModel):
    """What a replay did and found."""

    model_name: str
    version: str = Field(description="The version replayed with (the alias resolved).")
    requested: str = Field(description="The version or alias asked for.")
    threshold: float = Field(description="The replay version's threshold.")
    from_: datetime = Field(alias="from")
    to: datetime
    filters: ReplayFilters
    limit: int | None = Field(description="The row limit (None: the whole window).")
    rows_read: int = Field(description="Logged rows read from the window.")
    truncated: bool = Field(description="True when the limit stopped the replay early.")
    rows_replayed: int
    rows_skipped: int
    skipped: list[SkipReason] = Field(description="Most frequent reason first.")
    agreement: Agreement
    by_served_version: list[ServedVersionReplay]
    labelled: LabelledComparison | None = Field(
        description="None when no replayed row carries a label."
    )
    recorded: int | None = Field(
        default=None,
        description="Rows written to challenger_predictions (None: not asked); rows recorded "
        "before for this version are not counted again.",
    )
    seconds: float

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)
