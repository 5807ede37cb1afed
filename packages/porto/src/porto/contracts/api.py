"""The inference API's responses: one definition that the API serves (FastAPI's response_model,
hence the OpenAPI document) and clients parse (the UI), so neither side writes the shape twice."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from porto.contracts.serving import LoadError, ServedModel
from porto.schema import FeatureKind


class Explanation(BaseModel):
    """Why the model gave this score (``explain=true``): exact per-feature contributions in the
    model's raw-score units (log-odds), such that ``base_value`` + the sum of ``contributions``
    = ``raw_score`` and sigmoid(``raw_score``) = the probability. CatBoost: TreeSHAP, the base
    being the expected raw score; the logistic baseline: coefficient × encoded value, the base
    being the intercept."""

    base_value: float = Field(description="What the contributions add to (log-odds).")
    raw_score: float = Field(description="base_value + the sum of the contributions (log-odds).")
    contributions: dict[str, float] = Field(
        description="Each feature's contribution, in model feature order (positive: towards 1)."
    )


class PredictResponse(BaseModel):
    """One scored record."""

    prediction_id: str = Field(description="UUIDv7; send it back to /feedback with the label.")
    probability: float = Field(description="P(class 1).")
    class_: int = Field(alias="class", description="1 if probability >= threshold, else 0.")
    threshold: float
    model_name: str
    model_version: str
    id: Any | None = Field(default=None, description="The record's id column, echoed back.")
    explanation: Explanation | None = Field(
        default=None, description="Per-feature contributions, with explain=true only."
    )


class BatchRow(BaseModel):
    """One scored row of a batch, in input order."""

    row: int
    prediction_id: str
    probability: float
    class_: int = Field(alias="class")
    id: Any | None = None
    explanation: Explanation | None = Field(
        default=None, description="Per-feature contributions, with explain=true only."
    )


class BatchResponse(BaseModel):
    """A scored batch."""

    model_name: str
    model_version: str
    threshold: float
    count: int
    predictions: list[BatchRow]


class FeedbackResponse(BaseModel):
    """What happened to each label."""

    received: int
    applied: int = Field(description="Labels written to their predictions.")
    pending: list[str] = Field(
        description="Young ids not logged yet (still queued somewhere); applied on arrival."
    )
    unknown: list[str] = Field(description="Ids that are not (or no longer can be) predictions.")
    refused: list[str] = Field(
        default_factory=list,
        description="Young ids not logged yet that could not be kept waiting: the parked set is "
        "at its bound (per request or in total). Send them again later.",
    )


class FeatureInfo(BaseModel):
    """One input of the model, as a request sends it."""

    position: int = Field(description="Index in the model's feature order (positional input).")
    name: str
    kind: FeatureKind = Field(description="numeric, categorical or binary (0/1).")
    dtype: str = Field(description="'int' or 'float' for numbers, 'str' for text categories.")
    min: float | None = Field(default=None, description="Smallest value seen in training.")
    max: float | None = Field(default=None, description="Largest value seen in training.")
    categories: list[int | float | str] | None = Field(
        default=None,
        description="Categories seen in training, most frequent first (others are accepted and "
        "counted as unseen).",
    )
    missing_rate: float = Field(description="Share of missing values in the training data.")
    typical: int | float | str | None = Field(
        description="The value the example uses: median or most frequent category."
    )


class ModelSchemaResponse(BaseModel):
    """What POST /predict expects from a version, with a record ready to send."""

    model_name: str
    model_version: str
    features: list[FeatureInfo] = Field(description="The model's features, in model order.")
    id_column: str | None = Field(description="Echoed back when a record carries it.")
    missing_value: float | None = Field(
        description="The marker of a missing value (null works too)."
    )
    ignored: list[str] = Field(
        description="Dataset columns the model does not use: accepted and discarded."
    )
    example: dict[str, Any] = Field(
        description="A record of typical values: POST it to /predict as it is."
    )


class VersionSummary(BaseModel):
    """One version in GET /models."""

    version: str
    created_at: str
    model_type: str
    threshold: float
    metrics: dict[str, Any]
    aliases: list[str]
    features: int = Field(description="Number of features; their names and kinds: `schema`.")
    dataset_rows: int
    schema_url: str = Field(description="Path of the version's feature schema and example record.")


class ModelsResponse(BaseModel):
    """The versions of the served model name, its aliases and what this worker serves."""

    name: str
    store: str | None = Field(
        description="The artifact store's URI, without credentials; null when an API key is set "
        "and the request does not carry it."
    )
    aliases: dict[str, str]
    versions: list[VersionSummary] = Field(description="Oldest first.")
    served: ServedModel | None = Field(description="The version this worker serves.")
    last_error: LoadError | None = Field(description="The last version refused, and why.")


class ErrorDetail(BaseModel):
    """One problem with the request."""

    row: int | None = None
    field: str
    message: str


class ErrorBody(BaseModel):
    """The error object."""

    type: str
    message: str
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    """Every error answer has this shape."""

    error: ErrorBody
