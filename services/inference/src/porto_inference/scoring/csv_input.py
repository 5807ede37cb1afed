"""CSV bodies → model input, with errors that name the row and the column.

pandas' C parser reads the body and converts numbers straight into float64 columns (porto's core
needs pandas anyway, so the image carries no second CSV library), with Python's own float
parsing (``round_trip``): a number sent as CSV is the very float it is as JSON. pandas accepts
two things porto refuses, so they are checked here: a row with fewer fields than the header
(pandas pads it with empty cells) and one with more (pandas warns and drops the extra ones).
Only when something is refused does a slow pass with the csv module find which row and column.
Columns are matched by the header's names, in any order; the id and target columns are read
but are not features.

Lines may end in LF, CRLF or a lone CR (old Mac exports), mixed or not: the csv module (opened with
``newline=""``) treats each as a line break outside quotes. pandas' C parser does not once a lone CR
is in the body: it drops the leading empty cell of the row after the header (shifting the row's
cells one column left), and with mixed endings invents rows or fails. So a body with a lone CR is
handed to pandas with every line break turned into LF (``_lf_lines``), within quoted cells too: a
cell there holds LF where the client sent CR or CRLF. The csv module's field size limit is lifted
for this process: its 131,072 characters became a 500 in the slow pass; porto checks the cells it
uses itself (:data:`~porto_inference.scoring.batch.MAX_TEXT_CHARS`) and names the row and column. A
NUL byte, which pandas silently cuts a cell at and PostgreSQL cannot store, is refused with its row
and column, as is a byte that is not UTF-8.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import sys
import warnings
from collections.abc import Iterator
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import orjson
from porto.schema import FeatureKind

from porto_inference.errors import (
    BadRequestError,
    ErrorDetail,
    PayloadTooLargeError,
    ValidationFailedError,
)
from porto_inference.scoring.batch import MAX_TEXT_CHARS, EncodedBatch, Problems, split_rows
from porto_inference.scoring.vocabulary import Vocabulary

if TYPE_CHECKING:
    import pandas as pd

#: Media types read as CSV by POST /predict/batch.
CSV_TYPES = frozenset({"text/csv", "application/csv", "text/plain"})
NUL_CELL = "contains a NUL byte, which cannot be stored"

#: An id cell read as an integer: ASCII digits (``int()`` also takes other scripts' digits, and
#: ``isdigit()`` superscripts that ``int()`` refuses), at most 20 of them.
_INTEGER_ID = re.compile("-?[0-9]{1,20}")

csv.field_size_limit(sys.maxsize)  # see the module docstring: porto checks cell sizes itself


class CsvCodec(Protocol):
    """What the CSV reader needs of :class:`~porto_inference.scoring.codec.FeatureCodec` (which
    imports this module, so the reader names the shape, not the class)."""

    allow_missing: bool
    names: list[str]
    name_set: frozenset[str]
    id_column: str | None
    discard: tuple[str, ...]
    kind_by_name: dict[str, FeatureKind]
    cat_names: list[str]
    num_names: list[str]

    def current_vocabs(self) -> list[Vocabulary]: ...

    def numbers_ok(self, num: np.ndarray) -> bool: ...


def check_row_limit(body: bytes, limit: int) -> None:
    """PayloadTooLargeError when the body has more than ``limit`` non-empty rows under its
    header, counted before anything is parsed. Line breaks are LF, CRLF or a lone CR."""
    breaks = body.count(b"\n")
    if breaks <= limit + 1 and b"\r" in body:
        breaks += body.count(b"\r") - body.count(b"\r\n")
    if breaks > limit + 1:  # a cheap upper bound first (quoted line breaks count too)
        rows = sum(1 for line in body.splitlines()[1:] if line.strip())
        if rows > limit:
            raise PayloadTooLargeError(f"{rows} rows: the limit is {limit} per request")


def encode_csv(codec: CsvCodec, body: bytes, problems: Problems) -> EncodedBatch:
    """Encode a CSV body with a header row for ``codec``'s schema."""
    header = csv_header(body)
    if b"\x00" in body:
        raise _nul_error(body, header)
    for name in header:
        if name not in codec.name_set and name != codec.id_column and name not in codec.discard:
            problems.add(None, name, "unknown feature (CSV column)")
    present = set(header)
    if not codec.allow_missing:
        for name in codec.names:
            if name not in present:
                problems.add(None, name, "missing feature (CSV column)")
    problems.raise_if_any()
    fast = _numbers_only(codec, body, header)
    if fast is not None:
        return fast
    kinds = codec.kind_by_name
    numeric = [n for n in header if n in kinds and kinds[n] is not FeatureKind.CATEGORICAL]
    table = _read(body, header, numeric)
    n = len(table)
    num = np.full((n, len(codec.num_names)), np.nan)
    for j, name in enumerate(codec.num_names):
        if name in present:
            num[:, j] = table[name].to_numpy(dtype=np.float64)
    if not codec.numbers_ok(num):
        _name_bad_numbers(codec, num, present, problems)
    vocabs = codec.current_vocabs()
    codes = np.zeros((n, len(codec.cat_names)), dtype=np.int32)
    for j, name in enumerate(codec.cat_names):
        vocab = vocabs[j]
        if name not in present:
            codes[:, j] = vocab.missing_code
            continue
        column = _cells(table[name])
        try:
            codes[:, j] = np.fromiter(map(vocab.raw.__getitem__, column), np.int32, n)
        except KeyError:
            codes[:, j] = _new_codes(vocab, column, name, problems)
    problems.raise_if_any()
    ids = None
    if codec.id_column and codec.id_column in present:
        ids = [_csv_id(v) for v in _cells(table[codec.id_column])]
        _check_ids(ids, codec.id_column, problems)
    return EncodedBatch(num=num, codes=codes, vocabs=vocabs, ids=ids, raw=None)


