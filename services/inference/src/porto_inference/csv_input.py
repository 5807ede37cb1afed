"""CSV bodies → model input, with errors that name the row and the column.

pyarrow's CSV reader parses and converts in C++ (numbers straight into float64 arrays); only
when it refuses a value does a slow pass with the csv module find which row and column.
Columns are matched by the header's names, in any order; the id and target columns are read
but are not features.
"""

from __future__ import annotations

import csv
import io
import re
from typing import TYPE_CHECKING, Any

import numpy as np
from porto.schema import FeatureKind

from porto_inference.errors import BadRequestError, ValidationFailedError

if TYPE_CHECKING:
    from porto_inference.codec import EncodedBatch, FeatureCodec, Problems


def encode_csv(codec: FeatureCodec, body: bytes, problems: Problems) -> EncodedBatch:
    """Encode a CSV body with a header row for ``codec``'s schema."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

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
    types: dict[str, Any] = {}
    for name in header:
        kind = codec.kind_by_name.get(name)
        numeric = kind is not None and kind is not FeatureKind.CATEGORICAL
        types[name] = pa.float64() if numeric else pa.string()
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(use_threads=False, column_names=header, skip_rows=1),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise _located_error(body, header, str(exc)) from None
    n = table.num_rows
    num = np.full((n, len(codec.num_names)), np.nan)
    for j, name in enumerate(codec.num_names):
        if name in present:
            num[:, j] = table.column(name).to_numpy(zero_copy_only=False)
    if not codec.numbers_ok(num):
        _name_bad_numbers(codec, num, present, problems)
    vocabs = codec.current_vocabs()
    codes = np.zeros((n, len(codec.cat_names)), dtype=np.int32)
    for j, name in enumerate(codec.cat_names):
        vocab = vocabs[j]
        if name not in present:
            codes[:, j] = vocab.missing_code
            continue
        column = table.column(name).to_pylist()
        try:
            codes[:, j] = np.fromiter(map(vocab.raw.__getitem__, column), np.int32, n)
        except KeyError:
            codes[:, j] = np.asarray([vocab.code(v) for v in column], dtype=np.int32)
    ids = None
    if codec.id_column and codec.id_column in present:
        ids = [_csv_id(v) for v in table.column(codec.id_column).to_pylist()]
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


def _rows(body: bytes) -> Any:
    reader = csv.reader(io.StringIO(body.decode("utf-8-sig", errors="replace")))
    next(reader, None)
    return enumerate(reader)


def _located_error(body: bytes, header: list[str], message: str) -> Exception:
    """Turn a pyarrow CSV failure into an error naming the row and the column."""
    match = re.search(r"CSV column #(\d+)", message)
    if match:
        col = int(match.group(1))
        name = header[col] if col < len(header) else f"#{col}"
        for row, values in _rows(body):
            if col < len(values):
                text = values[col].strip()
                try:
                    if text:
                        float(text)
                except ValueError:
                    detail = {"row": row, "field": name, "message": "expected a number"}
                    return ValidationFailedError(f"row {row}, {name}: expected a number", [detail])
        return ValidationFailedError(
            f"column {name}: {message}", [{"field": name, "message": message}]
        )
    if re.search(r"Expected \d+ columns, got \d+", message):
        for row, values in _rows(body):
            if values and len(values) != len(header):
                text = f"expected {len(header)} fields like the header, got {len(values)}"
                return ValidationFailedError(
                    f"row {row}: {text}", [{"row": row, "field": "", "message": text}]
                )
    return BadRequestError(f"the CSV body cannot be parsed: {message.splitlines()[0]}")


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
