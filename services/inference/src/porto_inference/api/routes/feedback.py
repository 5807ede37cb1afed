"""POST /feedback: the HTTP side of :mod:`porto_inference.scoring.feedback`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from porto.contracts.api import FeedbackResponse

from porto_inference.api.deps import ApiKeyDep, ServiceDep, SettingsDep
from porto_inference.api.routes.body import read_body
from porto_inference.api.schemas import ERRORS, feedback_body
from porto_inference.errors import UnsupportedMediaTypeError
from porto_inference.scoring.payload import media_type

router = APIRouter(tags=["feedback"], dependencies=[ApiKeyDep])


@router.post(
    "/feedback",
    summary="Send ground-truth labels for earlier predictions",
    response_model=FeedbackResponse,
    responses=ERRORS,
    openapi_extra={"requestBody": feedback_body()},
)
async def create_feedback(
    request: Request, service: ServiceDep, settings: SettingsDep
) -> FeedbackResponse:
    """Label one or many earlier predictions by prediction id, each id once. Unknown ids are
    reported in the answer and do not stop the others from being applied."""
    kind = media_type(request.headers.get("content-type"))
    if kind not in ("application/json", ""):
        raise UnsupportedMediaTypeError(f"cannot read {kind}: send application/json")
    body = await read_body(request, settings.max_body_bytes)
    answer = await service.feedback.record(body)
    request.state.rows = answer.received  # for the access log line (RequestMiddleware)
    return answer
