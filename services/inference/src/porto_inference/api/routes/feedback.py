"""POST /feedback."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from fastapi import APIRouter, Request
from porto.contracts.api import FeedbackResponse
from starlette.responses import Response

from porto_inference.api.deps import ApiKeyDep, ServiceDep, SettingsDep
from porto_inference.api.routes.body import read_body, unstorable_json
from porto_inference.api.schemas import ERRORS, feedback_body
from porto_inference.errors import UnsupportedMediaTypeError
from porto_inference.scoring.batch import Problems, unstorable
from porto_inference.scoring.service import media_type

router = APIRouter(tags=["feedback"], dependencies=[ApiKeyDep])


@router.post(
    "/feedback",
    summary="Send ground-truth labels for earlier predictions",
    response_model=None,
    responses={200: {"model": FeedbackResponse}, **ERRORS},
    openapi_extra={"requestBody": feedback_body()},
)
async def create_feedback(request: Request, service: ServiceDep, settings: SettingsDep) -> Response:
    """Label one or many earlier predictions by prediction id, each id once. Unknown ids are
    reported in the answer and do not stop the others from being applied."""
    kind = media_type(request.headers.get("content-type"))
    if kind not in ("application/json", ""):
        raise UnsupportedMediaTypeError(f"cannot read {kind}: send application/json")
    body = await read_body(request, settings.max_body_bytes)
    check_ids(body, settings.batch_max_rows)
    result = await service.feedback(body)
    request.state.rows = result["received"]
    return Response(orjson.dumps(result), media_type="application/json")


def _id_key(pid: str) -> str:
    """What makes two prediction ids the same one: the UUID they spell, in any case or form."""
    try:
        return str(uuid.UUID(pid))
    except ValueError:
        return pid


def check_ids(body: bytes, limit: int) -> None:
    """ValidationFailedError (422) naming each row whose prediction id repeats an earlier row's
    (which label should win is the client's to say) or holds text PostgreSQL cannot store.
    Everything else about the items (labels, fields, shapes, more than ``limit`` of them) the
    service checks."""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        refused = unstorable_json(body, lists=("feedback",))
        if refused is not None:
            raise refused from None
        return  # the service answers the malformed body
    if type(data) is dict and "feedback" in data and len(data) == 1:
        data = data["feedback"]
    items = data if type(data) is list else [data]
    if len(items) > limit:
        return  # a 413 from the service
    problems = Problems()
    first_row: dict[str, int] = {}
    for row, item in enumerate(items):
        pid = item.get("prediction_id") if type(item) is dict else None
        if type(pid) is not str:
            continue
        problem = unstorable(pid)
        if problem is not None:
            problems.add(row, "prediction_id", problem)
            continue
        seen = first_row.setdefault(_id_key(pid), row)
        if seen != row:
            problems.add(
                row, "prediction_id", f"the same id as row {seen}: send each prediction id once"
            )
    problems.raise_if_any()
