"""The single-prediction form's fields, typical record and random examples."""

from __future__ import annotations

import random

import pytest
from porto.reference import ReferenceStats
from porto.schema import FeatureKind, FeatureSchema, category_value, typical_record
from porto_ui.forms import Record, fields, random_record


@pytest.fixture(scope="module")
def schema(schema_and_reference: tuple[FeatureSchema, ReferenceStats]) -> FeatureSchema:
    return schema_and_reference[0]


@pytest.fixture(scope="module")
def reference(schema_and_reference: tuple[FeatureSchema, ReferenceStats]) -> ReferenceStats:
    return schema_and_reference[1]


def _valid(schema: FeatureSchema, record: Record) -> None:
    assert list(record) == schema.names
    for spec in schema.features:
        value = record[spec.name]
        if spec.kind is FeatureKind.CATEGORICAL:
            assert str(value) in (spec.categories or []), (spec.name, value)
            if spec.dtype == "int":
                assert isinstance(value, int)
        elif spec.kind is FeatureKind.BINARY:
            assert value in (0, 1)
        else:
            assert spec.min is not None and spec.max is not None
            assert isinstance(value, (int, float))
            assert spec.min <= value <= spec.max, (spec.name, value)
            if spec.dtype == "int":
                assert isinstance(value, int)


def test_fields_follow_the_schema(schema: FeatureSchema) -> None:
    form = fields(schema)
    assert [f.name for f in form] == schema.names
    numeric = next(f for f in form if f.kind is FeatureKind.NUMERIC and not f.integer)
    assert numeric.min is not None and numeric.max is not None
    assert 0 < numeric.step <= (numeric.max - numeric.min)
    assert next(f for f in form if f.integer).step == 1
    categorical = next(f for f in form if f.kind is FeatureKind.CATEGORICAL)
    assert categorical.options and categorical.default == categorical.options[0]


def test_the_typical_record_is_valid_and_typical(schema: FeatureSchema) -> None:
    record = typical_record(schema)
    _valid(schema, record)
    spec = next(s for s in schema.features if s.kind is FeatureKind.NUMERIC)
    assert record[spec.name] == pytest.approx(spec.typical, abs=0.5)


def test_random_records_follow_the_training_distribution(
    schema: FeatureSchema, reference: ReferenceStats
) -> None:
    rng = random.Random(1)
    records = [random_record(schema, reference, rng) for _ in range(400)]
    for record in records:
        _valid(schema, record)
    assert len({tuple(r.values()) for r in records}) == 400
    # A categorical feature's most frequent training category is also the most drawn one.
    spec = next(s for s in schema.features if s.kind is FeatureKind.CATEGORICAL)
    drawn = [str(r[spec.name]) for r in records]
    top = max(set(drawn), key=drawn.count)
    assert top == (spec.categories or [])[0]


def test_random_records_without_a_reference_are_uniform_but_valid(schema: FeatureSchema) -> None:
    rng = random.Random(2)
    for _ in range(100):
        _valid(schema, random_record(schema, None, rng))


def test_category_values(schema: FeatureSchema) -> None:
    spec = next(s for s in schema.features if s.kind is FeatureKind.CATEGORICAL)
    assert category_value(spec, "3") == 3
    assert category_value(spec, "A") == "A"
