"""The Open Inference Protocol (KServe V2) REST routes, beside the named-feature API.

``GET /v2``, ``/v2/health/live``, ``/v2/health/ready``, ``/v2/models/{name}[/versions/{v}]``
and its ``/ready``, and ``POST /v2/models/{name}[/versions/{v}]/infer``. The model name is the
served one (``MODEL_NAME``); a version is a version id or an alias, as ``/models/{version}``
takes it. Inference goes through :class:`~porto_inference.scoring.predict.Scorer` like
/predict and /predict/batch, so it is counted in the same metrics and logged in the same
prediction log, under the infer route's path as ``endpoint``. Errors answer the protocol's
``{"error": "<message>"}``; the wire format is :mod:`porto_inference.scoring.oip`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from porto.contracts.oip import (
    InferenceError,
    InferenceRequest,
    InferenceResponse,
    ModelMetadata,
    ModelReady,
    ServerLive,
    ServerMetadata,
    ServerReady,
)
from porto.errors import PortoError

from porto_inference import __version__
from porto_inference.api.deps import API_KEY_SECURITY, ServiceDep, authorize
from porto_inference.api.routes.body import read_body
from porto_inference.errors import BadRequestError, LogFullError
from porto_inference.scoring.oip import EXTENSIONS, ModelCatalog, answer, read_infer, records
from porto_inference.scoring.predict import BatchBody, Scorer
from porto_inference.scoring.service import InferenceService
from porto_inference.settings import Settings

#: The infer routes' paths: the ``endpoint`` of their metrics and prediction log rows.
INFER = "/v2/models/{model_name}/infer"
INFER_VERSION = "/v2/models/{model_name}/versions/{model_version}/infer"
#: The binary tensor data extension's header: the length of the JSON before the binary data.
HEADER_LENGTH = "inference-header-content-length"
SERVER_NAME = "porto-inference"


def v2_error(request: Request, exc: PortoError) -> Response:
    """``exc`` as the protocol's error body, with porto's status code for it."""
    request.scope.setdefault("state", {})["error"] = exc.message[:200]
    headers = {}
    if isinstance(exc, LogFullError):
        headers["Retry-After"] = str(exc.retry_after_s)
    if exc.status_code == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return Response(
        orjson.dumps({"error": exc.message}),
        status_code=exc.status_code,
        media_type="application/json",
        headers=headers,
    )


class V2Route(APIRoute):
    """A route whose errors answer ``{"error": ...}`` (the protocol's shape) instead of porto's
    error object."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except PortoError as exc:
                return v2_error(request, exc)

        return handle


class V2InferRoute(APIRoute):
    """The infer routes: the endpoint is called with the Request as is (no dependency
    resolution, as /predict's DirectRoute: it costs as much as scoring a row), errors in the
    protocol's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint

        async def handle(request: Request) -> Response:
            try:
                response: Response = await endpoint(request)
            except PortoError as exc:
                return v2_error(request, exc)
            return response

        return handle


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": InferenceError, "description": text}
    for code, text in {
        400: "Malformed request: unknown or missing input, shape, datatype or data mismatch",
        401: "Missing or wrong API key",
        404: "Unknown model or version",
        413: "Too many rows or bytes",
        422: "Values the model's feature schema refuses, or an empty batch",
        503: "No model loaded yet",
    }.items()
}

router = APIRouter(tags=["open inference protocol (v2)"], route_class=V2Route)
infer_router = APIRouter(tags=["open inference protocol (v2)"], route_class=V2InferRoute)


def _catalog(service: InferenceService) -> ModelCatalog:
    return ModelCatalog(service.models)


@router.get("/v2", summary="Server metadata", response_model=ServerMetadata)
async def get_server_metadata() -> ServerMetadata:
    """The server's name, version and the protocol extensions it supports."""
    return ServerMetadata(name=SERVER_NAME, version=__version__, extensions=EXTENSIONS)


@router.get("/v2/health/live", summary="Server liveness", response_model=ServerLive)
async def get_server_live() -> ServerLive:
    """The process answers (as /health)."""
    return ServerLive(live=True)


@router.get(
    "/v2/health/ready",
    summary="Server readiness",
    response_model=ServerReady,
    responses={503: {"model": ServerReady, "description": "No model loaded yet"}},
)
async def get_server_ready(service: ServiceDep, response: Response) -> ServerReady:
    """200 once a model is loaded, else 503 (as /ready)."""
    ready = service.models.current is not None
    response.status_code = 200 if ready else 503
    return ServerReady(ready=ready)


@router.get(
    "/v2/models/{model_name}",
    summary="Model metadata (the served version)",
    response_model=ModelMetadata,
    responses=ERRORS,
)
async def get_model_metadata(model_name: str, service: ServiceDep) -> ModelMetadata:
    """The served version's inputs (one per feature, in model order, with the datatype it is
    read best as: FP64 for numbers, INT64 or BYTES for categories) and outputs, and the versions
    and aliases /versions/{version} takes."""
    return await _catalog(service).metadata(model_name, None)


@router.get(
    "/v2/models/{model_name}/versions/{model_version}",
    summary="Model metadata (a version or alias)",
    response_model=ModelMetadata,
    responses=ERRORS,
)
async def get_model_version_metadata(
    model_name: str, model_version: str, service: ServiceDep
) -> ModelMetadata:
    """As GET /v2/models/{model_name}, for a version id or an alias."""
    return await _catalog(service).metadata(model_name, model_version)


async def _model_ready(
    service: InferenceService, model_name: str, version: str | None, response: Response
) -> ModelReady:
    ready = await _catalog(service).ready(model_name, version)
    response.status_code = 200 if ready else 503
    return ModelReady(name=model_name, ready=ready)


MODEL_READY_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {"model": ModelReady, "description": "Not loaded and cannot be loaded now"},
    404: ERRORS[404],
}


