"""Records → model input, validated against a model's feature schema, fast.

The decoding path, not the model, sets the service's ceiling, so this module never builds a
pandas frame or a pydantic object per row. A batch becomes two arrays:

- ``num``: float64 (rows × numeric and binary features), the missing marker and null as NaN,
  exactly what :func:`porto.schema.model_frame` gives training;
- ``codes``: int32 (rows × categorical features), indices into one :class:`Vocabulary` per
  feature whose strings are :func:`porto.schema.canonical_category` values, so 3, 3.0 and "3"
  are one category as in training.

The fast path checks shapes and types in bulk (numpy does the conversion); only when it fails
does the slow path walk the rows to name each bad row and field. Both paths give the same arrays.
"""

from __future__ import annotations

import io
import math
import re
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
from porto.reference import missing_categories
from porto.schema import FeatureKind, FeatureSchema, canonical_category

from porto_inference.errors import BadRequestError, ValidationFailedError

#: Error details kept per response: enough to fix a request, bounded for huge bad batches.
MAX_ERROR_DETAILS = 50
#: A vocabulary past this many strings starts afresh (bounds memory under unseen-value floods).
MAX_VOCABULARY = 100_000

_ABSENT: Any = object()


class Vocabulary:
    """Canonical category strings of one categorical feature, each with a stable code.

    Training's categories come first (codes ``0..known-1``); strings met later are appended.
    ``raw`` caches raw request value → code, so a repeated value costs one dict lookup.
    """

    def __init__(self, categories: Sequence[str], *, numeric: bool, missing: str) -> None:
        self.numeric = numeric
        self.missing = missing
        self.known = len(categories)
        self.strings: list[str] = []
        self.index: dict[str, int] = {}
        self.raw: dict[Hashable, int] = {}
        self._lock = threading.Lock()
        self._array: np.ndarray | None = None
        self._index: Any = None
        for s in categories:
            self._add(s)
        self.missing_code = self._add(missing)

    def _add(self, canonical: str) -> int:
        code = self.index.get(canonical)
        if code is None:
            with self._lock:
                code = self.index.get(canonical)
                if code is None:
                    code = len(self.strings)
                    self.strings.append(canonical)
                    self.index[canonical] = code
                    self._array = None
        return code

    def canonical(self, value: Any) -> str | None:
        """The canonical string of a raw value; None if the value cannot be a category."""
        if value is None:
            return self.missing
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return self.missing
            if self.numeric:
                try:
                    number = float(text)
                except ValueError:
                    return text
                return self.missing if math.isnan(number) else canonical_category(number)
            return text
        if isinstance(value, (bool, int, float)):
            if isinstance(value, float) and math.isnan(value):
                return self.missing
            return canonical_category(value)
        return None

    def code(self, value: Any) -> int | None:
        """The code of a raw value (added when new); None if it cannot be a category."""
        try:
            return self.raw[value]
        except KeyError:
            pass
        except TypeError:  # unhashable: a list or an object
            return None
        canonical = self.canonical(value)
        if canonical is None:
            return None
        code = self._add(canonical)
        if len(self.raw) < MAX_VOCABULARY:
            self.raw[value] = code
        return code

    @property
    def array(self) -> np.ndarray:
        """The strings as a numpy object array (code → string), rebuilt only after growth."""
        arr = self._array
        if arr is None or len(arr) != len(self.strings):
            arr = np.array(self.strings, dtype=object)
            self._array = arr
        return arr

    def categories_index(self) -> Any:
        """The strings as a pandas Index (for categorical columns), rebuilt only after growth."""
        import pandas as pd

        index = self._index
        if index is None or len(index) != len(self.strings):
            index = pd.Index(self.strings[:], dtype=object)
            self._index = index
        return index

    @property
    def full(self) -> bool:
        """Whether this vocabulary should be replaced by a fresh one."""
        return len(self.strings) >= MAX_VOCABULARY


@dataclass
class EncodedBatch:
    """Validated model input for ``rows`` records, plus what the response and the log need."""

    num: np.ndarray
    codes: np.ndarray
    vocabs: list[Vocabulary]
    ids: list[Any] | None
    raw: list[Any] | None
    """Records as received (dicts or positional lists), for the prediction log; None for CSV."""

    @property
    def rows(self) -> int:
        """Number of records."""
        return int(self.num.shape[0])