#: The bytes a body of numbers only may hold under its header (see :func:`_numbers_only`).
_NUMBER_BYTES = b"0123456789+-.eE,\n"


def _numbers_only(codec: CsvCodec, body: bytes, header: list[str]) -> EncodedBatch | None:
    """The commonest body, read fast: every cell under the header a number or empty, every
    categorical column's categories numbers (``3``, ``3.0`` and ``"3"`` one category), the id
    column (if sent) integers, LF or CRLF line ends. Such a body is a JSON array of arrays once
    its line breaks are ``],[`` and its empty cells ``null``, so orjson reads it, the parser
    JSON bodies go through: a number is the very float it is as JSON. Anything else (a quote, a
    letter, a blank line, a row of another width, a cell JSON does not read as a number, such as
    ``.5`` or ``01``) returns None, and the general reader below takes the body, with the same
    result for every body both read (a property test pins it) and the errors that name a row.
    """
    lf = body.find(b"\n")
    if lf < 0 or b"\r" in body[: lf - 1]:
        return None  # one line, or the header ends in a lone CR
    rest = body[lf + 1 :]
    if b"\r" in rest:
        if rest.count(b"\r") != rest.count(b"\r\n"):
            return None
        rest = rest.replace(b"\r\n", b"\n")
    rest = rest.rstrip(b"\n")
    if not rest or rest.translate(None, _NUMBER_BYTES):
        return None
    vocabs = codec.current_vocabs()
    if not all(vocab.numeric for vocab in vocabs):
        return None
    text = b"".join((b"[[", rest.replace(b"\n", b"],["), b"]]"))
    try:
        rows = orjson.loads(text)
    except orjson.JSONDecodeError:
        # Empty cells (",," "[," ",]" are not JSON): each a null, then read again. Looking for
        # them first would cost more than this parse on a body that has none, the commonest.
        text = text.replace(b",,", b",null,").replace(b",,", b",null,")
        text = text.replace(b"[,", b"[null,").replace(b",]", b",null]")
        try:
            rows = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
    n = len(rows)
    try:
        grid = np.array(rows, dtype=np.float64)
    except ValueError:  # rows of other widths
        return None
    if grid.shape != (n, len(header)):
        return None
    at = {name: i for i, name in enumerate(header)}
    ids = None
    if codec.id_column is not None and codec.id_column in at:
        i = at[codec.id_column]
        ids = [row[i] for row in rows]
        if not set(map(type, ids)) <= _ID_TYPES:
            return None
    if all(name in at for name in codec.num_names):
        # a C-ordered copy (``grid[:, cols]`` is not): numbers_ok writes into it through a view
        num = grid.take([at[name] for name in codec.num_names], axis=1)
    else:
        num = np.full((n, len(codec.num_names)), np.nan)
        for j, name in enumerate(codec.num_names):
            if name in at:
                num[:, j] = grid[:, at[name]]
    if not codec.numbers_ok(num):
        return None
    codes = np.empty((n, len(codec.cat_names)), dtype=np.int32)
    for j, name in enumerate(codec.cat_names):
        vocab = vocabs[j]
        codes[:, j] = vocab.missing_code
        if name not in at:
            continue
        column = grid[:, at[name]]
        present = ~np.isnan(column)
        found = vocab.number_codes(column[present])
        if found is not None:
            codes[present, j] = found
            continue
        values = column[present].tolist()
        try:
            found = np.fromiter(map(vocab.raw.__getitem__, values), np.int32, len(values))
        except KeyError:
            found = np.array([vocab.code(v) or 0 for v in values], dtype=np.int32)
        codes[present, j] = found
    return EncodedBatch(
        num=num,
        codes=codes,
        vocabs=vocabs,
        ids=ids,
        raw=None,
        logged=_logged_rows(codec, header, text, rows),
    )