@router.get(
    "/v2/models/{model_name}/ready",
    summary="Model readiness (the served version)",
    response_model=ModelReady,
    responses=MODEL_READY_RESPONSES,
)
async def get_model_ready(model_name: str, service: ServiceDep, response: Response) -> ModelReady:
    """200 when the served version is loaded, else 503; 404 for another model name."""
    return await _model_ready(service, model_name, None, response)


@router.get(
    "/v2/models/{model_name}/versions/{model_version}/ready",
    summary="Model readiness (a version or alias)",
    response_model=ModelReady,
    responses=MODEL_READY_RESPONSES,
)
async def get_model_version_ready(
    model_name: str, model_version: str, service: ServiceDep, response: Response
) -> ModelReady:
    """200 when the version can answer (it is loaded now if it was not), 503 when it cannot be
    loaded (a bundle that fails verification, the store down), 404 when it does not exist."""
    return await _model_ready(service, model_name, model_version, response)


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its ``$defs`` put in place (the OpenAPI document does not
    hold them)."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def infer_body() -> dict[str, Any]:
    """The requestBody of the infer routes: the protocol's inference request, with examples."""
    per_feature = {
        "id": "42",
        "inputs": [
            {"name": "feature_a", "shape": [2], "datatype": "FP64", "data": [2, 3]},
            {"name": "feature_b_cat", "shape": [2], "datatype": "INT64", "data": [1, 4]},
            {"name": "feature_c", "shape": [2, 1], "datatype": "FP64", "data": [[0.71], [0.2]]},
        ],
    }
    matrix = {
        "inputs": [
            {
                "name": "input",
                "shape": [2, 3],
                "datatype": "FP64",
                "data": [[2, 1, 0.71], [3, 4, 0.2]],
            }
        ],
        "outputs": [{"name": "probability"}],
    }
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": _inline(InferenceRequest.model_json_schema()),
                "examples": {
                    "per_feature": {
                        "summary": "One input per feature (name = feature, shape [n] or [n, 1])",
                        "value": per_feature,
                    },
                    "matrix": {
                        "summary": "One 2-D input [n, features] in model feature order",
                        "value": matrix,
                    },
                },
            }
        },
    }


