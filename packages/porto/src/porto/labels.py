"""Class labels: how a dataset's target values map to porto's classes 1 (positive) and 0.

Users' data labels its classes with strings or booleans (``Yes``/``No``, ``true``/``false``) as
often as with 0/1. Training maps the target to 0/1 once and records the mapping in the bundle's
manifest (:class:`LabelMapping`); inference reads it back so feedback can carry the original
labels. Training and inference compare values through one rule, :func:`label_key`: booleans as
``true``/``false``, integral numbers as integers (``1``, ``1.0`` and ``"1"`` are one label), and
strings case-insensitively, trimmed (``Yes``, ``yes`` and ``YES`` are one label).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

#: A label as JSON and the manifest can hold it.
Label = bool | int | float | str

#: Label keys every model accepts in feedback, besides its own labels.
STANDARD_CLASSES = {"0": 0, "1": 1, "false": 0, "true": 1}
#: Pairs of label keys whose positive class needs no configuration: {0,1}, {false,true}, {no,yes}.
INFERRED_POSITIVE = {
    frozenset({"0", "1"}): "1",
    frozenset({"false", "true"}): "true",
    frozenset({"no", "yes"}): "yes",
}


def plain_label(value: Any) -> Label | None:
    """``value`` as a JSON scalar (numpy scalars unwrapped, integral floats as ints), or None
    for a value that cannot be a label (missing, NaN, a list, an object)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() else value
    if isinstance(value, str):
        return value
    return None


def label_key(value: Any) -> str | None:
    """The comparison key of a label (see the module docstring); None if it cannot be one."""
    plain = plain_label(value)
    if plain is None:
        return None
    if isinstance(plain, bool):
        return "true" if plain else "false"
    if isinstance(plain, int):
        return str(plain)
    if isinstance(plain, float):
        return repr(plain)
    text = plain.strip().casefold()
    try:
        number = float(text)
    except ValueError:
        return text
    return label_key(number) if math.isfinite(number) else text


class LabelMapping(BaseModel):
    """Which target values of the training data are class 1 and class 0."""

    positive_label: Label = Field(description="The training data's value for class 1.")
    negative_label: Label = Field(description="The training data's value for class 0.")
    label_values: list[Label] = Field(
        description="Every distinct target value seen in training (spelling variants of one "
        "class, such as 'Yes' and 'yes', are all listed)."
    )

    def class_of(self, value: Any) -> int | None:
        """1 or 0 for a value equal (by :func:`label_key`) to the positive or negative label,
        else None."""
        key = label_key(value)
        if key is None:
            return None
        if key == label_key(self.positive_label):
            return 1
        if key == label_key(self.negative_label):
            return 0
        return None

    def encode(self, target: pd.Series) -> np.ndarray:
        """The target as an int64 array of 0/1 classes; ValueError for a value of neither class
        (validation refuses such data before this is called)."""
        codes, uniques = pd.factorize(target, use_na_sentinel=True)
        classes = [self.class_of(value) for value in uniques]
        unknown = [value for value, c in zip(uniques, classes, strict=True) if c is None]
        if unknown or (codes < 0).any():
            shown = unknown[0] if unknown else None
            raise ValueError(f"target value {shown!r} is neither {self.describe()}")
        return np.asarray(classes, dtype=np.int64)[codes]

    def describe(self) -> str:
        """``positive 'Yes' / negative 'No'``, for messages."""
        return f"positive {self.positive_label!r} / negative {self.negative_label!r}"


#: The mapping of bundles trained before the mapping was recorded: their target was 0/1.
DEFAULT_LABELS = LabelMapping(positive_label=1, negative_label=0, label_values=[0, 1])


def feedback_class(value: Any, labels: LabelMapping) -> int | None:
    """The class a feedback label stands for: one of the model's own labels first (so a model
    trained on 1/2 reads 1 as its own label), then 0/1/true/false; None if neither."""
    if isinstance(value, (dict, list)) or value is None:
        return None
    own = labels.class_of(value)
    if own is not None:
        return own
    key = label_key(value)
    return STANDARD_CLASSES.get(key) if key is not None else None


def feedback_labels(labels: LabelMapping, cls: int) -> list[Label]:
    """The labels feedback accepts for class ``cls`` (1 or 0): the model's own label first, then
    those of 1/true (0/false) that do not mean something else to this model."""
    own = labels.positive_label if cls else labels.negative_label
    out: list[Label] = [own]
    for value in (1, True) if cls else (0, False):
        if label_key(value) != label_key(own) and feedback_class(value, labels) == cls:
            out.append(value)
    return out
