"""CSV bodies → model input, with errors that name the row and the column.

pandas' C parser reads the body and converts numbers straight into float64 columns (porto's core
needs pandas anyway, so the image carries no second CSV library), with Python's own float
parsing (``round_trip``): a number sent as CSV is the very float it is as JSON. pandas accepts
two things porto refuses, so they are checked here: a row with fewer fields than the header
(pandas pads it with empty cells) and one with more (pandas warns and drops the extra ones).
Only when something is refused does a slow pass with the csv module find which row and column.
Columns are matched by the header's names, in any order; the id and target columns are read
but are not features.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from porto.schema import FeatureKind

from porto_inference.errors import BadRequestError, ValidationFailedError

if TYPE_CHECKING:
    import pandas as pd

    from porto_inference.codec import EncodedBatch, FeatureCodec, Problems


def encode_csv(codec: FeatureCodec, body: bytes, problems: Problems) -> EncodedBatch:
    """Encode a CSV body with a header row for ``codec``'s schema."""
    from porto_inference.codec import EncodedBatch

    header = csv_header(body)
    for name in header:
        if name not in codec.name_set and name != codec.id_column and name not in codec.discard:
            problems.add(None, name, "unknown feature (CSV column)")
    present = set(header)
    if not codec.allow_missing:
        for name in codec.names:
            if name not in present:
                problems.add(None, name, "missing feature (CSV column)")
    problems.raise_if_any()
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
            codes[:, j] = np.asarray([vocab.code(v) for v in column], dtype=np.int32)
    ids = None
    if codec.id_column and codec.id_column in present:
        ids = [_csv_id(v) for v in _cells(table[codec.id_column])]
    return EncodedBatch(num=num, codes=codes, vocabs=vocabs, ids=ids, raw=None)


def csv_header(body: bytes) -> list[str]:
    """The header row's column names (stripped); BadRequestError if there is none."""
    try:
        first = body.split(b"\n", 1)[0].decode("utf-8-sig").strip("\r")
    except UnicodeDecodeError as exc:
        raise BadRequestError(f"the CSV body is not UTF-8: {exc.reason}") from exc
    header = [h.strip() for h in next(csv.reader([first]), [])]
    if not header or header == [""]:
        raise BadRequestError("the CSV body has no header row")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise BadRequestError(f"the CSV header repeats columns: {', '.join(dupes)}")
    return header


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
                io.BytesIO(body),
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
    except UnicodeDecodeError as exc:
        raise BadRequestError(f"the CSV body is not UTF-8: {exc.reason}") from exc
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


def _rows(body: bytes) -> Iterator[tuple[int, list[str]]]:
    """(row number counted from 0 under the header, fields) for every non-empty row."""
    reader = csv.reader(io.StringIO(body.decode("utf-8-sig", errors="replace")))
    next(reader, None)
    return enumerate(values for values in reader if values)


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
                detail = {"row": row, "field": name, "message": "expected a number"}
                return ValidationFailedError(f"row {row}, {name}: expected a number", [detail])
    first = message.splitlines()[0] if message else "unreadable"
    return BadRequestError(f"the CSV body cannot be parsed: {first}")


def _name_bad_numbers(
    codec: FeatureCodec, num: np.ndarray, present: set[str], problems: Problems
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
    """An id cell as the JSON the client would have sent: an integer when it looks like one."""
    if value is None:
        return None
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return text
