"""GET /health (liveness) and GET /ready (readiness)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter
from starlette.responses import Response

from porto_inference.api.deps import ServiceDep

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness")
async def get_health() -> dict[str, str]:
    """The process answers. Nothing else is checked: a restart would not fix a database."""
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness",
    responses={503: {"description": "No model loaded yet"}},
)
async def get_ready(service: ServiceDep) -> Response:
    """200 once a model is loaded, else 503. Also reports the served version, the last model
    load error and the prediction log database's state (which does not gate readiness).
    `model.fallback` is set while this worker serves a fallback because the version its alias
    names cannot be loaded: that alias and version, `reason`, `error`, and the `source` of the
    served version (`previously served`, the fallback alias, or `newest verified version`)."""
    described = service.models.describe()
    ready = described["served"] is not None
    detail = {
        "status": "ready" if ready else "not_ready",
        "model": described["served"],
        "model_error": described["last_error"],
        "database": service.prediction_log.status(),
    }
    return Response(
        orjson.dumps(detail), status_code=200 if ready else 503, media_type="application/json"
    )
