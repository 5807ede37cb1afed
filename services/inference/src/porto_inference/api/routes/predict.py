"""POST /predict and POST /predict/batch: the HTTP side of :mod:`porto_inference.scoring.predict`.

The answers are :class:`~porto.contracts.api.PredictResponse` and
:class:`~porto.contracts.api.BatchResponse` (the OpenAPI document's ``response_model``), written
with orjson from the scored values under the contracts' own field names and aliases.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from porto.contracts.api import BatchResponse, BatchRow, PredictResponse
from pydantic import BaseModel
from starlette.responses import Response

from porto_inference.api.deps import API_KEY_SECURITY, authorize
from porto_inference.api.routes.body import read_body, read_upload
from porto_inference.api.schemas import ERRORS, GENERIC_RECORD, batch_body, predict_body
from porto_inference.errors import UnsupportedMediaTypeError, ValidationFailedError
from porto_inference.scoring.payload import media_type
from porto_inference.scoring.predict import (
    BatchPredictions,
    Prediction,
    Scorer,
    read_batch,
    read_record,
)
from porto_inference.settings import Settings


class DirectRoute(APIRoute):
    """An APIRoute whose endpoint is called with the Request as is: no dependency resolution.

    FastAPI resolves an endpoint's parameters on every request (query parsing, a scratch
    Response, sub-dependencies), which costs about as much as the whole HTTP floor. These two
    endpoints take only the Request, read what they need from it, and call authorize()
    themselves; the route stays a regular APIRoute for the OpenAPI document (get_route_handler
    is FastAPI's documented hook for custom route classes).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            response: Response = await endpoint(request)
            return response

        return handler


router = APIRouter(tags=["predict"], route_class=DirectRoute)

#: The query parameter both routes take, declared for the OpenAPI document. The handlers read it
#: from the query string themselves: a declared parameter goes through FastAPI's dependency
#: resolution, which costs about as much per request as scoring the row.
MODEL_VERSION_PARAMETER = {
    "name": "model_version",
    "in": "query",
    "required": False,
    "description": "Score with this version or alias instead of the served model.",
    "schema": {"type": "string", "maxLength": 128},
}


EXPLAIN_PARAMETER = {
    "name": "explain",
    "in": "query",
    "required": False,
    "description": "Add each feature's contribution to the score (exact: CatBoost TreeSHAP, or "
    "the baseline's linear terms), in log-odds, with the base value they add up from. Costs "
    "many times a prediction; batches take at most PORTO_INFERENCE_EXPLAIN_MAX_ROWS rows.",
    "schema": {"type": "boolean", "default": False},
}
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


def _query(request: Request) -> tuple[str | None, bool]:
    """The ``model_version`` and ``explain`` query parameters (the last of each, if repeated);
    422 for a version name that is too long or an ``explain`` that is not a boolean."""
    query: bytes = request.scope.get("query_string", b"")
    if not query:
        return None, False
    params = parse_qs(query.decode("latin-1"), keep_blank_values=True)
    versions = params.get("model_version")
    version = versions[-1] if versions else None
    if version is not None and len(version) > 128:
        raise ValidationFailedError(
            "model_version is too long",
            [{"field": "model_version", "message": "at most 128 characters"}],
        )
    flags = params.get("explain")
    flag = flags[-1].strip().lower() if flags else ""
    if flag not in _TRUE and flag not in _FALSE:
        raise ValidationFailedError(
            f"explain must be true or false, got {flag[:40]!r}",
            [{"field": "explain", "message": "expected true or false"}],
        )
    return version or None, flag in _TRUE


def _answer(content: bytes) -> Response:
    return Response(content, media_type="application/json")


def _fields(contract: type[BaseModel]) -> list[tuple[str, str]]:
    """(attribute, JSON key) of each field of a response contract, in its order."""
    return [(name, field.alias or name) for name, field in contract.model_fields.items()]


_PREDICT = _fields(PredictResponse)
_BATCH = _fields(BatchResponse)
_ROW_KEY = dict(_fields(BatchRow))


_OPTIONAL = frozenset({"id", "explanation"})


def predict_json(prediction: Prediction) -> bytes:
    """``prediction`` as :class:`PredictResponse` serialises it (keys, order, the ``class``
    alias), leaving ``id`` out when the record had none and ``explanation`` unless asked,
    without building the pydantic object."""
    answer = {key: getattr(prediction, name) for name, key in _PREDICT if name not in _OPTIONAL}
    if prediction.id is not None:
        answer["id"] = prediction.id[0]
    if prediction.explained is not None:
        answer["explanation"] = prediction.explained.row(0)
    return orjson.dumps(answer)


def batch_json(scored: BatchPredictions) -> bytes:
    """``scored`` as :class:`BatchResponse` serialises it. The rows are dict displays over the
    columns, as fast as literal dicts, with the keys looked up by field name in
    :class:`BatchRow` (a pydantic object per row would cost more than scoring the row)."""
    k = _ROW_KEY
    row, pid, probability, cls = k["row"], k["prediction_id"], k["probability"], k["class_"]
    rows = [
        {row: i, pid: p_id, probability: p, cls: c}
        for i, (p_id, p, c) in enumerate(
            zip(
                scored.prediction_ids,
                scored.probabilities.tolist(),
                scored.classes.tolist(),
                strict=True,
            )
        )
    ]
    if scored.ids is not None:
        record_id = k["id"]
        for item, value in zip(rows, scored.ids, strict=True):
            item[record_id] = value
    if scored.explained is not None:
        key, explained = k["explanation"], scored.explained
        for i, item in enumerate(rows):
            item[key] = explained.row(i)
    answer = {key: rows if name == "predictions" else getattr(scored, name) for name, key in _BATCH}
    return orjson.dumps(answer)


@router.post(
    "/predict",
    summary="Score one record",
    response_model=PredictResponse,
    responses=ERRORS,
    openapi_extra={
        "requestBody": predict_body(GENERIC_RECORD),
        "security": API_KEY_SECURITY,
        "parameters": [MODEL_VERSION_PARAMETER, EXPLAIN_PARAMETER],
    },
)
async def predict_record(request: Request) -> Response:
    """Score one record given as named features, wrapped as ``{"id", "features"}``, or as a
    positional array (``{"features": [...]}``): the model's features in model order, or a full
    training-data row without id and target in the training data's column order (see the
    schema's ``dataset_columns``). The answer carries the probability, the class at the model's
    threshold, the model version and a prediction id for /feedback."""
    authorize(request)
    kind = media_type(request.headers.get("content-type"))
    if kind not in ("application/json", ""):
        raise UnsupportedMediaTypeError(f"cannot read {kind}: send application/json")
    settings: Settings = request.app.state.settings
    body = await read_body(request, settings.max_body_bytes)
    version, explain = _query(request)
    began = time.perf_counter()
    record = read_record(body)
    scorer: Scorer = request.app.state.service.scorer
    model = await scorer.model(version)
    # What the request metrics and the access log line need (RequestMiddleware reads them):
    # the version is known before encoding, so a 422 counts under the version that refused it.
    state = request.state
    state.model_version = model.version
    prediction = await scorer.score_record(
        model,
        record,
        request_id=state.request_id,
        began=began,
        explain=explain,
        shadow=version is None,
    )
    state.rows = 1
    if settings.log_features:
        state.features = body.decode(errors="replace")
    return _answer(predict_json(prediction))


@router.post(
    "/predict/batch",
    summary="Score a batch (JSON list or CSV)",
    response_model=BatchResponse,
    responses=ERRORS,
    openapi_extra={
        "requestBody": batch_body(GENERIC_RECORD),
        "security": API_KEY_SECURITY,
        "parameters": [MODEL_VERSION_PARAMETER, EXPLAIN_PARAMETER],
    },
)
async def predict_batch(request: Request) -> Response:
    """Score a JSON list of records (any of /predict's shapes) or a CSV body or upload with a
    header row. Results keep the input order; errors name the row index and the column."""
    authorize(request)
    settings: Settings = request.app.state.settings
    content_type = request.headers.get("content-type")
    if media_type(content_type) == "multipart/form-data":
        body, content_type = await read_upload(request, settings.max_body_bytes)
    else:
        body = await read_body(request, settings.max_body_bytes)
    version, explain = _query(request)
    began = time.perf_counter()
    batch = read_batch(body, content_type, settings.batch_max_rows)
    scorer: Scorer = request.app.state.service.scorer
    model = await scorer.model(version)
    state = request.state
    state.model_version = model.version
    scored = await scorer.score_batch(
        model,
        batch,
        request_id=state.request_id,
        began=began,
        explain=explain,
        shadow=version is None,
    )
    state.rows = scored.count
    return _answer(batch_json(scored))
