"""Checking an uploaded CSV against a version's feature schema before anything is sent.

The API validates too (and the page shows its answer the same way), but checking here first
means a 100,000-row file with one bad cell is refused in a second with the row and column named,
instead of after half the chunks were scored. The rules are the API's: every feature column
present, no unknown columns (the id and target columns are allowed), numbers in numeric and
binary columns, 0/1 (or the missing marker) in binary ones; an empty cell is a missing value.
Values outside the range seen in training and categories never seen are accepted by the model,
so they are warnings, not errors.

Rows are numbered as a spreadsheet shows them: row 1 is the first line after the header.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from porto.reference import missing_categories
from porto.schema import FeatureKind, FeatureSchema, FeatureSpec, categorical_series

#: Problems listed one by one; beyond this they are only counted (per column in the summary).
MAX_LISTED = 200
#: Strings that mean "no value" in a numeric column (besides the empty cell).
NULL_STRINGS = frozenset({"", "nan", "NaN", "NAN", "null", "NULL", "None", "NA", "N/A"})


@dataclass(frozen=True)
class Issue:
    """One problem or warning: ``row`` is None for the whole file or a whole column."""

    row: int | None
    column: str
    message: str


@dataclass
class CsvReport:
    """The outcome of :func:`check_csv`."""

    frame: pd.DataFrame | None = None
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    error_count: int = 0
    errors_by_column: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the file can be sent."""
        return self.error_count == 0 and self.frame is not None

    def error(self, row: int | None, column: str, message: str) -> None:
        """Record an error (listed while fewer than MAX_LISTED, always counted)."""
        self.error_count += 1
        self.errors_by_column[column] = self.errors_by_column.get(column, 0) + 1
        if len(self.errors) < MAX_LISTED:
            self.errors.append(Issue(row, column, message))

    def table(self) -> pd.DataFrame:
        """The listed errors as a table (row, column, problem)."""
        return pd.DataFrame(
            [
                {"row": "" if i.row is None else i.row, "column": i.column, "problem": i.message}
                for i in self.errors
            ],
            columns=["row", "column", "problem"],
        )


def read_csv(data: bytes) -> pd.DataFrame:
    """Every cell as the text it holds (no type guessing, empty cells stay ``""``)."""
    return pd.read_csv(
        io.BytesIO(data),
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        skipinitialspace=True,
        encoding="utf-8-sig",  # spreadsheets like to start with a byte-order mark
    )


def check_csv(data: bytes, schema: FeatureSchema, *, max_rows: int) -> CsvReport:
    """Read ``data`` and check it against ``schema``; never raises on bad input."""
    report = CsvReport()
    if not data.strip():
        report.error(None, "(file)", "the file is empty")
        return report
    try:
        frame = read_csv(data)
    except UnicodeDecodeError:
        report.error(None, "(file)", "the file is not UTF-8 text: save it as CSV (UTF-8)")
        return report
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        report.error(None, "(file)", f"not a readable CSV file: {_first_line(exc)}")
        return report
    frame.columns = [str(c).strip() for c in frame.columns]
    header = _header(data)
    _check_header(header, schema, report)
    if len(set(header)) != len(header):
        return report  # which of two same-named columns holds the feature? nothing more to say
    if frame.empty:
        report.error(None, "(file)", "the file has a header but no rows")
        return report
    if len(frame) > max_rows:
        report.error(None, "(file)", f"{len(frame):,} rows: at most {max_rows:,} per upload")
        return report
    # The columns that are there are checked too, so one upload shows every problem at once.
    for spec in schema.features:
        if spec.name not in frame.columns:
            continue
        column = frame[spec.name].str.strip()
        if spec.kind is FeatureKind.CATEGORICAL:
            _check_categories(column, spec, schema, report)
        else:
            _check_numbers(column, spec.name, spec.kind, spec.min, spec.max, schema, report)
            # What is sent says "missing" the one way the API reads: an empty cell.
            column = column.where(~column.isin(NULL_STRINGS), "")
        frame[spec.name] = column
    if report.error_count == 0:
        report.frame = frame
    return report


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _header(data: bytes) -> list[str]:
    """The header's names as written (pandas would rename a repeated ``x`` to ``x.1``)."""
    import csv

    first = data.decode("utf-8-sig", errors="replace").splitlines()[0]
    return [c.strip() for c in next(csv.reader([first], skipinitialspace=True), [])]


