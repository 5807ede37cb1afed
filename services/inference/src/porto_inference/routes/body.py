"""Reading request bodies within the configured size limit."""

from __future__ import annotations

from fastapi import Request
from starlette.requests import ClientDisconnect

from porto_inference.errors import BadRequestError, PayloadTooLargeError


async def read_body(request: Request, limit: int) -> bytes:
    """The request body; PayloadTooLargeError (413) beyond ``limit`` bytes, checked against
    Content-Length before reading and again while reading (chunked bodies have none)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError as exc:
            raise BadRequestError("invalid Content-Length header") from exc
        if size > limit:
            raise PayloadTooLargeError(f"the body has {size} bytes: the limit is {limit}")
    # Straight from the ASGI receive channel: Starlette's request.body() goes through an async
    # generator, which costs more than the rest of this function on a small body.
    receive = request.receive
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise PayloadTooLargeError(f"the body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