#: The types an id cell of a body of numbers may be read as: an integer, or empty.
_ID_TYPES = frozenset({int, type(None)})

#: The first cell of every row of a body turned into JSON (the id column, when it comes first).
_FIRST_CELL = re.compile(rb"\[[^,\]]*,")


def _logged_rows(
    codec: CsvCodec, header: list[str], text: bytes, rows: list[list[Any]]
) -> list[bytes] | None:
    """The prediction log's rows of a body of numbers (each a JSON array of the features in
    model order, the cells as sent): cut straight from the body's JSON when its columns are
    the features in model order, after the id column or not; else picked from the parsed rows.
    None when a feature's column is absent (the log builds its rows from the batch then)."""
    names = codec.names
    if header == names or (header[0] == codec.id_column and header[1:] == names):
        inner = text[1:-1]
        if header != names:
            inner = _FIRST_CELL.sub(b"[", inner)
        parts = split_rows(inner)
        return parts if len(parts) == len(rows) else None
    at = {name: i for i, name in enumerate(header)}
    if not all(name in at for name in names):
        return None
    pick = itemgetter(*(at[name] for name in names))
    values = (
        [pick(row) for row in rows] if len(names) > 1 else [(row[at[names[0]]],) for row in rows]
    )
    return split_rows(orjson.dumps(values)[1:-1])


def _new_codes(vocab: Vocabulary, column: list[Any], name: str, problems: Problems) -> np.ndarray:
    """Codes of a column with values ``vocab`` has not met; cells too long to be a category
    are noted in ``problems`` (and never added to the vocabulary)."""
    codes = np.zeros(len(column), dtype=np.int32)
    for row, value in enumerate(column):
        if value is not None and len(value) > MAX_TEXT_CHARS:
            problems.add(row, name, f"{len(value)} characters: the limit is {MAX_TEXT_CHARS}")
        else:
            codes[row] = vocab.code(value) or 0  # a string or None: never refused
    return codes


def _check_ids(ids: list[Any], name: str, problems: Problems) -> None:
    for row, value in enumerate(ids):
        if type(value) is str and len(value) > MAX_TEXT_CHARS:
            problems.add(row, name, f"{len(value)} characters: the limit is {MAX_TEXT_CHARS}")
    problems.raise_if_any()


