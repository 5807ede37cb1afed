"""Reading request bodies within the configured size limit, and naming the field of a JSON
string PostgreSQL could not store."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from fastapi import Request
from starlette.requests import ClientDisconnect

from porto_inference.errors import BadRequestError, PayloadTooLargeError, ValidationFailedError
from porto_inference.scoring.batch import Problems, unstorable


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


def printable(text: str) -> str:
    """``text`` with unpaired surrogates escaped, so an error message can be encoded."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _first_unstorable(value: Any, path: list[str | int]) -> tuple[list[str | int], str] | None:
    """(path, problem) of the first string or key in ``value`` PostgreSQL cannot store."""
    if type(value) is str:
        problem = unstorable(value)
        return None if problem is None else (path, problem)
    items: Iterable[tuple[str | int, Any]]
    if type(value) is dict:
        for key in value:
            problem = unstorable(key)
            if problem is not None:
                return [*path, key], f"the key {problem}"
        items = value.items()
    elif type(value) is list:
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _first_unstorable(item, [*path, key])
        if found is not None:
            return found
    return None


def _field(path: list[str | int]) -> str:
    """A path inside one record as a field name: ``ps_car_01_cat``, ``features[3]``, ``id.a``."""
    if len(path) > 1 and path[0] == "features":
        path = path[1:] if type(path[1]) is str else path
    text = ""
    for part in path:
        if type(part) is int:
            text += f"[{part}]"
        else:
            text += ("." if text else "") + printable(str(part))
    return text


def unstorable_json(body: bytes, lists: tuple[str, ...] = ()) -> ValidationFailedError | None:
    """After orjson refused ``body``: a 422 naming the row and field of the first string holding
    an unpaired surrogate escape (``"\\ud800"``, which orjson refuses as malformed JSON and
    PostgreSQL cannot store) or U+0000, if that is why; otherwise None.

    A top-level list, or a list under one of the keys in ``lists`` (``{"records": [...]}``), is
    a list of rows. Only called on a refused body, so parsing it again costs nothing in service.
    """
    if b"\\u" not in body:
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    found = _first_unstorable(data, [])
    if found is None:
        return None
    path, problem = found
    if type(data) is dict and len(data) == 1 and path and path[0] in lists:
        path = path[1:]
    problems = Problems()
    if type(data) is list or (path and type(path[0]) is int):
        row = path[0]
        assert type(row) is int
        problems.add(row, _field(path[1:]), problem)
    else:
        problems.add(None, _field(path), problem)
    return problems.error()
