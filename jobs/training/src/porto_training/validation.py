"""Data checks run before any training: a bad dataset fails in seconds with one clear message
naming the file or the column(s), instead of a traceback minutes into training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from porto.errors import DataError
from porto.schema import FeatureKind

from porto_training.config import DataConfig

#: How many offending columns / values a message names before saying "and N more".
_SHOWN = 5


@dataclass(frozen=True)
class ValidationReport:
    """What the checks saw in a valid dataset."""

    rows: int
    columns: int
    positives: int
    features: dict[str, FeatureKind]

    @property
    def positive_rate(self) -> float:
        """Share of rows with target 1."""
        return self.positives / self.rows if self.rows else 0.0


def validate_frame(frame: pd.DataFrame, config: DataConfig, source: str) -> ValidationReport:
    """Return a report on ``frame`` if it can be trained on; raise one DataError otherwise.

    Checks, in order: the file has rows; the target, id and required columns are present; the
    target is binary 0/1 with both classes; at least one feature is left; numeric and binary
    features hold numbers (and binary ones only 0/1 or the missing marker).
    """
    if frame.shape[1] == 0:
        raise DataError(f"data file {source} has no columns")
    if len(frame) == 0:
        raise DataError(f"data file {source} has a header but no data rows")
    required = [config.target]
    if config.id_column is not None:
        required.append(config.id_column)
    required += [c for c in config.required_columns if c not in required]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(
            f"data file {source} is missing required column(s) {_names(missing)} "
            f"(has {_names([str(c) for c in frame.columns])})"
        )
    duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if duplicated:
        raise DataError(f"data file {source} has duplicate column(s) {_names(duplicated)}")
    positives = check_target(frame[config.target], config.target)

    rules = config.columns
    features = {
        str(c): rules.kind_of(str(c))
        for c in frame.columns
        if c not in (config.target, config.id_column) and not rules.is_dropped(str(c))
    }
    if not features:
        raise DataError(
            f"data file {source} has no feature columns left besides target, id and dropped ones"
        )
    problems: list[str] = []
    non_numeric = [
        _describe_non_numeric(frame[name], name)
        for name, kind in features.items()
        if kind is not FeatureKind.CATEGORICAL and not _is_numeric(frame[name])
    ]
    if non_numeric:
        problems.append(f"non-numeric values in numeric column(s) {_join(non_numeric)}")
    not_binary = [
        described
        for name, kind in features.items()
        if kind is FeatureKind.BINARY and _is_numeric(frame[name])
        if (described := _describe_not_binary(frame[name], name, config.missing_value))
    ]
    if not_binary:
        problems.append(
            f"binary column(s) with values other than 0/1 {_join(not_binary)} "
            "(declare them in data.columns.numeric or .categorical if that is intended)"
        )
    if problems:
        raise DataError(f"data file {source}: " + "; ".join(problems))
    return ValidationReport(
        rows=len(frame), columns=frame.shape[1], positives=positives, features=features
    )


def check_target(target: pd.Series, name: str) -> int:
    """Return the number of positives if ``target`` is binary 0/1 with both classes."""
    n_missing = int(target.isna().sum())
    if n_missing:
        raise DataError(f"target column {name!r} has {n_missing} missing value(s)")
    values = pd.unique(target)
    if not _is_numeric(target) or not set(np.asarray(values, dtype=object)) <= {0, 1}:
        bad = [v for v in values if not (_is_number(v) and v in (0, 1))]
        shown = ", ".join(repr(_plain(v)) for v in bad[:_SHOWN])
        raise DataError(f"target column {name!r} must be binary 0/1, found {shown}")
    positives = int((target.astype("int64") == 1).sum())
    if positives == 0 or positives == len(target):
        only = 1 if positives else 0
        raise DataError(f"target column {name!r} holds only the class {only}: need both 0 and 1")
    return positives


def _is_numeric(col: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating, bool, np.bool_))


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _describe_non_numeric(col: pd.Series, name: str) -> str:
    converted = pd.to_numeric(col, errors="coerce")
    bad = converted.isna() & col.notna()
    if not bad.any():
        return repr(name)
    position = int(np.flatnonzero(bad.to_numpy())[0])
    return f"{name!r} (e.g. {_plain(col.iloc[position])!r} in data row {position + 1})"


def _describe_not_binary(col: pd.Series, name: str, missing_value: float | None) -> str | None:
    values = col.dropna()
    allowed = {0, 1} if missing_value is None else {0, 1, missing_value}
    bad = values[~values.isin(list(allowed))]
    if bad.empty:
        return None
    return f"{name!r} (e.g. {_plain(bad.iloc[0])!r})"


def _names(names: list[str]) -> str:
    return _join([repr(n) for n in names])


def _join(items: list[str]) -> str:
    if len(items) <= _SHOWN:
        return ", ".join(items)
    return ", ".join(items[:_SHOWN]) + f" and {len(items) - _SHOWN} more"
