"""The single-prediction form, generated from a version's feature schema.

The manifest's :class:`porto.schema.FeatureSchema` says what each feature is (numeric with the
range seen in training, categorical with the categories seen, binary) and a typical value; the
bundle's ``reference.json`` says how often each value range or category occurred, so a "random
example" follows the training marginals instead of being uniform noise. Nothing here calls
Streamlit: the page lays out the widgets these specs describe.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from porto.reference import FeatureReference, ReferenceStats
from porto.schema import (
    FeatureKind,
    FeatureSchema,
    FeatureSpec,
    category_value,
    clamp_number,
    typical_value,
)

#: A feature's value as a record sends it to the API (JSON: number, text, or null).
FeatureValue = int | float | str | None
#: Feature name → value, in model order.
Record = dict[str, FeatureValue]


@dataclass(frozen=True)
class Field:
    """One input of the form."""

    name: str
    kind: FeatureKind
    integer: bool
    min: float | None
    max: float | None
    options: list[FeatureValue] | None
    default: FeatureValue

    @property
    def step(self) -> float | int:
        """Step of a number input: 1 for integers, about 1/100 of the seen range otherwise."""
        if self.integer:
            return 1
        if self.min is None or self.max is None or self.max <= self.min:
            return 0.01
        span = self.max - self.min
        return float(f"{span / 100:.1g}")


def fields(schema: FeatureSchema) -> list[Field]:
    """The form's inputs in model order, each prefilled with the feature's typical value
    (:func:`porto.schema.typical_value`, the same record the API shows as its example)."""
    out = []
    for spec in schema.features:
        default = typical_value(spec)
        if spec.kind is FeatureKind.CATEGORICAL:
            options = [category_value(spec, c) for c in spec.categories or []]
            out.append(Field(spec.name, spec.kind, False, None, None, options, default))
        elif spec.kind is FeatureKind.BINARY:
            out.append(Field(spec.name, spec.kind, True, 0, 1, [0, 1], default))
        else:
            out.append(
                Field(spec.name, spec.kind, spec.dtype == "int", spec.min, spec.max, None, default)
            )
    return out


def random_record(
    schema: FeatureSchema, reference: ReferenceStats | None, rng: random.Random
) -> Record:
    """A random but plausible record: each feature drawn from its training distribution in
    ``reference`` (the bundle's reference.json; missing values excluded, since the form has no
    "missing" input), or uniformly from its seen range or categories without one."""
    refs = {r.name: r for r in reference.features} if reference is not None else {}
    record: Record = {}
    for spec, field in zip(schema.features, fields(schema), strict=True):
        ref = refs.get(spec.name)
        if field.options is not None and spec.kind is FeatureKind.CATEGORICAL:
            record[spec.name] = _random_category(spec, field, ref, rng)
        else:
            record[spec.name] = _random_number(spec, ref, rng)
    return record


def _random_category(
    spec: FeatureSpec, field: Field, ref: FeatureReference | None, rng: random.Random
) -> FeatureValue:
    options = field.options or []
    if ref is not None and ref.categories:
        cats = ref.categories
        weights = ref.fractions[: len(cats)]
        if sum(weights) > 0:
            drawn: FeatureValue = category_value(spec, rng.choices(cats, weights=weights)[0])
            return drawn
    return rng.choice(options) if options else None


def _random_number(
    spec: FeatureSpec, ref: FeatureReference | None, rng: random.Random
) -> FeatureValue:
    lo, hi = spec.min, spec.max
    edges = ref.edges if ref is not None else None
    if ref is not None and edges:
        # Bins: < edges[0], [edges[i-1], edges[i]), >= edges[-1], then missing (skipped).
        weights = list(ref.fractions[: len(edges) + 1])
        if sum(weights) > 0:
            k = rng.choices(range(len(weights)), weights=weights)[0]
            low = edges[k - 1] if k > 0 else (lo if lo is not None else edges[0])
            high = edges[k] if k < len(edges) else (hi if hi is not None else edges[-1])
            if spec.dtype == "int" or spec.kind is FeatureKind.BINARY:
                # Integer bins hold the integers in [low, high); the last bin includes high.
                top = math.floor(high) if k == len(edges) else math.ceil(high) - 1
                return clamp_number(spec, rng.randint(math.ceil(low), max(math.ceil(low), top)))
            return clamp_number(spec, rng.uniform(low, high))
    if lo is None or hi is None:
        return clamp_number(spec, None)
    if spec.dtype == "int" or spec.kind is FeatureKind.BINARY:
        return clamp_number(spec, rng.randint(int(lo), int(hi)))
    return clamp_number(spec, rng.uniform(lo, hi))
