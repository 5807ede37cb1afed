"""GET /health (liveness) and GET /ready (readiness)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from porto.contracts.serving import DatabaseStatus, ReadyResponse

from porto_inference.api.deps import ServiceDep

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness")
async def get_health() -> dict[str, str]:
    """The process answers. Nothing else is checked: a restart would not fix a database."""
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness",
    response_model=ReadyResponse,
    responses={503: {"model": ReadyResponse, "description": "No model loaded yet"}},
)
async def get_ready(service: ServiceDep, response: Response) -> ReadyResponse:
    """200 once a model is loaded, else 503. Also reports the served version, the last model
    load error and the prediction log database's state (which does not gate readiness).
    `model.fallback` is set while this worker serves a fallback because the version its alias
    names cannot be loaded: that alias and version, `reason`, `error`, and the `source` of the
    served version (`previously served`, the fallback alias, or `newest verified version`).
    `challengers` lists the configured challengers: the version each names, whether this worker
    has it loaded, and why not."""
    described = service.models.describe()
    served = described["served"]
    response.status_code = 200 if served is not None else 503
    return ReadyResponse(
        status="ready" if served is not None else "not_ready",
        model=served,
        model_error=described["last_error"],
        database=DatabaseStatus.model_validate(service.prediction_log.status()),
        challengers=service.challengers.states(),
    )
