"""Reading request bodies within the configured size limit."""

from __future__ import annotations

from fastapi import Request

from porto_inference.errors import BadRequestError, PayloadTooLargeError


async def read_body(request: Request, limit: int) -> bytes:
    """The request body; PayloadTooLargeError (413) beyond ``limit`` bytes, checked against
    Content-Length before reading and while streaming a body that has none."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError as exc:
            raise BadRequestError("invalid Content-Length header") from exc
        if size > limit:
            raise PayloadTooLargeError(f"the body has {size} bytes: the limit is {limit}")
        return await request.body()
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise PayloadTooLargeError(f"the body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
