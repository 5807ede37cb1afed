"""The feature schema: which columns a model reads, of which kind, with the values seen
in training.

Training infers it from the dataset and writes it into the bundle's manifest; inference validates
every request against it. Column kinds come from naming rules (Porto Seguro's ``_cat``/``_bin``
suffixes by default) that a config can replace or override per column, so nothing here is tied to
one dataset.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from porto.errors import DataError

#: Categories kept per categorical feature in the schema (the rest count as unseen).
MAX_CATEGORIES = 1000


class FeatureKind(StrEnum):
    """How a model treats a column."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    BINARY = "binary"


class ColumnRules(BaseModel):
    """Rules that decide each column's kind; explicit lists win over suffixes."""

    categorical_suffixes: list[str] = Field(default_factory=lambda: ["_cat"])
    binary_suffixes: list[str] = Field(default_factory=lambda: ["_bin"])
    categorical: list[str] = Field(default_factory=list, description="Always categorical.")
    binary: list[str] = Field(default_factory=list, description="Always binary.")
    numeric: list[str] = Field(default_factory=list, description="Always numeric.")
    drop: list[str] = Field(default_factory=list, description="Columns never used as features.")
    drop_prefixes: list[str] = Field(default_factory=list, description="Drop columns by prefix.")

    def kind_of(self, name: str) -> FeatureKind:
        """Return the kind of column ``name`` under these rules."""
        if name in self.categorical:
            return FeatureKind.CATEGORICAL
        if name in self.binary:
            return FeatureKind.BINARY
        if name in self.numeric:
            return FeatureKind.NUMERIC
        if any(name.endswith(s) for s in self.categorical_suffixes):
            return FeatureKind.CATEGORICAL
        if any(name.endswith(s) for s in self.binary_suffixes):
            return FeatureKind.BINARY
        return FeatureKind.NUMERIC

    def is_dropped(self, name: str) -> bool:
        """Whether ``name`` is excluded from the features."""
        return name in self.drop or any(name.startswith(p) for p in self.drop_prefixes)


class FeatureSpec(BaseModel):
    """One feature as seen in training."""

    name: str
    kind: FeatureKind
    dtype: str = Field(description="'int' or 'float' for numbers, 'str' for text categories.")
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = Field(
        default=None, description="Seen categories (canonical strings), most frequent first."
    )
    missing_rate: float = 0.0
    n_unique: int = 0
    typical: float | str | None = Field(
        default=None, description="Median (numeric) or mode (categorical): a typical value."
    )


class FeatureSchema(BaseModel):
    """Everything a reader needs to turn a record into model input."""

    features: list[FeatureSpec]
    target: str = "target"
    id_column: str | None = "id"
    missing_value: float | None = -1
    ignored: list[str] = Field(
        default_factory=list,
        description="Columns of the training data the model does not use (dropped by the column "
        "rules): readers accept and discard them, so full dataset rows can be sent as they are.",
    )
    dataset_columns: list[str] | None = Field(
        default=None,
        description="The training data's columns except target and id, in the file's order: the "
        "features and the ignored columns interleaved as they came, so a full dataset row can be "
        "sent positionally. None in bundles from before porto recorded it.",
    )

    @property
    def names(self) -> list[str]:
        """Feature names in model order."""
        return [f.name for f in self.features]

    @property
    def categorical_indices(self) -> list[int]:
        """Positions of categorical features in model order."""
        return [i for i, f in enumerate(self.features) if f.kind is FeatureKind.CATEGORICAL]

    def spec(self, name: str) -> FeatureSpec:
        """Return the spec of feature ``name`` (KeyError if it is not a feature)."""
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)


def category_value(spec: FeatureSpec, category: str) -> Any:
    """A category as JSON sends it: numbers for numeric categories (``"3"`` → 3), else text."""
    if spec.dtype in ("int", "float"):
        try:
            number = float(category)
        except ValueError:
            return category
        return int(number) if number.is_integer() else number
    return category


def clamp_number(spec: FeatureSpec, value: float | None) -> int | float:
    """``value`` (else the middle of the seen range) inside the seen range, as int or float."""
    lo, hi = spec.min, spec.max
    if value is None or (isinstance(value, float) and math.isnan(value)):
        value = (lo + hi) / 2 if lo is not None and hi is not None else 0.0
    if lo is not None:
        value = max(lo, value)
    if hi is not None:
        value = min(hi, value)
    if spec.dtype == "int" or spec.kind is FeatureKind.BINARY:
        return round(value)
    return float(value)


def typical_value(spec: FeatureSpec) -> Any:
    """The feature's typical value as JSON sends it: the most frequent category, the binary
    median, or the numeric median inside the seen range (an int for integer columns)."""
    if spec.kind is FeatureKind.CATEGORICAL:
        options = [category_value(spec, c) for c in spec.categories or []]
        typical = category_value(spec, str(spec.typical)) if spec.typical is not None else None
        return typical if typical in options else (options[0] if options else None)
    if spec.kind is FeatureKind.BINARY:
        typical = spec.typical if isinstance(spec.typical, (int, float)) else 0
        return round(float(typical))
    number = float(spec.typical) if isinstance(spec.typical, (int, float)) else None
    return clamp_number(spec, number)


def typical_record(schema: FeatureSchema) -> dict[str, Any]:
    """A record any model with this schema scores: each feature's typical value, in model
    order. The API's example record, the UI's form prefill and the load-time warm-up row."""
    return {spec.name: typical_value(spec) for spec in schema.features}