class _Problems:
    """Collects validation errors, bounded, in a stable order."""

    def __init__(self) -> None:
        self.details: list[dict[str, Any]] = []
        self.count = 0

    def add(self, row: int | None, field: str, message: str) -> None:
        self.count += 1
        if len(self.details) < MAX_ERROR_DETAILS:
            item: dict[str, Any] = {"field": field, "message": message}
            if row is not None:
                item = {"row": row, **item}
            self.details.append(item)

    def raise_if_any(self) -> None:
        if self.count:
            more = self.count - len(self.details)
            suffix = f" ({more} more not shown)" if more > 0 else ""
            first = self.details[0]
            where = f"row {first['row']}, " if "row" in first else ""
            raise ValidationFailedError(
                f"{self.count} invalid value(s); first: {where}{first['field']}: "
                f"{first['message']}{suffix}",
                self.details,
            )


def _getter(keys: Sequence[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """itemgetter that always returns a tuple (itemgetter(k) alone returns a scalar)."""
    if not keys:
        return lambda _record: ()
    if len(keys) == 1:
        key = keys[0]
        return lambda record: (record[key],)
    return itemgetter(*keys)


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


class FeatureCodec:
    """Turns JSON records, positional arrays or CSV into :class:`EncodedBatch` for one schema."""

    def __init__(self, schema: FeatureSchema, *, allow_missing: bool = False) -> None:
        self.schema = schema
        self.allow_missing = allow_missing
        self.names = schema.names
        self.name_set = frozenset(self.names)
        self.id_column = schema.id_column
        self.target = schema.target
        kinds = [f.kind for f in schema.features]
        self.kind_by_name = {f.name: f.kind for f in schema.features}
        self.cat_pos = [i for i, k in enumerate(kinds) if k is FeatureKind.CATEGORICAL]
        self.num_pos = [i for i, k in enumerate(kinds) if k is not FeatureKind.CATEGORICAL]
        self.cat_names = [self.names[i] for i in self.cat_pos]
        self.num_names = [self.names[i] for i in self.num_pos]
        self.binary_cols = np.array(
            [j for j, i in enumerate(self.num_pos) if kinds[i] is FeatureKind.BINARY], dtype=int
        )
        self.missing_value = schema.missing_value
        mv = schema.missing_value
        self.missing_category = "nan" if mv is None else canonical_category(mv)
        self.missing_strings = missing_categories(schema) | {self.missing_category}
        self._num_by_name = _getter(self.num_names)
        self._cat_by_name = _getter(self.cat_names)
        self._num_by_pos = _getter(self.num_pos)
        self._cat_by_pos = _getter(self.cat_pos)
        self.vocabs = self._new_vocabs()

    def _new_vocabs(self) -> list[Vocabulary]:
        out = []
        for name in self.cat_names:
            spec = self.schema.spec(name)
            out.append(
                Vocabulary(
                    spec.categories or [],
                    numeric=spec.dtype in ("int", "float"),
                    missing=self.missing_category,
                )
            )
        return out

    def _current_vocabs(self) -> list[Vocabulary]:
        if any(v.full for v in self.vocabs):
            self.vocabs = self._new_vocabs()
        return self.vocabs

    # --- JSON ------------------------------------------------------------------------------------
    def encode_items(self, items: list[Any]) -> EncodedBatch:
        """Encode JSON items: flat ``{feature: value}`` objects, wrapped ``{"id": ..,
        "features": {..} | [..]}`` objects, or positional lists in model feature order.

        A record's id column (and target column) is taken out, never used as a feature.
        ValidationFailedError names every bad row and field.
        """
        id_col, target = self.id_column, self.target
        payloads: list[Any] = items
        ids: list[Any] | None = None
        problems = _Problems()
        flat = all(type(x) is dict and "features" not in x for x in items)
        if flat:
            if id_col and any(id_col in x for x in items):
                ids = [x.pop(id_col, None) for x in items]
            if target and target not in self.name_set:
                for x in items:
                    x.pop(target, None)
        else:
            payloads, ids = self._unwrap(items, problems)
        problems.raise_if_any()
        return self._encode_payloads(payloads, ids)

    def _unwrap(self, items: list[Any], problems: _Problems) -> tuple[list[Any], list[Any] | None]:
        """Unwrap ``{"id": .., "features": ..}`` items; flat objects and lists pass through."""
        id_keys = {"id", self.id_column} - {None}
        target = self.target if self.target not in self.name_set else None
        payloads: list[Any] = []
        ids: list[Any] = []
        for row, x in enumerate(items):
            record_id = None
            if type(x) is dict:
                if "features" in x and "features" not in self.name_set:
                    for key in x:
                        if key != "features" and key not in id_keys:
                            problems.add(row, str(key), "unknown field next to 'features'")
                    record_id = next((x[k] for k in id_keys if k in x), None)
                    x = x["features"]
                    if type(x) is list:
                        payloads.append(x)
                        ids.append(record_id)
                        continue
                    if type(x) is not dict:
                        problems.add(row, "features", "expected an object or a list of values")
                        x = {}
                x = dict(x)
                if self.id_column and self.id_column in x:
                    record_id = x.pop(self.id_column)
                if target:
                    x.pop(target, None)
                payloads.append(x)
            elif type(x) is list:
                payloads.append(x)
            else:
                problems.add(row, "", f"a record must be an object or a list, got {_type_name(x)}")
                payloads.append({})
            ids.append(record_id)
        return payloads, (ids if any(i is not None for i in ids) else None)

    def _encode_payloads(self, payloads: list[Any], ids: list[Any] | None) -> EncodedBatch:
        n = len(payloads)
        width = len(self.names)
        vocabs = self._current_vocabs()
        if n and all(type(p) is dict and len(p) == width for p in payloads):
            try:
                num_rows = [self._num_by_name(p) for p in payloads]
                cat_rows = [self._cat_by_name(p) for p in payloads]
            except KeyError:
                pass
            else:
                batch = self._fast(num_rows, cat_rows, vocabs, ids, payloads)
                if batch is not None:
                    return batch
        elif n and all(type(p) is list and len(p) == width for p in payloads):
            num_rows = [self._num_by_pos(p) for p in payloads]
            cat_rows = [self._cat_by_pos(p) for p in payloads]
            batch = self._fast(num_rows, cat_rows, vocabs, ids, payloads)
            if batch is not None:
                return batch
        return self._slow(payloads, vocabs, ids)

    def _fast(
        self,
        num_rows: list[tuple[Any, ...]],
        cat_rows: list[tuple[Any, ...]],
        vocabs: list[Vocabulary],
        ids: list[Any] | None,
        raw: list[Any],
    ) -> EncodedBatch | None:
        """Bulk conversion; None when anything needs a closer look (the slow path decides)."""
        n = len(num_rows)
        try:
            num = np.array(num_rows, dtype=np.float64)
        except (TypeError, ValueError):
            return None
        if num.shape != (n, len(self.num_names)):
            return None
        if not self._numbers_ok(num):
            return None
        codes = np.empty((n, len(self.cat_names)), dtype=np.int32)
        if self.cat_names:
            columns = list(zip(*cat_rows, strict=True))
            for j, column in enumerate(columns):
                raw_codes = vocabs[j].raw
                try:
                    codes[:, j] = np.fromiter(map(raw_codes.__getitem__, column), np.int32, n)
                except (KeyError, TypeError):
                    vocab = vocabs[j]
                    column_codes = [vocab.code(v) for v in column]
                    if any(c is None for c in column_codes):
                        return None
                    codes[:, j] = np.asarray(column_codes, dtype=np.int32)
        return EncodedBatch(num=num, codes=codes, vocabs=vocabs, ids=ids, raw=raw)

    def _numbers_ok(self, num: np.ndarray) -> bool:
        """Map the missing marker to NaN in place; False if a value is out of its kind."""
        if self.missing_value is not None:
            num[num == self.missing_value] = np.nan
        if np.isinf(num).any():
            return False
        if self.binary_cols.size:
            sub = num[:, self.binary_cols]
            if not ((sub == 0) | (sub == 1) | np.isnan(sub)).all():
                return False
        return True

    def _slow(
        self, payloads: list[Any], vocabs: list[Vocabulary], ids: list[Any] | None
    ) -> EncodedBatch:
        """Row by row, naming every problem; the same arrays as the fast path when all is well."""
        problems = _Problems()
        n = len(payloads)
        num = np.full((n, len(self.num_names)), np.nan)
        codes = np.zeros((n, len(self.cat_names)), dtype=np.int32)
        width = len(self.names)
        for row, p in enumerate(payloads):
            if type(p) is dict:
                for key in p:
                    if key not in self.name_set:
                        problems.add(row, str(key), "unknown feature")
                missing = [name for name in self.names if name not in p]
                if missing and not self.allow_missing:
                    for name in missing:
                        problems.add(row, name, "missing feature")
                values = [p.get(name, _ABSENT) for name in self.names]
            elif type(p) is list:
                if len(p) != width:
                    problems.add(
                        row,
                        "features",
                        f"expected {width} values in model feature order "
                        f"({', '.join(self.names[:3])}, ...), got {len(p)}",
                    )
                    continue
                values = p
            else:
                continue
            for j, pos in enumerate(self.num_pos):
                num[row, j] = self._number(values[pos], row, self.names[pos], problems)
            for j, pos in enumerate(self.cat_pos):
                raw_value = values[pos]
                code = vocabs[j].code(None if raw_value is _ABSENT else raw_value)
                if code is None:
                    problems.add(
                        row,
                        self.names[pos],
                        f"expected a category (string or number), got {_type_name(raw_value)}",
                    )
                else:
                    codes[row, j] = code
        problems.raise_if_any()
        return EncodedBatch(num=num, codes=codes, vocabs=vocabs, ids=ids, raw=payloads)

    def _number(self, value: Any, row: int, name: str, problems: _Problems) -> float:
        if value is None or value is _ABSENT:
            return math.nan
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                problems.add(row, name, "expected a number, got a string")
                return math.nan
        elif isinstance(value, (int, float)):
            try:
                number = float(value)
            except OverflowError:
                problems.add(row, name, "number out of range")
                return math.nan
        else:
            problems.add(row, name, f"expected a number, got {_type_name(value)}")
            return math.nan
        if math.isinf(number):
            problems.add(row, name, "expected a finite number")
            return math.nan
        if self.missing_value is not None and number == self.missing_value:
            return math.nan
        binary = self.kind_by_name[name] is FeatureKind.BINARY
        if binary and number not in (0.0, 1.0) and not math.isnan(number):
            problems.add(row, name, "expected 0 or 1 (binary feature)")
        return number

    # --- CSV -------------------------------------------------------------------------------------
    def encode_csv(self, body: bytes) -> EncodedBatch:
        """Encode a CSV body with a header row; columns are matched by name, in any order."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        header = self._csv_header(body)
        problems = _Problems()
        for name in header:
            if name not in self.name_set and name not in (self.id_column, self.target):
                problems.add(None, name, "unknown feature (CSV column)")
        present = set(header)
        missing = [name for name in self.names if name not in present]
        if missing and not self.allow_missing:
            for name in missing:
                problems.add(None, name, "missing feature (CSV column)")
        problems.raise_if_any()
        types: dict[str, Any] = {}
        for name in header:
            if name in self.name_set:
                kind = self.kind_by_name[name]
                types[name] = pa.string() if kind is FeatureKind.CATEGORICAL else pa.float64()
            else:
                types[name] = pa.string()
        try:
            table = pacsv.read_csv(
                io.BytesIO(body),
                read_options=pacsv.ReadOptions(use_threads=False, column_names=header, skip_rows=1),
                parse_options=pacsv.ParseOptions(newlines_in_values=False),
                convert_options=pacsv.ConvertOptions(
                    column_types=types,
                    strings_can_be_null=True,
                    null_values=[""],
                    quoted_strings_can_be_null=True,
                ),
            )
        except pa.ArrowInvalid as exc:
            self._csv_error(body, header, str(exc))
            raise  # pragma: no cover - _csv_error always raises
        n = table.num_rows
        num = np.full((n, len(self.num_names)), np.nan)
        for j, name in enumerate(self.num_names):
            if name in present:
                num[:, j] = table.column(name).to_numpy(zero_copy_only=False)
        if not self._numbers_ok(num):
            self._slow_numbers(num, table, present)
        vocabs = self._current_vocabs()
        codes = np.full((n, len(self.cat_names)), 0, dtype=np.int32)
        for j, name in enumerate(self.cat_names):
            vocab = vocabs[j]
            if name not in present:
                codes[:, j] = vocab.missing_code
                continue
            column = table.column(name).to_pylist()
            try:
                codes[:, j] = np.fromiter(map(vocab.raw.__getitem__, column), np.int32, n)
            except KeyError:
                codes[:, j] = [vocab.code(v) for v in column]
        ids = None
        if self.id_column and self.id_column in present:
            ids = [_csv_id(v) for v in table.column(self.id_column).to_pylist()]
        return EncodedBatch(num=num, codes=codes, vocabs=vocabs, ids=ids, raw=None)

    @staticmethod
    def _csv_header(body: bytes) -> list[str]:
        import csv

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

    def _csv_error(self, body: bytes, header: list[str], message: str) -> None:
        """Turn a pyarrow CSV failure into an error naming the row and the column."""
        import csv

        match = re.search(r"CSV column #(\d+)", message)
        if match:
            col = int(match.group(1))
            name = header[col] if col < len(header) else f"#{col}"
            reader = csv.reader(io.StringIO(body.decode("utf-8-sig", errors="replace")))
            next(reader, None)
            for row, values in enumerate(reader):
                if col < len(values):
                    text = values[col].strip()
                    try:
                        if text:
                            float(text)
                    except ValueError:
                        raise ValidationFailedError(
                            f"row {row}, {name}: expected a number",
                            [{"row": row, "field": name, "message": "expected a number"}],
                        ) from None
            raise ValidationFailedError(
                f"column {name}: {message}", [{"field": name, "message": message}]
            )
        match = re.search(r"Expected (\d+) columns, got (\d+)", message)
        if match:
            reader = csv.reader(io.StringIO(body.decode("utf-8-sig", errors="replace")))
            next(reader, None)
            for row, values in enumerate(reader):
                if values and len(values) != len(header):
                    text = f"expected {len(header)} fields like the header, got {len(values)}"
                    raise ValidationFailedError(
                        f"row {row}: {text}", [{"row": row, "field": "", "message": text}]
                    )
        raise BadRequestError(f"the CSV body cannot be parsed: {message.splitlines()[0]}")

    def _slow_numbers(self, num: np.ndarray, table: Any, present: set[str]) -> None:
        problems = _Problems()
        for j, name in enumerate(self.num_names):
            if name not in present:
                continue
            column = num[:, j]
            bad_rows = np.flatnonzero(np.isinf(column))
            for row in bad_rows:
                problems.add(int(row), name, "expected a finite number")
            if self.kind_by_name[name] is FeatureKind.BINARY:
                ok = (column == 0) | (column == 1) | np.isnan(column)
                for row in np.flatnonzero(~ok):
                    problems.add(int(row), name, "expected 0 or 1 (binary feature)")
        problems.raise_if_any()

    # --- output ----------------------------------------------------------------------------------
    def object_rows(self, batch: EncodedBatch) -> np.ndarray:
        """The batch as an object array in model column order (CatBoost's small-batch input)."""
        out = np.empty((batch.rows, len(self.names)), dtype=object)
        if self.num_pos:
            out[:, self.num_pos] = batch.num
        for j, pos in enumerate(self.cat_pos):
            out[:, pos] = batch.vocabs[j].array[batch.codes[:, j]]
        return out

    def records(self, batch: EncodedBatch) -> list[dict[str, Any]]:
        """Model-ready values per row as dicts (NaN for missing numbers)."""
        rows: list[dict[str, Any]] = [{} for _ in range(batch.rows)]
        for j, name in enumerate(self.num_names):
            for row, value in enumerate(batch.num[:, j].tolist()):
                rows[row][name] = value
        for j, name in enumerate(self.cat_names):
            strings = batch.vocabs[j].array[batch.codes[:, j]].tolist()
            for row, value in enumerate(strings):
                rows[row][name] = value
        return rows


def _csv_id(value: str | None) -> Any:
    if value is None:
        return None
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return text