def _check_header(header: list[str], schema: FeatureSchema, report: CsvReport) -> None:
    seen: set[str] = set()
    for name in header:
        if name in seen:
            report.error(None, name, "the column appears more than once")
        seen.add(name)
    allowed = (
        set(schema.names)
        | set(schema.ignored)
        | {c for c in (schema.id_column, schema.target) if c}
    )
    for name in dict.fromkeys(header):
        if name not in allowed:
            report.error(None, name, "unknown column: not a feature of this model version")
    for name in schema.names:
        if name not in seen:
            report.error(None, name, "missing column: the model needs this feature")


def _check_numbers(
    column: pd.Series,
    name: str,
    kind: FeatureKind,
    lo: float | None,
    hi: float | None,
    schema: FeatureSchema,
    report: CsvReport,
) -> None:
    text = column.to_numpy(dtype=object)
    empty = np.isin(text, list(NULL_STRINGS))
    numbers = pd.to_numeric(column.where(~empty, None), errors="coerce").to_numpy(dtype="float64")
    bad = ~empty & np.isnan(numbers)
    for i in np.flatnonzero(bad):
        report.error(int(i) + 1, name, f"expected a number, got {_quote(text[i])}")
    infinite = np.isinf(numbers)
    for i in np.flatnonzero(infinite):
        report.error(int(i) + 1, name, "expected a finite number")
    present = ~np.isnan(numbers) & ~infinite
    if schema.missing_value is not None:
        present &= numbers != schema.missing_value
    if kind is FeatureKind.BINARY:
        wrong = present & (numbers != 0) & (numbers != 1)
        for i in np.flatnonzero(wrong):
            report.error(int(i) + 1, name, f"expected 0 or 1 (binary feature), got {text[i]}")
        return
    outside = present & (
        (numbers < (lo if lo is not None else -math.inf))
        | (numbers > (hi if hi is not None else math.inf))
    )
    count = int(outside.sum())
    if count:
        first = int(np.flatnonzero(outside)[0]) + 1
        report.warnings.append(
            Issue(
                first,
                name,
                f"{count} value(s) outside the training range [{lo:g}, {hi:g}] "
                f"(first in row {first}): the model extrapolates",
            )
        )


def canonical_categories(column: pd.Series, spec: FeatureSpec) -> pd.Series:
    """CSV text → the canonical category strings training used: for numeric categories
    ``"3"``, ``"3.0"`` and ``" 3"`` are all ``"3"``; only an empty cell is missing (``"nan"``),
    as the API reads it."""
    values = column.where(column != "", None)
    if spec.dtype in ("int", "float"):
        numbers = pd.to_numeric(values, errors="coerce")
        values = values.astype(object).where(numbers.isna(), numbers.astype(object))
    return categorical_series(values.astype(object))


def _check_categories(
    column: pd.Series, spec: FeatureSpec, schema: FeatureSchema, report: CsvReport
) -> None:
    canonical = canonical_categories(column, spec)
    unseen = ~canonical.isin(spec.categories or []) & ~canonical.isin(missing_categories(schema))
    count = int(unseen.sum())
    if count:
        first = int(np.flatnonzero(unseen.to_numpy())[0]) + 1
        examples = ", ".join(sorted({str(v) for v in canonical[unseen].head(50)})[:3])
        report.warnings.append(
            Issue(
                first,
                spec.name,
                f"{count} value(s) never seen in training ({examples}; first in row {first}): "
                "scored as an unknown category",
            )
        )


def _quote(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def chunks(frame: pd.DataFrame, rows: int) -> list[tuple[int, bytes]]:
    """``frame`` as CSV bodies of at most ``rows`` rows, each with the header, and the index of
    its first row (to map the API's row numbers back to the file's)."""
    out = []
    for start in range(0, len(frame), rows):
        part = frame.iloc[start : start + rows]
        out.append((start, part.to_csv(index=False).encode()))
    return out
