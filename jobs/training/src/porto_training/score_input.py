"""The dataset ``porto-score`` reads: a local file or ``s3://bucket/key``, CSV (also gzipped) or
Parquet, fingerprinted, then read back in chunks of a fixed number of rows and checked against a
model's feature schema the way the API checks a request.

An S3 object is streamed to a temporary file first (Parquet needs random access, and the chunks
must be read again on a resumed run): memory stays bounded by one chunk, whatever the size of the
dataset. The fingerprint (size + sha256 of the bytes) is what a run manifest records, so a resumed
run can tell that its input is still the same file.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from porto.errors import DataError, NotFoundError, PortoError, StoreError
from porto.schema import FeatureKind, FeatureSchema
from porto.store import S3Options, S3Store, split_s3_uri

INPUT_FORMATS = ("auto", "csv", "parquet")
_BLOCK = 1 << 20


@dataclass(frozen=True)
class LocalInput:
    """The dataset as a local file, with what identifies its content."""

    path: Path
    source: str
    size: int
    sha256: str
    format: str
    #: Data rows: exact for Parquet, counted from line ends for an uncompressed CSV (a quoted
    #: value may hold a line end, so it is only an estimate there), None for a gzipped CSV.
    rows: int | None


@contextmanager
def open_input(
    source: str, fmt: str = "auto", s3_options: S3Options | None = None
) -> Iterator[LocalInput]:
    """Yield the dataset ``source`` names as a local file with its fingerprint; an S3 object is
    streamed to a temporary file that is removed when the block ends."""
    if fmt not in INPUT_FORMATS:
        raise DataError(f"unknown input format {fmt!r} (use {', '.join(INPUT_FORMATS)})")
    if not source.startswith("s3://"):
        path = Path(source).expanduser()
        if path.is_dir():
            raise DataError(f"input {source} is a directory, not a file")
        if not path.is_file():
            raise DataError(f"input {source} does not exist")
        yield _describe(path, source, fmt)
        return
    with tempfile.TemporaryDirectory(prefix="porto-score-") as tmp:
        path = Path(tmp) / Path(split_s3_uri(source)[1]).name
        _download(source, path, s3_options or S3Options.from_env())
        yield _describe(path, source, fmt)


def _download(source: str, path: Path, options: S3Options) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_s3_uri(source)
    store = S3Store(bucket, "", options)
    try:
        # The artifact store reads whole objects into memory; a dataset may not fit, so it is
        # streamed to disk with the store's own configured client (endpoint, credentials,
        # timeouts, retries).
        with path.open("wb") as fh:
            store._client.download_fileobj(bucket, key, fh)
    except (BotoCoreError, ClientError) as exc:
        error = store._error(exc, f"read {key}")
        if isinstance(error, NotFoundError):
            raise DataError(f"input {source} does not exist") from exc
        raise DataError(f"cannot read input {source}: {error.message}") from exc
    except OSError as exc:
        raise StoreError(f"cannot write a temporary copy of {source}: {exc}") from exc


def _describe(path: Path, source: str, fmt: str) -> LocalInput:
    digest = hashlib.sha256()
    size = 0
    line_ends = 0
    last = b""
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
            fh.seek(0)
            while block := fh.read(_BLOCK):
                digest.update(block)
                size += len(block)
                line_ends += block.count(b"\n")
                last = block[-1:]
    except OSError as exc:
        raise DataError(f"cannot read input {source}: {exc.strerror or exc}") from exc
    if size == 0:
        raise DataError(f"input {source} is empty")
    if fmt == "auto":
        parquet = head == b"PAR1" or source.lower().endswith((".parquet", ".pq"))
        fmt = "parquet" if parquet else "csv"
    rows: int | None
    if fmt == "parquet":
        rows = _parquet_file(path, source).metadata.num_rows
    elif head[:2] == b"\x1f\x8b":
        rows = None
    else:
        rows = max(line_ends + (last != b"\n") - 1, 0)
    return LocalInput(path, source, size, digest.hexdigest(), fmt, rows)


def _parquet_file(path: Path, source: str) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DataError(f"cannot read input {source} as Parquet: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@dataclass(frozen=True)
class Chunk:
    """Consecutive rows of the input: ``frame`` holds rows ``start`` … ``start + len - 1``."""

    index: int
    start: int
    frame: pd.DataFrame


def read_columns(data: LocalInput) -> list[str]:
    """Return the input's column names (the CSV header, the Parquet schema)."""
    if data.format == "parquet":
        return list(_parquet_file(data.path, data.source).schema_arrow.names)
    try:
        return [str(c) for c in pd.read_csv(data.path, nrows=0).columns]
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"input {data.source} is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise DataError(f"cannot read input {data.source} as CSV: {_first_line(exc)}") from exc


