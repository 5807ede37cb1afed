"""Reading request bodies within the configured size limit: a plain body or a multipart upload
(what the body holds is :mod:`porto_inference.scoring.payload`'s to read)."""

from __future__ import annotations

from fastapi import Request
from porto.errors import PortoError
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect

from porto_inference.errors import BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError
from porto_inference.scoring.payload import media_type


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


async def read_upload(request: Request, limit: int) -> tuple[bytes, str]:
    """The first uploaded file of a multipart form, and its content type by name or header."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"the body has {declared} bytes: the limit is {limit}")
    try:
        form = await request.form(max_files=1, max_fields=10)
    except PortoError:  # from the body stream itself: a gzip body too large or corrupt
        raise
    except Exception as exc:  # starlette raises several types for broken multipart bodies
        raise BadRequestError(f"malformed multipart body: {exc}") from exc
    try:
        upload = next((v for v in form.values() if isinstance(v, UploadFile)), None)
        if upload is None:
            raise BadRequestError("the multipart body holds no file: upload the CSV as `file`")
        if upload.size is not None and upload.size > limit:  # a chunked body has no length
            raise PayloadTooLargeError(f"the file has {upload.size} bytes: the limit is {limit}")
        content = await upload.read()
        name = (upload.filename or "").lower()
        declared_type = media_type(upload.content_type)
    finally:
        await form.close()
    if name.endswith(".json") or declared_type == "application/json":
        return content, "application/json"
    if name.endswith(".csv") or declared_type in ("text/csv", "application/csv", ""):
        return content, "text/csv"
    raise UnsupportedMediaTypeError(f"cannot read an upload of type {declared_type}: send CSV")
