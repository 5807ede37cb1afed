"""POST /predict and POST /predict/batch."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from porto.contracts.api import BatchResponse, PredictResponse
from porto.errors import PortoError
from starlette.datastructures import UploadFile
from starlette.responses import Response

from porto_inference.api.deps import API_KEY_SECURITY, authorize
from porto_inference.api.routes.body import read_body, unstorable_json
from porto_inference.api.schemas import ERRORS, GENERIC_RECORD, batch_body, predict_body
from porto_inference.errors import (
    BadRequestError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationFailedError,
)
from porto_inference.scoring.csv_input import CSV_TYPES
from porto_inference.scoring.service import InferenceService, media_type


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


def _model_version(request: Request) -> str | None:
    query: bytes = request.scope.get("query_string", b"")
    if not query:
        return None
    values = parse_qs(query.decode("latin-1")).get("model_version")
    value = values[-1] if values else None
    if not value:
        return None
    if len(value) > 128:
        raise ValidationFailedError(
            "model_version is too long",
            [{"field": "model_version", "message": "at most 128 characters"}],
        )
    return value


def _json(data: object, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


@router.post(
    "/predict",
    summary="Score one record",
    response_model=None,
    responses={200: {"model": PredictResponse}, **ERRORS},
    openapi_extra={
        "requestBody": predict_body(GENERIC_RECORD),
        "security": API_KEY_SECURITY,
        "parameters": [MODEL_VERSION_PARAMETER],
    },
)
async def predict_record(request: Request) -> Response:
    """Score one record given as named features, wrapped as ``{"id", "features"}``, or as a
    positional array (``{"features": [...]}``): the model's features in model order, or a full
    training-data row without id and target in the training data's column order (see the
    schema's ``dataset_columns``). The answer carries the probability, the class at the model's
    threshold, the model version and a prediction id for /feedback."""
    authorize(request)
    service: InferenceService = request.app.state.service
    kind = media_type(request.headers.get("content-type"))
    if kind not in ("application/json", ""):
        raise UnsupportedMediaTypeError(f"cannot read {kind}: send application/json")
    settings = service.settings
    body = await read_body(request, settings.max_body_bytes)
    state = request.state
    try:
        result = await service.predict_one(
            body,
            model_version=_model_version(request),
            request_id=state.request_id,
            context=request.scope["state"],
        )
    except BadRequestError:
        refused = unstorable_json(body)
        if refused is None:
            raise
        raise refused from None
    state.rows = 1
    if settings.log_features:
        state.features = body.decode(errors="replace")
    return _json(result)


@router.post(
    "/predict/batch",
    summary="Score a batch (JSON list or CSV)",
    response_model=None,
    responses={200: {"model": BatchResponse}, **ERRORS},
    openapi_extra={
        "requestBody": batch_body(GENERIC_RECORD),
        "security": API_KEY_SECURITY,
        "parameters": [MODEL_VERSION_PARAMETER],
    },
)
async def predict_batch(request: Request) -> Response:
    """Score a JSON list of records (any of /predict's shapes) or a CSV body or upload with a
    header row. Results keep the input order; errors name the row index and the column."""
    authorize(request)
    service: InferenceService = request.app.state.service
    settings = service.settings
    content_type = request.headers.get("content-type")
    if media_type(content_type) == "multipart/form-data":
        body, content_type = await _upload(request, settings.max_body_bytes)
    else:
        body = await read_body(request, settings.max_body_bytes)
    csv = media_type(content_type) in CSV_TYPES
    state = request.state
    try:
        result = await service.predict_batch(
            body,
            content_type,
            model_version=_model_version(request),
            request_id=state.request_id,
            context=request.scope["state"],
        )
    except BadRequestError:
        refused = None if csv else unstorable_json(body, lists=("records",))
        if refused is None:
            raise
        raise refused from None
    state.rows = result["count"]
    return _json(result)


async def _upload(request: Request, limit: int) -> tuple[bytes, str]:
    """The first uploaded file of a multipart form, and its content type by name or header."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"the body has {declared} bytes: the limit is {limit}")
    try:
        form = await request.form(max_files=1, max_fields=10)
    except PortoError:  # from the body stream itself: a gzip body too large or corrupt
        raise
    except Exception as exc:  # starlette raises several types for broken multipart bodies
        raise BadRequestError(f"malformed multipart body: {exc}") from exc
    try:
        upload = next((v for v in form.values() if isinstance(v, UploadFile)), None)
        if upload is None:
            raise BadRequestError("the multipart body holds no file: upload the CSV as `file`")
        if upload.size is not None and upload.size > limit:  # a chunked body has no length
            raise PayloadTooLargeError(f"the file has {upload.size} bytes: the limit is {limit}")
        content = await upload.read()
        name = (upload.filename or "").lower()
        declared_type = media_type(upload.content_type)
    finally:
        await form.close()
    if name.endswith(".json") or declared_type == "application/json":
        return content, "application/json"
    if name.endswith(".csv") or declared_type in ("text/csv", "application/csv", ""):
        return content, "text/csv"
    raise UnsupportedMediaTypeError(f"cannot read an upload of type {declared_type}: send CSV")
