"""POST /feedback."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from porto_inference.deps import ApiKeyDep, ServiceDep, SettingsDep
from porto_inference.errors import UnsupportedMediaTypeError
from porto_inference.routes.body import read_body
from porto_inference.schemas import ERRORS, FeedbackResponse, feedback_body
from porto_inference.service import media_type

router = APIRouter(tags=["feedback"], dependencies=[ApiKeyDep])


@router.post(
    "/feedback",
    summary="Send ground-truth labels for earlier predictions",
    response_model=None,
    responses={200: {"model": FeedbackResponse}, **ERRORS},
    openapi_extra={"requestBody": feedback_body()},
)
async def create_feedback(request: Request, service: ServiceDep, settings: SettingsDep) -> Response:
    """Label one or many earlier predictions by prediction id. Unknown ids are reported in the
    answer and do not stop the others from being applied."""
    kind = media_type(request.headers.get("content-type"))
    if kind not in ("application/json", ""):
        raise UnsupportedMediaTypeError(f"cannot read {kind}: send application/json")
    body = await read_body(request, settings.max_body_bytes)
    result = await service.feedback(body)
    request.state.rows = result["received"]
    return Response(orjson.dumps(result), media_type="application/json")
