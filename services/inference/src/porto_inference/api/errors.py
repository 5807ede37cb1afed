"""The one handler that turns the error tree into a stable JSON body.

Every error answer has the same shape::

    {"error": {"type": "validation_error", "message": "...", "details": [{"row": 3,
     "field": "ps_ind_01", "message": "..."}]}}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from porto.errors import (
    ConfigError,
    DataError,
    IntegrityError,
    NotFoundError,
    PortoError,
    StoreError,
)
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from porto_inference.errors import (
    BadRequestError,
    DatabaseUnavailableError,
    ErrorDetail,
    LogFullError,
    ModelNotReadyError,
    PayloadTooLargeError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
    ValidationFailedError,
)

log = logging.getLogger("porto_inference")

#: Stable ``type`` strings of the error body, by class (most specific first).
_TYPES: list[tuple[type[PortoError], str]] = [
    (ValidationFailedError, "validation_error"),
    (BadRequestError, "bad_request"),
    (UnauthorizedError, "unauthorized"),
    (PayloadTooLargeError, "payload_too_large"),
    (UnsupportedMediaTypeError, "unsupported_media_type"),
    (ModelNotReadyError, "model_not_ready"),
    (DatabaseUnavailableError, "database_unavailable"),
    (LogFullError, "log_full"),
    (NotFoundError, "not_found"),
    (IntegrityError, "integrity_error"),
    (StoreError, "store_unavailable"),
    (DataError, "invalid_data"),
    (ConfigError, "bad_request"),
]


def error_type(exc: PortoError) -> str:
    """The stable ``type`` string of ``exc``."""
    for cls, name in _TYPES:
        if isinstance(exc, cls):
            return name
    return "internal_error"


def error_response(
    status: int,
    kind: str,
    message: str,
    details: list[ErrorDetail] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The JSON error answer every failure uses; ``headers`` are added to it (``Allow`` of a
    405, for one)."""
    body: dict[str, Any] = {"type": kind, "message": message}
    if details:
        body["details"] = details
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return Response(
        orjson.dumps({"error": body}),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


async def _porto_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PortoError)
    request.scope.setdefault("state", {})["error"] = exc.message[:200]
    if exc.status_code >= 500:
        log.warning("request failed: %s", exc.message, extra={"error_type": error_type(exc)})
    details = exc.details if isinstance(exc, ValidationFailedError) else None
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, LogFullError) else None
    return error_response(exc.status_code, error_type(exc), exc.message, details, headers)


async def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details: list[ErrorDetail] = [
        {
            "field": ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query")),
            "message": str(err.get("msg", "invalid")),
        }
        for err in exc.errors()
    ]
    return error_response(422, "validation_error", "the request is not valid", details)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    kinds = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    kind = kinds.get(exc.status_code, "http_error")
    return error_response(exc.status_code, kind, exc.detail, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "internal error (see the server log)")


def install_error_handlers(app: FastAPI) -> None:
    """Map the error tree (and FastAPI's own validation and HTTP errors) to the JSON body."""
    app.add_exception_handler(PortoError, _porto_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