def canonical_category(value: Any) -> str:
    """Return the canonical string of a category value, so 3, 3.0 and "3" are one category."""
    if value is None or value is pd.NA:
        return "nan"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "nan"
        if float(value).is_integer():
            return str(int(value))
        return repr(float(value))
    return str(value)


def categorical_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(codes, categories)``: the column's canonical category strings as positions
    into ``categories`` (distinct strings, object array, in order of first appearance).

    A column of numbers (or booleans) is canonicalised once per distinct value, not per row;
    anything else goes through :func:`canonical_category` row by row."""
    if values.dtype.kind in "biuf":
        codes, uniques = pd.factorize(values.to_numpy(), use_na_sentinel=False)
        # tolist(): Python scalars, which canonical_category reads as Series.map would hand them.
        names = [canonical_category(v) for v in uniques.tolist()]
    else:
        strings = values.map(canonical_category).to_numpy(dtype=object)
        codes, uniques = pd.factorize(strings, use_na_sentinel=False)
        names = list(uniques)
    # Distinct values may share a canonical string (3 and 3.0): merge them.
    merged, categories = pd.factorize(np.asarray(names, dtype=object))
    return merged[codes], np.asarray(categories, dtype=object)


def categorical_series(values: pd.Series) -> pd.Series:
    """Canonicalise a column of category values to strings (missing becomes ``"nan"``)."""
    codes, categories = categorical_codes(values)
    return pd.Series(categories[codes], index=values.index, dtype=object)


def numeric_array(values: pd.Series, missing_value: float | None) -> np.ndarray:
    """Return a float64 array with the missing marker (and NaN) as NaN."""
    arr = pd.to_numeric(values, errors="raise").to_numpy(dtype="float64", copy=True)
    if missing_value is not None:
        arr[arr == missing_value] = np.nan
    return arr


def infer_schema(
    frame: pd.DataFrame,
    *,
    target: str,
    id_column: str | None,
    missing_value: float | None,
    rules: ColumnRules | None = None,
) -> FeatureSchema:
    """Return the feature schema of ``frame``: every column but target, id and dropped ones."""
    rules = rules or ColumnRules()
    specs: list[FeatureSpec] = []
    ignored: list[str] = []
    columns: list[str] = []
    for name in frame.columns:
        if name in (target, id_column):
            continue
        columns.append(str(name))
        if rules.is_dropped(str(name)):
            ignored.append(str(name))
            continue
        specs.append(_infer_spec(frame[name], str(name), rules.kind_of(str(name)), missing_value))
    if not specs:
        raise DataError("the dataset has no feature columns besides target and id")
    return FeatureSchema(
        features=specs,
        target=target,
        id_column=id_column,
        missing_value=missing_value,
        ignored=ignored,
        dataset_columns=columns,
    )


def _infer_spec(
    col: pd.Series, name: str, kind: FeatureKind, missing_value: float | None
) -> FeatureSpec:
    numeric = pd.api.types.is_numeric_dtype(col.dtype)
    if kind is FeatureKind.CATEGORICAL:
        is_missing = col.isna()
        if numeric and missing_value is not None:
            is_missing |= col == missing_value
        present = categorical_series(col[~is_missing])
        counts = present.value_counts()
        cats = [str(c) for c in counts.index[:MAX_CATEGORIES]]
        dtype = ("int" if _all_integral(col) else "float") if numeric else "str"
        return FeatureSpec(
            name=name,
            kind=kind,
            dtype=dtype,
            categories=cats,
            missing_rate=float(is_missing.mean()) if len(col) else 0.0,
            n_unique=int(counts.size),
            typical=cats[0] if cats else None,
        )
    if not numeric:
        raise DataError(f"column {name!r} is {kind.value} but holds non-numeric values")
    arr = numeric_array(col, missing_value)
    finite = arr[~np.isnan(arr)]
    return FeatureSpec(
        name=name,
        kind=kind,
        dtype="int" if _all_integral(col) else "float",
        min=float(finite.min()) if finite.size else None,
        max=float(finite.max()) if finite.size else None,
        missing_rate=float(np.isnan(arr).mean()) if arr.size else 0.0,
        n_unique=int(np.unique(finite).size),
        typical=float(np.median(finite)) if finite.size else None,
    )


def _all_integral(col: pd.Series) -> bool:
    if pd.api.types.is_integer_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
        return True
    if not pd.api.types.is_float_dtype(col.dtype):
        return False
    arr = col.to_numpy(dtype="float64")
    arr = arr[np.isfinite(arr)]
    return bool((np.floor(arr) == arr).all())


def model_frame(
    frame: pd.DataFrame, schema: FeatureSchema, *, categorical: bool = False
) -> pd.DataFrame:
    """Return the model input for ``frame``: numeric columns as float64 with NaN for missing,
    categorical columns as canonical strings (missing is its own category, as CatBoost wants).

    ``categorical`` gives those columns as pandas categoricals of the same strings instead of
    object arrays: the same values to every flavor, a fraction of the memory, no per-row string
    objects to copy when the frame is sliced, and CatBoost hashes each distinct category once.
    """
    out: dict[str, Any] = {}
    for spec in schema.features:
        col = frame[spec.name]
        if spec.kind is FeatureKind.CATEGORICAL:
            codes, categories = categorical_codes(col)
            if categorical:
                out[spec.name] = pd.Categorical.from_codes(
                    codes, categories=pd.Index(categories, dtype=object)
                )
            else:
                out[spec.name] = categories[codes]
        else:
            out[spec.name] = numeric_array(col, schema.missing_value)
    # Every array above is new: the frame takes them as they are (copy=False) instead of copying
    # the numbers into one 2-D block.
    return pd.DataFrame(out, index=frame.index, copy=False)
