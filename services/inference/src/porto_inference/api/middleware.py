"""Per-request bookkeeping as plain ASGI middleware: request id, latency, HTTP and inference
counters, page views, and the one JSON log line per request; and request bodies sent with
``Content-Encoding: gzip``, decoded on the fly within the body size limit.

Plain ASGI (not Starlette's BaseHTTPMiddleware) because this runs on every request: it adds a
few microseconds, not a task and a stream copy.

What only the handling of a request learns reaches this middleware on the ASGI scope's
``state`` (``request.state``), Starlette's channel from a handler back to the middleware around
it: the middleware puts ``request_id`` there; the prediction and feedback routes add
``model_version``, ``rows`` and ``features``, the error handler ``error``. Only the api/ room
touches it: the routes pass scoring explicit values and write what scoring returned.
"""

from __future__ import annotations

import logging
import re
import time
import zlib
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from porto_inference.errors import (
    BadRequestError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from porto_inference.ids import random_hex
from porto_inference.logs import AccessLog
from porto_inference.monitoring.metrics import Metrics

log = logging.getLogger("porto_inference.access")

#: Endpoints whose requests count in the inference_* request metrics the dashboards query: the
#: named-feature routes, feedback, and the Open Inference Protocol's infer routes (api/routes/v2).
INFERENCE_ENDPOINTS = frozenset(
    {
        "/predict",
        "/predict/batch",
        "/feedback",
        "/v2/models/{model_name}/infer",
        "/v2/models/{model_name}/versions/{model_version}/infer",
    }
)
#: Human-facing pages counted in page_views_total.
PAGES = frozenset({"/docs", "/redoc", "/"})
#: Routes FastAPI adds without marking the scope (the handler label is their path).
_STATIC = frozenset({*PAGES, "/openapi.json", "/docs/oauth2-redirect"})
#: The docs pages' JavaScript, CSS and icon (one handler label for all of them).
_ASSETS = "/docs/static"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
#: Content codings read; ``identity`` is no coding at all.
GZIP = frozenset({"gzip", "x-gzip"})
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer around deflate data


class GzipBody:
    """Decompresses a gzip request body chunk by chunk, never holding more than ``limit``
    decompressed bytes: a small body that inflates past it (a zip bomb) is refused with 413 as
    soon as it does, not after filling memory. Concatenated gzip members are one body."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0
        self.started = False
        self._inflate = zlib.decompressobj(_GZIP_WBITS)

    def feed(self, data: bytes) -> bytes:
        """The decompressed bytes of the next compressed chunk."""
        out: list[bytes] = []
        while data:
            self.started = True
            room = self.limit - self.total
            try:
                chunk = self._inflate.decompress(data, room + 1)
            except zlib.error as exc:
                raise BadRequestError(f"the gzip body is corrupt: {exc}") from None
            self.total += len(chunk)
            if self.total > self.limit:
                raise PayloadTooLargeError(
                    f"the body exceeds the limit of {self.limit} bytes once decompressed"
                )
            out.append(chunk)
            if self._inflate.eof:  # the next gzip member, if any
                data = self._inflate.unused_data
                if data:
                    self._inflate = zlib.decompressobj(_GZIP_WBITS)
            else:
                data = self._inflate.unconsumed_tail
        return b"".join(out)

    def finish(self) -> None:
        """BadRequestError unless the body ended where a gzip member ends (or was empty)."""
        if self.started and not self._inflate.eof:
            raise BadRequestError("the gzip body is truncated")


def content_coding(value: bytes) -> str | None:
    """``gzip`` for a Content-Encoding header that needs decoding, None for identity;
    UnsupportedMediaTypeError (415) naming any other coding."""
    codings = [c.strip().lower() for c in value.decode("latin-1").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return None
    if len(codings) == 1 and codings[0] in GZIP:
        return "gzip"
    raise UnsupportedMediaTypeError(
        f"cannot read a body with Content-Encoding {', '.join(codings)}: send it as gzip or "
        "uncompressed"
    )


def decoding_receive(receive: Receive, encoding: bytes, limit: int) -> Receive:
    """``receive`` with the request body decoded from ``encoding``. Errors are raised where the
    body is read (by the route), so the error handlers answer them as JSON; a request whose
    route never reads its body is not refused for its coding."""
    decoder: GzipBody | None = None
    failure: Exception | None = None
    try:
        if content_coding(encoding) is not None:
            decoder = GzipBody(limit)
    except UnsupportedMediaTypeError as exc:
        failure = exc

    async def receive_decoded() -> Message:
        message = await receive()
        if message["type"] != "http.request":
            return message
        if failure is not None:
            raise failure
        if decoder is None:
            return message
        body = decoder.feed(message.get("body", b""))
        more = message.get("more_body", False)
        if not more:
            decoder.finish()
        return {"type": "http.request", "body": body, "more_body": more}

    return receive_decoded


class RequestMiddleware:
    """Times every request and records what it did."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        access_log: AccessLog | None = None,
        max_body_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.access_log = access_log if log.isEnabledFor(logging.INFO) else None
        # Metric children by label values: labels() takes a lock and builds a key each call.
        self._http: dict[tuple[str, str, str], Any] = {}
        self._inference: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        request_id = None
        encoding = None
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                text = value.decode("latin-1")
                if _REQUEST_ID.match(text):
                    request_id = text
            elif key == b"content-encoding":
                encoding = value
        if encoding is not None:
            receive = decoding_receive(receive, encoding, self.max_body_bytes)
            # what the app reads is the decoded body: its length and coding are not the header's
            scope["headers"] = [
                (k, v)
                for k, v in scope["headers"]
                if k not in (b"content-encoding", b"content-length")
            ]
        if request_id is None:
            request_id = random_hex(16)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        in_flight = self.metrics.http_in_flight
        in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            in_flight.dec()
            self._record(scope, state, status, time.perf_counter() - began, request_id)

    def _record(
        self, scope: Scope, state: dict[str, Any], status: int, seconds: float, request_id: str
    ) -> None:
        route = scope.get("route")
        handler = getattr(route, "path", None)
        if handler is None:
            path = scope["path"]
            if path in _STATIC:
                handler = path
            elif path.startswith(_ASSETS + "/"):
                handler = _ASSETS
            else:
                handler = "unmatched"
        status_text = str(status)
        m = self.metrics
        key = (scope["method"], handler, status_text)
        child = self._http.get(key)
        if child is None:
            child = self._http[key] = m.http_requests.labels(*key)
        child.inc()
        version = state.get("model_version", "")
        if handler in INFERENCE_ENDPOINTS:
            ikey = (handler, version, status_text)
            children = self._inference.get(ikey)
            if children is None:
                children = self._inference[ikey] = (
                    m.inference_requests.labels(handler, version, status_text),
                    m.inference_latency.labels(handler, version),
                    m.inference_errors.labels(handler, version, status_text)
                    if status >= 400
                    else None,
                )
            children[0].inc()
            children[1].observe(seconds)
            if children[2] is not None:
                children[2].inc()
        elif handler in PAGES and status < 400:
            m.page_views.labels(handler).inc()
        if self.access_log is not None:
            fields: dict[str, Any] = {
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                "route": handler,
                "status": status,
                "latency_ms": round(seconds * 1000.0, 3),
            }
            if version:
                fields["model_version"] = version
            rows = state.get("rows")
            if rows is not None:
                fields["rows"] = rows
            error = state.get("error")
            if error:
                fields["error"] = error
            features = state.get("features")
            if features is not None:
                fields["features"] = features
            self.access_log.write(fields)
