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

import math
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import numpy as np
from porto.reference import missing_categories
from porto.schema import FeatureKind, FeatureSchema, canonical_category

from porto_inference.scoring.batch import (
    SMALL_ROWS,
    EncodedBatch,
    Problems,
    text_problem,
    value_problem,
)
from porto_inference.scoring.csv_input import encode_csv
from porto_inference.scoring.vocabulary import Vocabulary

_ABSENT: Any = object()


def _getter(keys: Sequence[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """itemgetter that always returns a tuple (itemgetter(k) alone returns a scalar)."""
    if not keys:
        return lambda _record: ()
    if len(keys) == 1:
        key = keys[0]
        return lambda record: (record[key],)
    return itemgetter(*keys)


def _category_code(vocab: Vocabulary, value: Any) -> int | None:
    """``vocab.code(value)``, or None for text that cannot be stored (never added to ``vocab``,
    so a refused value cannot slip through a later request's cached lookup)."""
    if type(value) is str and text_problem(value) is not None:
        return None
    return vocab.code(value)


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
        #: Columns taken out of a record before validation: the target (unless it is a
        #: feature) and the training data's columns the model does not use.
        self.discard = tuple(
            c for c in (schema.target, *schema.ignored) if c and c not in self.name_set
        )
        kinds = [f.kind for f in schema.features]
        self.kind_by_name = {f.name: f.kind for f in schema.features}
        self.cat_pos = [i for i, k in enumerate(kinds) if k is FeatureKind.CATEGORICAL]
        self.num_pos = [i for i, k in enumerate(kinds) if k is not FeatureKind.CATEGORICAL]
        self.cat_names = [self.names[i] for i in self.cat_pos]
        self.num_names = [self.names[i] for i in self.num_pos]
        self._is_binary = [kinds[i] is FeatureKind.BINARY for i in self.num_pos]
        self.binary_cols = np.array(
            [j for j, i in enumerate(self.num_pos) if kinds[i] is FeatureKind.BINARY], dtype=int
        )
        self.missing_value = schema.missing_value
        mv = schema.missing_value
        self.missing_category = "nan" if mv is None else canonical_category(mv)
        self.missing_strings = missing_categories(schema) | {self.missing_category}
        self._num_by_name = _getter(self.num_names)
        #: A record's feature values in model order (KeyError when one is absent).
        self.values_by_name = _getter(self.names)
        self._cat_by_name = _getter(self.cat_names)
        self._num_by_pos = _getter(self.num_pos)
        self._cat_by_pos = _getter(self.cat_pos)
        #: Length of a full training-data row (features and ignored columns, without id and
        #: target) sent positionally, when it differs from the model's width and the schema
        #: records the column order; such rows are put in model order by ``_model_order``.
        self.row_columns = schema.dataset_columns
        self.row_width: int | None = None
        self._model_order: Callable[[Any], tuple[Any, ...]] = _getter([])
        if self.row_columns is not None and len(self.row_columns) != len(self.names):
            where = {name: i for i, name in enumerate(self.row_columns)}
            self.row_width = len(self.row_columns)
            self._model_order = _getter([where[name] for name in self.names])
        self.vocabs = self._new_vocabs()

    def _new_vocabs(self) -> list[Vocabulary]:
        self._overflow = [False]
        out = []
        for name in self.cat_names:
            spec = self.schema.spec(name)
            out.append(
                Vocabulary(
                    spec.categories or [],
                    numeric=spec.dtype in ("int", "float"),
                    missing=self.missing_category,
                    overflow=self._overflow,
                )
            )
        return out

    def current_vocabs(self) -> list[Vocabulary]:
        """The vocabularies new batches use (a fresh set once one of them is full)."""
        if self._overflow[0]:
            self.vocabs = self._new_vocabs()
        return self.vocabs

    # --- JSON ------------------------------------------------------------------------------------
    def encode_items(self, items: list[Any]) -> EncodedBatch:
        """Encode JSON items: flat ``{feature: value}`` objects, wrapped ``{"id": ..,
        "features": {..} | [..]}`` objects, or positional lists: the model's features in model
        order, or a full training-data row (features and ignored columns, in the training data's
        column order, without id and target) when the schema records that order.

        A record's id column (and target column) is taken out, never used as a feature.
        ValidationFailedError names every bad row and field.
        """
        id_col = self.id_column
        if len(items) == 1 and type(items[0]) is dict and "features" not in items[0]:
            return self._encode_one(items[0])
        payloads: list[Any] = items
        ids: list[Any] | None = None
        problems = Problems()
        flat = all(type(x) is dict and "features" not in x for x in items)
        if flat:
            if id_col and any(id_col in x for x in items):
                ids = [x.pop(id_col, None) for x in items]
                if not all(type(i) is int for i in ids):
                    for row, record_id in enumerate(ids):
                        self._check_id(row, id_col, record_id, problems)
            if self.discard:
                for x in items:
                    self._strip(x)
        else:
            payloads, ids = self._unwrap(items, problems)
        problems.raise_if_any()
        return self._encode_payloads(payloads, ids)

    def _encode_one(self, record: dict[str, Any]) -> EncodedBatch:
        """encode_items for the commonest request, one flat record, with less bookkeeping."""
        ids = None
        if self.id_column is not None and self.id_column in record:
            ids = [record.pop(self.id_column)]
            if type(ids[0]) is not int:
                problems = Problems()
                self._check_id(0, self.id_column, ids[0], problems)
                problems.raise_if_any()
        if self.discard:
            self._strip(record)
        vocabs = self.current_vocabs()
        if len(record) == len(self.names):
            try:
                num_row = self._num_by_name(record)
                cat_row = self._cat_by_name(record)
            except KeyError:
                pass
            else:
                batch = self._fast([num_row], [cat_row], vocabs, ids, [record])
                if batch is not None:
                    return batch
        return self._slow([record], vocabs, ids)

    @staticmethod
    def _check_id(row: int, field: str, value: Any, problems: Problems) -> None:
        """Note an id that holds text PostgreSQL cannot store (ids are echoed and logged)."""
        if value is None or type(value) is int or type(value) is float:
            return
        problem = value_problem(value)
        if problem is not None:
            problems.add(row, field, problem)

    def _strip(self, record: dict[str, Any]) -> None:
        """Take the columns in :attr:`discard` out of ``record``."""
        for name in self.discard:
            record.pop(name, None)

    def _unwrap(self, items: list[Any], problems: Problems) -> tuple[list[Any], list[Any] | None]:
        """Unwrap ``{"id": .., "features": ..}`` items; flat objects and lists pass through."""
        id_keys = {"id", self.id_column} - {None}
        payloads: list[Any] = []
        ids: list[Any] = []
        for row, x in enumerate(items):
            record_id = None
            if type(x) is dict:
                if "features" in x and "features" not in self.name_set:
                    for key in x:
                        if key != "features" and key not in id_keys:
                            problems.add(row, str(key), "unknown field next to 'features'")
                    id_key = next((k for k in id_keys if k in x), None)
                    if id_key is not None:
                        record_id = x[id_key]
                        self._check_id(row, id_key, record_id, problems)
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
                    self._check_id(row, self.id_column, record_id, problems)
                self._strip(x)
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
        vocabs = self.current_vocabs()
        if n and all(type(p) is dict and len(p) == width for p in payloads):
            try:
                if n > SMALL_ROWS:
                    values = list(map(self.values_by_name, payloads))
                else:
                    num_rows = [self._num_by_name(p) for p in payloads]
                    cat_rows = [self._cat_by_name(p) for p in payloads]
            except KeyError:
                pass
            else:
                if n > SMALL_ROWS:
                    batch = self._fast_values(values, vocabs, ids, payloads)
                else:
                    batch = self._fast(num_rows, cat_rows, vocabs, ids, payloads)
                if batch is not None:
                    return batch
        elif n and all(type(p) is list for p in payloads):
            if self.row_width is not None:
                payloads = [self._in_model_order(p) for p in payloads]
            if all(len(p) == width for p in payloads):
                num_rows = [self._num_by_pos(p) for p in payloads]
                cat_rows = [self._cat_by_pos(p) for p in payloads]
                batch = self._fast(num_rows, cat_rows, vocabs, ids, payloads)
                if batch is not None:
                    return batch
        return self._slow(payloads, vocabs, ids)

    def _in_model_order(self, values: Any) -> Any:
        """A full training-data row as a list in model order (what the log and the model
        see, ignored columns left out); anything else unchanged."""
        if type(values) is list and len(values) == self.row_width:
            return list(self._model_order(values))
        return values

    def _positional_problem(self, got: int) -> str:
        """Why a positional list of ``got`` values cannot be placed, and what would be."""
        width = len(self.names)
        model = f"{width} values in model feature order ({', '.join(self.names[:3])}, ...)"
        if self.row_columns is not None and self.row_width is not None:
            row = ", ".join(self.row_columns[:3])
            return (
                f"expected {model} or {self.row_width} in the training data's column order "
                f"without id and target ({row}, ...), got {got}"
            )
        if self.schema.ignored and got == width + len(self.schema.ignored):
            return (
                f"expected {model}, got {got}: a full training-data row with its "
                f"{len(self.schema.ignored)} ignored column(s), but this model's bundle does not "
                "record the training data's column order (trained before porto recorded it); "
                "send the features in model feature order, or by name"
            )
        return f"expected {model}, got {got}"

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
        if not self.numbers_ok(num):
            return None
        codes = self._codes(cat_rows, vocabs)
        if codes is None:
            return None
        return EncodedBatch(num=num, codes=codes, vocabs=vocabs, ids=ids, raw=raw)

    def _fast_values(
        self,
        values: list[tuple[Any, ...]],
        vocabs: list[Vocabulary],
        ids: list[Any] | None,
        raw: list[Any],
    ) -> EncodedBatch | None:
        """:meth:`_fast` for many records whose values in model order are taken out already:
        one object grid, its numeric columns converted in one call (what ``np.array(rows,
        float64)`` converts, the same way), its categorical columns coded column by column.
        The values stay with the batch for the prediction log."""
        n = len(values)
        try:
            grid = np.array(values, dtype=object)
            if grid.shape != (n, len(self.names)):
                return None  # lists as values, nested into the grid
            num = grid[:, self.num_pos].astype(np.float64)
        except (TypeError, ValueError, OverflowError):
            return None
        if not self.numbers_ok(num):
            return None
        codes = self._column_codes([grid[:, pos].tolist() for pos in self.cat_pos], vocabs, n)
        if codes is None:
            return None
        return EncodedBatch(num=num, codes=codes, vocabs=vocabs, ids=ids, raw=raw, values=values)

    def _codes(
        self, cat_rows: list[tuple[Any, ...]], vocabs: list[Vocabulary]
    ) -> np.ndarray | None:
        """Category codes (rows × categorical features); None if a value cannot be a category.

        Repeated values are one dict lookup each. Few rows: one numpy call for the lot; many
        rows: one numpy call per column.
        """
        n = len(cat_rows)
        k = len(self.cat_names)
        if k == 0:
            return np.empty((n, 0), dtype=np.int32)
        if n <= SMALL_ROWS:
            lookups = [v.raw for v in vocabs]
            try:
                return np.array(
                    [[raw[v] for raw, v in zip(lookups, row, strict=True)] for row in cat_rows],
                    dtype=np.int32,
                )
            except (KeyError, TypeError):
                pass  # a new value somewhere: code it below, column by column
        return self._column_codes(list(zip(*cat_rows, strict=True)), vocabs, n)

    @staticmethod
    def _column_codes(
        columns: list[Sequence[Any]], vocabs: list[Vocabulary], n: int
    ) -> np.ndarray | None:
        """Category codes of ``n`` rows given column by column (one numpy call per column);
        None if a value cannot be a category."""
        codes = np.empty((n, len(columns)), dtype=np.int32)
        for j, column in enumerate(columns):
            raw_codes = vocabs[j].raw
            try:
                codes[:, j] = np.fromiter(map(raw_codes.__getitem__, column), np.int32, n)
            except (KeyError, TypeError):
                vocab = vocabs[j]
                column_codes = [_category_code(vocab, v) for v in column]
                if any(c is None for c in column_codes):
                    return None
                codes[:, j] = np.asarray(column_codes, dtype=np.int32)
        return codes

    def numbers_ok(self, num: np.ndarray) -> bool:
        """Map the missing marker to NaN in place; False if a value is out of its kind."""
        if num.shape[0] <= SMALL_ROWS:
            return self._numbers_ok_small(num)
        if self.missing_value is not None:
            num[num == self.missing_value] = np.nan
        if np.isinf(num).any():
            return False
        if self.binary_cols.size:
            sub = num[:, self.binary_cols]
            if not ((sub == 0) | (sub == 1) | np.isnan(sub)).all():
                return False
        return True

    def _numbers_ok_small(self, num: np.ndarray) -> bool:
        """numbers_ok for a few rows: one Python pass beats a dozen numpy calls on tiny arrays."""
        missing = self.missing_value
        binary = self._is_binary
        k = len(binary)
        flat = num.reshape(-1)
        for i, v in enumerate(flat.tolist()):
            if v != v:  # NaN: null
                continue
            if v == missing:
                flat[i] = math.nan
            elif v == math.inf or v == -math.inf or (binary[i % k] and v != 0.0 and v != 1.0):
                return False
        return True

    def _slow(
        self, payloads: list[Any], vocabs: list[Vocabulary], ids: list[Any] | None
    ) -> EncodedBatch:
        """Row by row, naming every problem; the same arrays as the fast path when all is well."""
        problems = Problems()
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
                p = payloads[row] = self._in_model_order(p)
                if len(p) != width:
                    problems.add(row, "features", self._positional_problem(len(p)))
                    continue
                values = p
            else:
                continue
            for j, pos in enumerate(self.num_pos):
                num[row, j] = self._number(values[pos], row, self.names[pos], problems)
            for j, pos in enumerate(self.cat_pos):
                raw_value = values[pos]
                if type(raw_value) is str:
                    problem = text_problem(raw_value)
                    if problem is not None:
                        problems.add(row, self.names[pos], problem)
                        continue
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

    def _number(self, value: Any, row: int, name: str, problems: Problems) -> float:
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
        return encode_csv(self, body, Problems())

    # --- output ----------------------------------------------------------------------------------
    def object_rows(self, batch: EncodedBatch) -> np.ndarray:
        """The batch as an object array in model column order (CatBoost's small-batch input)."""
        out = np.empty((batch.rows, len(self.names)), dtype=object)
        if self.num_pos:
            out[:, self.num_pos] = batch.num
        for j, pos in enumerate(self.cat_pos):
            out[:, pos] = batch.vocabs[j].array[batch.codes[:, j]]
        return out