def _first_line(body: bytes) -> bytes:
    """The body up to its first line break (LF, CRLF or a lone CR), without it."""
    lf = body.find(b"\n")
    cr = body.find(b"\r", 0, lf if lf >= 0 else len(body))
    ends = [i for i in (lf, cr) if i >= 0]
    return body[: min(ends)] if ends else body


def csv_header(body: bytes) -> list[str]:
    """The header row's column names (stripped); BadRequestError if there is none, or if a name
    is not UTF-8, holds a NUL byte or is longer than any cell may be."""
    line = _first_line(body)
    try:
        first = line.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _utf8_error(line, None) from None
    header = [h.strip() for h in next(csv.reader([first]), [])]
    if not header or header == [""]:
        raise BadRequestError("the CSV body has no header row")
    for col, name in enumerate(header, start=1):
        if len(name) > MAX_TEXT_CHARS:
            raise BadRequestError(
                f"the CSV header's column {col} has {len(name)} characters: "
                f"the limit is {MAX_TEXT_CHARS}"
            )
        if "\x00" in name:
            raise BadRequestError(f"the CSV header's column {col} {NUL_CELL}")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise BadRequestError(f"the CSV header repeats columns: {', '.join(dupes)}")
    return header


def _lf_lines(body: bytes) -> bytes:
    """``body`` with CRLF and lone CR as LF if it holds a lone CR, else as is (pandas reads LF
    and CRLF alike; see the module docstring)."""
    cr = body.count(b"\r")
    if cr == 0 or cr == body.count(b"\r\n"):
        return body
    return body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _read(body: bytes, header: list[str], numeric: list[str]) -> pd.DataFrame:
    """The rows under the header: ``numeric`` columns as float64, the others as str or None.

    Empty cells (quoted or not) are missing; no other text is ("NA" can be a category).
    """
    import pandas as pd

    types: dict[str, Any] = {name: np.float64 for name in numeric}
    types.update({name: object for name in header if name not in types})
    try:
        with warnings.catch_warnings():
            # the only warning of a read with index_col=False: a row with more fields than the
            # header, whose extra fields pandas would drop
            warnings.simplefilter("error", pd.errors.ParserWarning)
            table = pd.read_csv(
                io.BytesIO(_lf_lines(body)),
                engine="c",
                header=None,
                names=header,
                skiprows=1,
                index_col=False,
                dtype=types,
                keep_default_na=False,
                na_values=[""],
                encoding="utf-8-sig",
                float_precision="round_trip",  # the float Python would read, bit for bit
            )
    except UnicodeDecodeError:
        raise _utf8_error(body, header) from None
    except (ValueError, pd.errors.ParserWarning) as exc:  # ParserError is a ValueError
        raise _located_error(body, header, numeric, str(exc)) from None
    # a short row: pandas filled its missing last cells, so its last cell is empty
    if len(table) and table[header[-1]].isna().any():
        short = _first_ragged_row(body, header)
        if short is not None:
            raise short
    return table


def _cells(column: pd.Series) -> list[Any]:
    """A column's cells as Python objects, None for the empty ones."""
    values = column.to_numpy(dtype=object)
    values[column.isna().to_numpy()] = None
    return values.tolist()


def _rows(body: bytes, errors: str = "replace") -> Iterator[tuple[int, list[str]]]:
    """(row number counted from 0 under the header, fields) for every non-empty row; bytes that
    are not UTF-8 are decoded as ``errors`` says."""
    text = io.StringIO(body.decode("utf-8-sig", errors=errors), newline="")
    reader = csv.reader(text)
    next(reader, None)
    return enumerate(values for values in reader if values)


def _column_name(header: list[str], col: int) -> str:
    return header[col] if col < len(header) else f"column {col + 1}"


