"""What the codec and the CSV reader share: the encoded batch, the bounded problem list and the
text limits. Both import this module; it imports neither.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from porto_inference.errors import ErrorDetail, ValidationFailedError
from porto_inference.scoring.vocabulary import Vocabulary

#: Error details kept per response: enough to fix a request, bounded for huge bad batches.
MAX_ERROR_DETAILS = 50
#: Up to this many rows, categories are coded row by row in one numpy call; above, per column.
SMALL_ROWS = 16
#: Longest text a category value or an id may be: the csv module's default field limit, so JSON
#: and CSV take the same cells (and a vocabulary never keeps megabyte strings).
MAX_TEXT_CHARS = 131_072
#: Field names longer than this are cut in error details (an unknown key can be any size).
MAX_FIELD_SHOWN = 200
#: Deepest an id that is an object or a list may nest: ids are echoed in the answer, whose
#: encoder stops at 254 levels, and checked recursively.
MAX_ID_DEPTH = 32
NUL_TEXT = "contains U+0000 (NUL), which cannot be stored"
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class EncodedBatch:
    """Validated model input for ``rows`` records, plus what the response and the log need."""

    num: np.ndarray
    codes: np.ndarray
    vocabs: list[Vocabulary]
    ids: list[Any] | None
    raw: list[Any] | None
    """Records as received (dicts or positional lists), for the prediction log; None for CSV."""
    values: list[tuple[Any, ...]] | None = None
    """Each record's feature values as received, in model order, when the codec took them out
    anyway (large batches of named features): the prediction log's rows, looked up once."""
    logged: list[bytes] | None = None
    """Each record's features as the prediction log stores them (a JSON array in model order),
    when the reader had that text for free (CSV bodies of numbers)."""

    @property
    def rows(self) -> int:
        """Number of records."""
        return int(self.num.shape[0])


def split_rows(rows: bytes) -> list[bytes]:
    """The JSON arrays in ``rows`` (the inside of a JSON array of arrays, ``[..],[..]``), each
    its own text, cut at the row boundaries ``],[`` (NUL, which orjson never writes unescaped,
    marks the cuts). A category text that holds ``],[`` gives more parts than rows: callers
    compare the count and build the rows one by one then."""
    return rows.replace(b"],[", b"]\x00[").split(b"\x00")


class Problems:
    """Collects validation errors, bounded, in a stable order."""

    def __init__(self) -> None:
        self.details: list[ErrorDetail] = []
        self.count = 0

    def add(self, row: int | None, field: str, message: str) -> None:
        self.count += 1
        if len(self.details) < MAX_ERROR_DETAILS:
            if len(field) > MAX_FIELD_SHOWN:
                field = field[:MAX_FIELD_SHOWN] + "..."
            item: ErrorDetail = (
                {"field": field, "message": message}
                if row is None
                else {"row": row, "field": field, "message": message}
            )
            self.details.append(item)

    def error(self) -> ValidationFailedError | None:
        """The error to raise for the problems collected, or None if there are none."""
        if not self.count:
            return None
        more = self.count - len(self.details)
        suffix = f" ({more} more not shown)" if more > 0 else ""
        first = self.details[0]
        where = f"row {first['row']}, " if "row" in first else ""
        return ValidationFailedError(
            f"{self.count} invalid value(s); first: {where}{first['field']}: "
            f"{first['message']}{suffix}",
            self.details,
        )

    def raise_if_any(self) -> None:
        error = self.error()
        if error is not None:
            raise error


def unstorable(text: str) -> str | None:
    """Why PostgreSQL cannot store ``text`` (its text and jsonb types hold neither U+0000 nor an
    unpaired surrogate, which is not a character at all), or None."""
    if "\x00" in text:
        return NUL_TEXT
    if not text.isascii():
        surrogate = _SURROGATE.search(text)
        if surrogate is not None:
            return f"contains an unpaired surrogate (U+{ord(surrogate.group()):04X}): not text"
    return None


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be a category or an id, or None: :func:`unstorable`, or longer than
    :data:`MAX_TEXT_CHARS`."""
    if len(text) > MAX_TEXT_CHARS:
        return f"{len(text)} characters: the limit is {MAX_TEXT_CHARS}"
    return unstorable(text)


def value_problem(value: Any, depth: int = 0) -> str | None:
    """:func:`text_problem` of the first bad string in ``value`` (a string, or an object or list
    holding strings, keys included), or that it nests deeper than :data:`MAX_ID_DEPTH`; None if
    there is none."""
    if type(value) is str:
        return text_problem(value)
    if type(value) is not dict and type(value) is not list:
        return None
    if depth >= MAX_ID_DEPTH:
        return f"nested deeper than {MAX_ID_DEPTH} levels"
    if type(value) is dict:
        for key, item in value.items():
            problem = text_problem(key) or value_problem(item, depth + 1)
            if problem is not None:
                return problem
    else:
        for item in value:
            problem = value_problem(item, depth + 1)
            if problem is not None:
                return problem
    return None
