"""FastAPI dependencies, declared once as ``Annotated`` aliases.

All of them are ``async def``: a plain ``def`` dependency runs in the thread pool, which on the
prediction path would cost more than the prediction.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from porto_inference.errors import UnauthorizedError
from porto_inference.scoring.service import InferenceService
from porto_inference.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token.")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key.")


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


async def get_service(request: Request) -> InferenceService:
    """The app's inference service: its parts, built in the lifespan."""
    service: InferenceService = request.app.state.service
    return service


#: OpenAPI security requirement of the routes that need the key (either header works).
API_KEY_SECURITY: list[dict[str, list[str]]] = [{"HTTPBearer": []}, {"APIKeyHeader": []}]


def authorize(request: Request) -> None:
    """Refuse the request (401) unless it carries the configured API key; no-op without one
    (local mode only: production settings refuse to start without a strong key).

    The routes behind it: /predict and /predict/batch (called directly), /feedback,
    /monitoring/* and GET /models/{version}/report (router dependency), POST /models/reload and
    POST /models/{version}/promote.
    /health, /ready, /metrics, the docs and the read-only GET /models…, /schema stay open.

    A plain function as well as a dependency: the prediction routes call it directly, because
    FastAPI's dependency resolution costs more per request than this whole check. Compared in
    constant time, so response timing reveals nothing about the key.
    """
    settings: Settings = request.app.state.settings
    if settings.api_key is None:
        return
    expected = settings.api_key.get_secret_value().encode()
    given = request.headers.get("x-api-key")
    if given is None:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        given = credentials.strip() if scheme.lower() == "bearer" else None
    if not given or not hmac.compare_digest(given.encode(), expected):
        raise UnauthorizedError(
            "missing or wrong API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`"
        )


async def require_api_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header_key: Annotated[str | None, Security(_api_key_header)],
) -> None:
    """The API key check as a dependency (declares both headers in the OpenAPI document)."""
    authorize(request)


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServiceDep = Annotated[InferenceService, Depends(get_service)]
ApiKeyDep = Depends(require_api_key)
