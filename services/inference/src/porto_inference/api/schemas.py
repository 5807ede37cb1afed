"""Request-body descriptions and error responses for the OpenAPI document (/docs); the response
models are :mod:`porto.contracts.api`.

Request bodies are parsed by the service straight from bytes (orjson → numpy), not by pydantic,
so their schemas are declared here by hand, with examples; the app replaces the examples with a
typical record of the model it actually serves.
"""

from __future__ import annotations

from typing import Any

from porto.contracts.api import ErrorResponse

#: Shown until a model is loaded; replaced by a typical record of the served model's schema.
GENERIC_RECORD: dict[str, Any] = {"feature_a": 2, "feature_b_cat": 1, "feature_c": 0.71}


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
                        "summary": "Wrapped, with an id (echoed back in the answer)",
                        "value": {"id": 7, "features": record},
                    },
                    "positional": {
                        "summary": "Positional, in model feature order (values only, no names)",
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
