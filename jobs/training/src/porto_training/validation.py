"""Data checks run before any training: a bad dataset fails in seconds with one clear message
naming the file or the column(s), instead of a traceback minutes into training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from porto.errors import DataError
from porto.labels import INFERRED_POSITIVE, Label, LabelMapping, label_key, plain_label
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
    labels: LabelMapping

    @property
    def positive_rate(self) -> float:
        """Share of rows of the positive class."""
        return self.positives / self.rows if self.rows else 0.0


def validate_frame(frame: pd.DataFrame, config: DataConfig, source: str) -> ValidationReport:
    """Return a report on ``frame`` if it can be trained on; raise one DataError otherwise.

    Checks, in order: the file has rows; the target, id and required columns are present; the
    target has exactly two classes and a known positive one (:func:`check_target`); at least one
    feature is left; numeric and binary
    features hold numbers (and binary ones only 0/1 or the missing marker).
    """
    _check_columns(frame, config, source)
    labels, positives = check_target(frame[config.target], config.target, config.positive_label)
    features = _features(frame, config, source)
    _check_feature_values(frame, features, config.missing_value, source)
    return ValidationReport(
        rows=len(frame),
        columns=frame.shape[1],
        positives=positives,
        features=features,
        labels=labels,
    )


def _check_columns(frame: pd.DataFrame, config: DataConfig, source: str) -> None:
    """DataError unless ``frame`` has rows, every required column, and no duplicate name."""
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


def _features(frame: pd.DataFrame, config: DataConfig, source: str) -> dict[str, FeatureKind]:
    """Return the kind of every feature column; DataError if none is left."""
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
    return features


def _check_feature_values(
    frame: pd.DataFrame,
    features: dict[str, FeatureKind],
    missing_value: float | None,
    source: str,
) -> None:
    """One DataError naming every numeric column with text and every binary one with other
    values than 0/1 (or the missing marker)."""
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
        if (described := _describe_not_binary(frame[name], name, missing_value))
    ]
    if not_binary:
        problems.append(
            f"binary column(s) with values other than 0/1 {_join(not_binary)} "
            "(declare them in data.columns.numeric or .categorical if that is intended)"
        )
    if problems:
        raise DataError(f"data file {source}: " + "; ".join(problems))


def check_target(
    target: pd.Series, name: str, positive_label: Label | None = None
) -> tuple[LabelMapping, int]:
    """Return the target's label mapping and its number of positives; DataError unless the
    target holds exactly two classes (compared by :func:`porto.labels.label_key`) of which one
    is ``positive_label`` or, when that is None, one of 0/1, false/true or no/yes."""
    by_key = _classes(target, name)
    values = sorted((v for group in by_key.values() for v, _ in group), key=_label_order)
    shown = _values(values)
    if len(by_key) > 2:
        raise DataError(
            f"target column {name!r} has {len(values)} values {shown}: a binary classifier "
            "needs exactly two classes"
        )
    if len(by_key) == 1:
        raise DataError(
            f"target column {name!r} holds only the class {values[0]!r}: need two classes"
        )
    positive_key = _positive_key(set(by_key), name, positive_label, shown)
    (negative_key,) = set(by_key) - {positive_key}
    # The commonest spelling of each class names it in the manifest and in messages.
    labels = LabelMapping(
        positive_label=by_key[positive_key][0][0],
        negative_label=by_key[negative_key][0][0],
        label_values=values,
    )
    return labels, sum(count for _, count in by_key[positive_key])


def _classes(target: pd.Series, name: str) -> dict[str, list[tuple[Label, int]]]:
    """Return the target's spellings and their counts (commonest first) by class key; DataError
    if a value is missing or cannot be a label."""
    n_missing = int(target.isna().sum())
    if n_missing:
        raise DataError(f"target column {name!r} has {n_missing} missing value(s)")
    counts = target.value_counts(sort=True)
    by_key: dict[str, list[tuple[Label, int]]] = {}
    for value, count in counts.items():
        plain = plain_label(value)
        key = label_key(plain)
        if plain is None or key is None:
            raise DataError(f"target column {name!r} holds {value!r}, which cannot be a label")
        by_key.setdefault(key, []).append((plain, int(count)))
    return by_key


def _positive_key(keys: set[str], name: str, positive_label: Label | None, shown: str) -> str:
    """Return the key of the positive class among the target's two ``keys``: the one of
    ``positive_label``, else inferred from 0/1, false/true or no/yes; DataError if neither."""
    if positive_label is None:
        positive_key = INFERRED_POSITIVE.get(frozenset(keys))
        if positive_key is None:
            raise DataError(
                f"target column {name!r} has values {shown}: set data.positive_label "
                "(--positive-label) to the positive class"
            )
        return positive_key
    positive_key = label_key(positive_label) or ""
    if positive_key not in keys:
        hint = (
            " (YAML reads a bare yes/no/on/off as a boolean: quote the label, e.g. "
            'data.positive_label="Yes")'
            if isinstance(positive_label, bool)
            else ""
        )
        raise DataError(
            f"data.positive_label {positive_label!r} is not a value of target column "
            f"{name!r}, which has values {shown}{hint}"
        )
    return positive_key


def _label_order(value: Label) -> tuple[int, float, str]:
    if isinstance(value, str):
        return (0, 0.0, value)
    return (1, float(value), "")


def _values(values: list[Label]) -> str:
    if len(values) <= _SHOWN:
        return repr(values)
    return repr(values[:_SHOWN])[:-1] + f", ... ({len(values) - _SHOWN} more)]"


def _is_numeric(col: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype))


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
