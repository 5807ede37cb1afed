"""What a request body holds before any model sees it: its media type, its JSON, and — when
orjson refuses it — the row and field of a string PostgreSQL could not store.

Plain bytes in, Python values or the error tree out: no HTTP here, so the scoring and feedback
modules read bodies the same way whatever carried them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import orjson

from porto_inference.errors import BadRequestError, ValidationFailedError
from porto_inference.scoring.batch import Problems, unstorable


def media_type(content_type: str | None) -> str:
    """The bare media type of a Content-Type header, lower case."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_json(body: bytes, lists: tuple[str, ...] = ()) -> Any:
    """The parsed body. BadRequestError (400) when it is empty or not JSON at all, unless orjson
    refused it for a string PostgreSQL cannot store: then the 422 of :func:`unstorable_json`
    naming its row and field (``lists`` as there)."""
    if not body.strip():
        raise BadRequestError("the request body is empty; send JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        refused = unstorable_json(body, lists)
        if refused is not None:
            raise refused from None
        raise BadRequestError(f"malformed JSON: {exc}") from exc


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
