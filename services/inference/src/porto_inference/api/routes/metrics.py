"""GET /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

router = APIRouter(tags=["metrics"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def get_metrics(request: Request) -> Response:
    """Prometheus exposition text, merged over every gunicorn worker."""
    body, content_type = request.app.state.metrics.render()
    return Response(body, media_type=content_type)