def check_columns(columns: list[str], schema: FeatureSchema) -> list[str]:
    """Return the columns to read (features, and the id column when present); DataError naming
    any unknown column and any missing feature, as the API does for a request."""
    known = {*schema.names, *schema.ignored, schema.target}
    if schema.id_column:
        known.add(schema.id_column)
    unknown = [c for c in columns if c not in known]
    missing = [n for n in schema.names if n not in columns]
    problems = []
    if missing:
        problems.append("missing feature column(s) " + ", ".join(map(repr, missing)))
    if unknown:
        problems.append("unknown column(s) " + ", ".join(map(repr, unknown)))
    if problems:
        raise DataError(f"the input does not match the model's features: {'; '.join(problems)}")
    wanted = set(schema.names)
    if schema.id_column:
        wanted.add(schema.id_column)
    return [c for c in columns if c in wanted]


def iter_chunks(data: LocalInput, columns: list[str], chunk_rows: int) -> Iterator[Chunk]:
    """Yield the input's ``columns`` in chunks of ``chunk_rows`` rows (the last one shorter):
    pyarrow's record batches for Parquet, pandas' chunked reader for CSV. Chunk ``k`` always
    holds the same rows, which is what lets a resumed run skip the chunks already written."""
    start = 0
    for index, frame in enumerate(_frames(data, columns, chunk_rows)):
        frame.index = pd.RangeIndex(start, start + len(frame))
        yield Chunk(index, start, frame)
        start += len(frame)


def _frames(data: LocalInput, columns: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
    if data.format == "parquet":
        yield from _parquet_frames(data, columns, chunk_rows)
        return
    try:
        # Every column is parsed (no ``usecols``): with it, pandas silently drops the surplus
        # fields of a malformed line instead of naming the line.
        reader = pd.read_csv(data.path, chunksize=chunk_rows, low_memory=False)
        with reader:
            for frame in reader:
                yield frame[columns]
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"input {data.source} is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        # pandas names the line: "Expected 58 fields in line 7, saw 59".
        raise DataError(f"cannot parse input {data.source} as CSV: {_first_line(exc)}") from exc


def _parquet_frames(
    data: LocalInput, columns: list[str], chunk_rows: int
) -> Iterator[pd.DataFrame]:
    """pyarrow's record batches regrouped into exactly ``chunk_rows`` rows each (the last one
    shorter): pyarrow documents ``batch_size`` as a maximum only, and a resumed run needs chunk
    ``k`` to be the same rows whatever the pyarrow version or the file's row groups."""
    import pyarrow as pa

    batches = _parquet_file(data.path, data.source).iter_batches(
        batch_size=chunk_rows, columns=columns
    )
    pending: list[Any] = []
    count = 0
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            break
        except Exception as exc:  # pyarrow's errors for a damaged file
            raise DataError(
                f"cannot read input {data.source} as Parquet: {_first_line(exc)}"
            ) from exc
        while batch.num_rows:
            take = min(chunk_rows - count, batch.num_rows)
            pending.append(batch.slice(0, take))
            count += take
            batch = batch.slice(take)
            if count == chunk_rows:
                yield pa.Table.from_batches(pending).to_pandas()
                pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending).to_pandas()


def check_values(chunk: Chunk, schema: FeatureSchema, fmt: str) -> None:
    """DataError naming the first bad value of the chunk (line for CSV, row for Parquet): a
    number column holding text or an infinite value, a binary column holding anything but 0, 1
    or the missing marker. Unseen categories are fine, as in the API."""
    for spec in schema.features:
        if spec.kind is FeatureKind.CATEGORICAL:
            continue
        column = chunk.frame[spec.name]
        if column.dtype.kind in "biu":
            values = column.to_numpy(dtype="float64")
            bad_text = np.zeros(len(values), dtype=bool)
        else:
            numbers = pd.to_numeric(column, errors="coerce")
            values = numbers.to_numpy(dtype="float64", na_value=math.nan)
            bad_text = (numbers.isna() & column.notna()).to_numpy()
        if bad_text.any():
            at = int(np.argmax(bad_text))
            problem = f"expected a number, got {column.iloc[at]!r}"
            raise _value_error(chunk, fmt, at, spec.name, problem)
        if np.isinf(values).any():
            at = int(np.argmax(np.isinf(values)))
            raise _value_error(chunk, fmt, at, spec.name, "expected a finite number")
        if spec.kind is FeatureKind.BINARY:
            ok = (values == 0) | (values == 1) | np.isnan(values)
            if schema.missing_value is not None:
                ok |= values == schema.missing_value
            if not ok.all():
                at = int(np.argmin(ok))
                raise _value_error(
                    chunk,
                    fmt,
                    at,
                    spec.name,
                    f"expected 0 or 1 (binary feature), got {values[at]:g}",
                )


def _value_error(chunk: Chunk, fmt: str, at: int, column: str, problem: str) -> PortoError:
    row = chunk.start + at
    # A CSV's line: the header is line 1 (exact unless an earlier value spans lines).
    where = f"line {row + 2}" if fmt == "csv" else f"row {row + 1}"
    return DataError(f"{where}, column {column!r}: {problem}")
