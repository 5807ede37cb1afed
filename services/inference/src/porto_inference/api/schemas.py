"""Response models and request-body descriptions for the OpenAPI document (/docs).

Request bodies are parsed by the service straight from bytes (orjson → numpy), not by pydantic,
so their schemas are declared here by hand, with examples; the app replaces the examples with a
typical record of the model it actually serves.
"""

from __future__ import annotations

from typing import Any

from porto.schema import FeatureKind
from pydantic import BaseModel, Field

#: Shown until a model is loaded; replaced by a typical record of the served model's schema.
GENERIC_RECORD: dict[str, Any] = {"feature_a": 2, "feature_b_cat": 1, "feature_c": 0.71}


class PredictResponse(BaseModel):
    """One scored record."""

    prediction_id: str = Field(description="UUIDv7; send it back to /feedback with the label.")
    probability: float = Field(description="P(class 1).")
    class_: int = Field(alias="class", description="1 if probability >= threshold, else 0.")
    threshold: float
    model_name: str
    model_version: str
    id: Any | None = Field(default=None, description="The record's id column, echoed back.")


class BatchRow(BaseModel):
    """One scored row of a batch, in input order."""

    row: int
    prediction_id: str
    probability: float
    class_: int = Field(alias="class")
    id: Any | None = None


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
    served: dict[str, Any] | None = Field(
        description="The version this worker serves (name, version, alias, loaded_at)."
    )
    last_error: dict[str, Any] | None = Field(description="The last version refused, and why.")


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


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        400: "Malformed body",
        401: "Missing or wrong API key",
        404: "Unknown model version or alias",
        413: "Too many rows or bytes",
        415: "Unsupported content type",
        422: "Records that do not match the model's feature schema",
        503: "No model loaded yet",
    }.items()
}


#: The two orders a positional record may use, and where to read them.
POSITIONAL_ORDERS = (
    "Values by position, in one of two orders, told apart by their number: the model's "
    "features in model order (GET /models/{version}: `feature_schema.features[].name`), or a "
    "full row of the training data without its id and target columns — the features and the "
    "columns the model ignores, in the training data's column order "
    "(`feature_schema.dataset_columns`; the ignored values are discarded). Bundles that do "
    "not record `dataset_columns` (trained before porto recorded it) take the model order only. "
    "A list of any other length is a 422 naming both lengths."
)


def record_schema() -> dict[str, Any]:
    """JSON schema of one record: named features, wrapped, or positional."""
    return {
        "oneOf": [
            {
                "type": "object",
                "title": "Named features",
                "description": "Feature name → value; may also carry the dataset's id column.",
                "additionalProperties": True,
            },
            {
                "type": "object",
                "title": "Wrapped",
                "required": ["features"],
                "properties": {
                    "id": {"description": "Echoed back; not a feature."},
                    "features": {
                        "oneOf": [
                            {"type": "object", "additionalProperties": True},
                            {
                                "type": "array",
                                "description": POSITIONAL_ORDERS,
                                "items": {},
                            },
                        ]
                    },
                },
            },
        ]
    }


def predict_body(record: dict[str, Any]) -> dict[str, Any]:
    """The requestBody of POST /predict with examples for ``record``."""
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": record_schema(),
                "examples": {
                    "named": {"summary": "Named features", "value": record},
                    "wrapped": {
                        "summary": "Wrapped, with an id (as the first seed's UI sends)",
                        "value": {"id": 7, "features": record},
                    },
                    "positional": {
                        "summary": "Positional, in model feature order (as the second seed's "
                        "curl example sends)",
                        "value": {"features": list(record.values())},
                    },
                },
            }
        },
    }


def batch_body(record: dict[str, Any]) -> dict[str, Any]:
    """The requestBody of POST /predict/batch with examples for ``record``."""
    header = ",".join(["id", *record])
    line = ",".join(["7", *(str(v) for v in record.values())])
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "array", "items": record_schema()},
                        {
                            "type": "object",
                            "required": ["records"],
                            "properties": {"records": {"type": "array", "items": {}}},
                        },
                    ]
                },
                "examples": {
                    "records": {
                        "summary": "A list of records",
                        "value": [{"id": 7, **record}, {"id": 9, **record}],
                    },
                },
            },
            "text/csv": {
                "schema": {"type": "string"},
                "examples": {
                    "csv": {"summary": "CSV with a header", "value": f"{header}\n{line}\n"}
                },
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }


def feedback_body() -> dict[str, Any]:
    """The requestBody of POST /feedback."""
    item = {
        "type": "object",
        "required": ["prediction_id", "label"],
        "properties": {
            "prediction_id": {"type": "string"},
            "label": {
                "description": "1/true or 0/false, or one of the served model's own labels "
                '(its manifest\'s `labels`, e.g. "Yes"/"No"; strings are compared '
                "case-insensitively, as training compared them).",
                "oneOf": [
                    {"type": "integer", "enum": [0, 1]},
                    {"type": "boolean"},
                    {"type": "string"},
                ],
            },
        },
        "additionalProperties": False,
    }
    example = {"prediction_id": "0192f3c4-6a5e-7c1d-8e2f-3a4b5c6d7e8f", "label": 1}
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        item,
                        {"type": "array", "items": item},
                        {
                            "type": "object",
                            "required": ["feedback"],
                            "properties": {"feedback": {"type": "array", "items": item}},
                        },
                    ]
                },
                "examples": {
                    "one": {"summary": "One label", "value": example},
                    "many": {"summary": "Several labels", "value": [example, example]},
                },
            }
        },
    }