_INFER_DOC = """Score the rows of the request's tensors: one input per feature (name = feature
name, shape [n] or [n, 1]) or one 2-D input (any other name, shape [n, features]) in model
feature order (GET /v2/models/{model_name} lists them). Datatypes FP32/FP64, INT*/UINT*, BOOL and
BYTES (categories as text; numbers as text are read as numbers); null in a floating-point tensor
is a missing value, true/false in a numeric one 1/0. Outputs `probability` (FP64), `class`
(INT64, 1 when probability >= the model's threshold, which `parameters.threshold` gives) and
`prediction_id` (BYTES, for /feedback), each [n]; name some in `outputs` to get only those. With
`parameters.explain` true (or when named in `outputs`) also `contributions` (FP64 [n, features],
each feature's exact contribution to the raw score in log-odds, features in the metadata's input
order) and `base_value` (FP64 [n]): base + a row's contributions = its log-odds; at most
EXPLAIN_MAX_ROWS rows (413). The
binary tensor data extension (`Inference-Header-Content-Length`, `binary_data_size`,
`binary_data` / `binary_data_output`) works both ways. Row and byte limits are /predict/batch's."""


async def _infer(request: Request, version: str | None) -> Response:
    authorize(request)
    settings: Settings = request.app.state.settings
    body = await read_body(request, settings.max_body_bytes)
    header = request.headers.get(HEADER_LENGTH)
    header_length = None
    if header is not None:
        try:
            header_length = int(header)
        except ValueError:
            raise BadRequestError(f"invalid Inference-Header-Content-Length {header!r}") from None
    began = time.perf_counter()
    infer = read_infer(body, header_length, settings.batch_max_rows)
    service: InferenceService = request.app.state.service
    catalog = _catalog(service)
    catalog.check_name(request.path_params["model_name"])
    scorer: Scorer = service.scorer
    model = await scorer.model(catalog.check_version(version))
    state = request.state
    state.model_version = model.version
    rows = records(infer, model.codec.schema, allow_missing=model.codec.allow_missing)
    endpoint = INFER if version is None else INFER_VERSION
    explain = infer.explain
    if len(rows) == 1:
        one = await scorer.score_record(
            model,
            rows[0],
            request_id=state.request_id,
            began=began,
            endpoint=endpoint,
            explain=explain,
            shadow=version is None,
        )
        probabilities = np.array([one.probability])
        classes = np.array([one.class_])
        ids = [one.prediction_id]
        explained = one.explained
    else:
        batch = await scorer.score_batch(
            model,
            BatchBody(records=rows, csv=None),
            request_id=state.request_id,
            began=began,
            endpoint=endpoint,
            explain=explain,
            shadow=version is None,
        )
        probabilities, classes, ids = batch.probabilities, batch.classes, batch.prediction_ids
        explained = batch.explained
    state.rows = len(ids)
    if settings.log_features and header_length is None:
        state.features = body.decode(errors="replace")
    out = answer(
        infer,
        model_name=model.name,
        model_version=model.version,
        threshold=model.threshold,
        probabilities=probabilities,
        classes=classes,
        prediction_ids=ids,
        contributions=None if explained is None else explained.contributions,
    )
    if out.header_length is None:
        return Response(out.content, media_type="application/json")
    return Response(
        out.content,
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(out.header_length)},
    )


def _path_parameter(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


MODEL_NAME_PARAMETER = _path_parameter("model_name", "The served model name (MODEL_NAME).")
MODEL_VERSION_PARAMETER = _path_parameter("model_version", "A version id or an alias.")


@infer_router.post(
    INFER,
    summary="Infer (the served version)",
    description=_INFER_DOC,
    response_model=InferenceResponse,
    responses=ERRORS,
    openapi_extra={
        "requestBody": infer_body(),
        "security": API_KEY_SECURITY,
        "parameters": [MODEL_NAME_PARAMETER],
    },
)
async def infer_model(request: Request) -> Response:
    """POST /v2/models/{model_name}/infer."""
    return await _infer(request, None)


@infer_router.post(
    INFER_VERSION,
    summary="Infer (a version or alias)",
    description=_INFER_DOC,
    response_model=InferenceResponse,
    responses=ERRORS,
    openapi_extra={
        "requestBody": infer_body(),
        "security": API_KEY_SECURITY,
        "parameters": [MODEL_NAME_PARAMETER, MODEL_VERSION_PARAMETER],
    },
)
async def infer_model_version(request: Request) -> Response:
    """POST /v2/models/{model_name}/versions/{model_version}/infer."""
    return await _infer(request, request.path_params["model_version"])