def _nul_error(body: bytes, header: list[str]) -> Exception:
    """A 422 naming the first cell with a NUL byte."""
    for row, values in _rows(body):
        for col, value in enumerate(values):
            if "\x00" in value:
                name = _column_name(header, col)
                detail: ErrorDetail = {"row": row, "field": name, "message": NUL_CELL}
                return ValidationFailedError(f"row {row}, {name}: {NUL_CELL}", [detail])
    return BadRequestError(f"the CSV body {NUL_CELL}")


def _utf8_error(body: bytes, header: list[str] | None) -> BadRequestError:
    """A 400 naming the row and column of the first byte that is not UTF-8 (``header`` None:
    ``body`` is the header line itself)."""
    data = body[len(codecs.BOM_UTF8) :] if body.startswith(codecs.BOM_UTF8) else body
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start]
        offset = exc.start + len(body) - len(data)
    else:  # pragma: no cover - only called after a decode error
        return BadRequestError("the CSV body is not UTF-8")
    escaped = data.decode("utf-8", errors="surrogateescape")  # bad bytes as U+DC80..U+DCFF
    rows = csv.reader(io.StringIO(escaped, newline=""))
    for line, values in enumerate(r for r in rows if r):
        for col, value in enumerate(values):
            if any("\udc80" <= ch <= "\udcff" for ch in value):
                if header is None or line == 0:
                    where = f"header row, column {col + 1}"
                else:
                    where = f"row {line - 1}, {_column_name(header, col)}"
                return BadRequestError(
                    f"the CSV body is not UTF-8: {where}: byte 0x{bad:02x} at offset "
                    f"{offset} is not valid UTF-8 here"
                )
    return BadRequestError(f"the CSV body is not UTF-8: byte 0x{bad:02x} at offset {offset}")


def _first_ragged_row(body: bytes, header: list[str]) -> Exception | None:
    """An error for the first row whose field count is not the header's, if there is one."""
    for row, values in _rows(body):
        if len(values) != len(header):
            text = f"expected {len(header)} fields like the header, got {len(values)}"
            return ValidationFailedError(
                f"row {row}: {text}", [{"row": row, "field": "", "message": text}]
            )
    return None


def _located_error(body: bytes, header: list[str], numeric: list[str], message: str) -> Exception:
    """Turn a refused CSV body into an error naming the first bad row (and column)."""
    ragged = _first_ragged_row(body, header)
    if ragged is not None:
        return ragged
    columns = [(header.index(name), name) for name in numeric]
    for row, values in _rows(body):
        for col, name in columns:
            text = values[col].strip()
            try:
                if text:
                    float(text)
            except ValueError:
                detail: ErrorDetail = {"row": row, "field": name, "message": "expected a number"}
                return ValidationFailedError(f"row {row}, {name}: expected a number", [detail])
    first = message.splitlines()[0] if message else "unreadable"
    return BadRequestError(f"the CSV body cannot be parsed: {first}")


def _name_bad_numbers(
    codec: CsvCodec, num: np.ndarray, present: set[str], problems: Problems
) -> None:
    for j, name in enumerate(codec.num_names):
        if name not in present:
            continue
        column = num[:, j]
        for row in np.flatnonzero(np.isinf(column)):
            problems.add(int(row), name, "expected a finite number")
        if codec.kind_by_name[name] is FeatureKind.BINARY:
            ok = (column == 0) | (column == 1) | np.isnan(column)
            for row in np.flatnonzero(~ok):
                problems.add(int(row), name, "expected 0 or 1 (binary feature)")
    problems.raise_if_any()


def _csv_id(value: str | None) -> Any:
    """An id cell as the JSON the client would have sent: an integer when it is one JSON
    carries (ASCII digits, within 64 bits like a JSON id: the answer echoes it), else the
    text."""
    if value is None:
        return None
    text = value.strip()
    if _INTEGER_ID.fullmatch(text):
        number = int(text)
        if -(2**63) <= number < 2**64:
            return number
    return text
