"""Feature schema: kinds from naming rules, dtypes, categories, ranges, missingness, and the
canonical category strings that training and inference must agree on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from porto.errors import DataError
from porto.schema import (
    ColumnRules,
    FeatureKind,
    FeatureSchema,
    canonical_category,
    categorical_series,
    infer_schema,
    model_frame,
    typical_record,
)
from porto.synthetic import PORTO_COLUMNS, SyntheticData


def _infer(frame: pd.DataFrame, rules: ColumnRules | None = None) -> FeatureSchema:
    return infer_schema(frame, target="target", id_column="id", missing_value=-1, rules=rules)


def test_porto_columns_get_their_kinds_from_suffixes(small_schema: FeatureSchema) -> None:
    kinds = {f.name: f.kind for f in small_schema.features}
    assert "id" not in kinds and "target" not in kinds
    assert small_schema.names == [c for c in PORTO_COLUMNS if c not in ("id", "target")]
    # Porto Seguro has 14 categorical, 17 binary and 26 other features.
    counts = {k: sum(v is k for v in kinds.values()) for k in FeatureKind}
    assert counts == {FeatureKind.CATEGORICAL: 14, FeatureKind.BINARY: 17, FeatureKind.NUMERIC: 26}
    assert kinds["ps_car_11_cat"] is FeatureKind.CATEGORICAL
    assert kinds["ps_car_11"] is FeatureKind.NUMERIC
    assert kinds["ps_calc_15_bin"] is FeatureKind.BINARY
    assert [small_schema.names[i] for i in small_schema.categorical_indices] == [
        n for n, k in kinds.items() if k is FeatureKind.CATEGORICAL
    ]


def test_numeric_spec_excludes_missing_marker_from_range(
    synthetic_small: SyntheticData, small_schema: FeatureSchema
) -> None:
    frame = synthetic_small.frame
    reg03 = small_schema.spec("ps_reg_03")
    present = frame["ps_reg_03"][frame["ps_reg_03"] != -1]
    assert reg03.dtype == "float"
    assert reg03.min == pytest.approx(present.min())
    assert reg03.max == pytest.approx(present.max())
    assert reg03.min is not None and reg03.min > 0  # -1 is the missing marker, not a value
    assert reg03.missing_rate == pytest.approx((frame["ps_reg_03"] == -1).mean())
    assert reg03.typical == pytest.approx(present.median())
    ind03 = small_schema.spec("ps_ind_03")
    assert (ind03.dtype, ind03.min, ind03.max, ind03.missing_rate) == ("int", 0.0, 11.0, 0.0)
    assert ind03.n_unique == frame["ps_ind_03"].nunique()


def test_categorical_spec_lists_categories_by_frequency_without_missing(
    synthetic_small: SyntheticData, small_schema: FeatureSchema
) -> None:
    col = synthetic_small.frame["ps_car_03_cat"]
    spec = small_schema.spec("ps_car_03_cat")
    assert spec.dtype == "int"
    assert spec.min is None and spec.max is None
    expected = col[col != -1].value_counts().index.astype(str).tolist()
    assert spec.categories == expected
    assert "-1" not in (spec.categories or [])
    assert spec.n_unique == 2
    assert spec.missing_rate == pytest.approx((col == -1).mean())
    assert spec.typical == expected[0]
    car11 = small_schema.spec("ps_car_11_cat")
    assert car11.n_unique == len(car11.categories or []) == 104


def test_text_and_float_categoricals() -> None:
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "target": [0, 1, 0, 1, 0],
            "city_cat": ["porto", "lisboa", None, "porto", "porto"],
            "code_cat": [1.0, np.nan, -1.0, 2.0, 1.0],
            "ratio_cat": [0.5, 1.5, 0.5, -1.0, 0.5],
        }
    )
    schema = _infer(frame)
    city = schema.spec("city_cat")
    assert (city.dtype, city.categories, city.missing_rate) == ("str", ["porto", "lisboa"], 0.2)
    code = schema.spec("code_cat")
    # NaN and the marker are both missing; 1.0 and 2.0 are the integer categories "1" and "2".
    assert (code.dtype, code.categories, code.missing_rate) == ("int", ["1", "2"], 0.4)
    ratio = schema.spec("ratio_cat")
    assert (ratio.dtype, ratio.categories) == ("float", ["0.5", "1.5"])


def test_categories_in_schema_match_model_frame_values(
    synthetic_small: SyntheticData, small_schema: FeatureSchema
) -> None:
    """What inference feeds the model must use the same strings the schema recorded."""
    model = model_frame(synthetic_small.frame, small_schema)
    for spec in small_schema.features:
        if spec.kind is FeatureKind.CATEGORICAL:
            seen = set(model[spec.name]) - {"-1"}
            assert seen == set(spec.categories or []), spec.name


def test_model_frame_turns_marker_into_nan_only_for_numbers(small_schema: FeatureSchema) -> None:
    row: dict[str, float] = {name: 0 for name in small_schema.names}
    row.update({"ps_reg_03": -1.0, "ps_car_03_cat": -1, "ps_ind_01": 3})
    model = model_frame(pd.DataFrame([row, {**row, "ps_reg_03": 0.7}]), small_schema)
    assert list(model.columns) == small_schema.names
    assert np.isnan(model["ps_reg_03"].iloc[0])
    assert model["ps_reg_03"].iloc[1] == pytest.approx(0.7)
    assert model["ps_car_03_cat"].iloc[0] == "-1"  # a category of its own, as CatBoost wants
    assert model["ps_ind_01"].dtype == np.float64
    assert model["ps_car_03_cat"].dtype == object


def test_model_frame_categorical_holds_the_same_strings_as_categoricals(
    synthetic_small: SyntheticData, small_schema: FeatureSchema
) -> None:
    plain = model_frame(synthetic_small.frame, small_schema)
    cats = model_frame(synthetic_small.frame, small_schema, categorical=True)
    assert list(cats.columns) == list(plain.columns)
    for spec in small_schema.features:
        if spec.kind is FeatureKind.CATEGORICAL:
            assert isinstance(cats[spec.name].dtype, pd.CategoricalDtype)
            assert cats[spec.name].astype(object).tolist() == plain[spec.name].tolist()
        else:
            pd.testing.assert_series_equal(cats[spec.name], plain[spec.name])


@pytest.mark.parametrize(
    "value", [3, 3.0, "3", np.int64(3), np.int32(3), np.float64(3.0), np.float32(3.0)]
)
def test_canonical_category_merges_numeric_spellings(value: object) -> None:
    assert canonical_category(value) == "3"


def test_canonical_category_keeps_distinct_values_distinct() -> None:
    assert canonical_category(2.5) == "2.5"
    assert canonical_category(-1) == "-1"
    assert canonical_category(True) == "1"
    assert canonical_category(False) == "0"
    assert canonical_category(float("nan")) == "nan"
    assert canonical_category("3.0") == "3.0"  # text is taken as written
    assert canonical_category("a") == "a"


def test_categorical_series_agrees_with_canonical_category() -> None:
    cases: list[pd.Series] = [
        pd.Series([3, 1, -1]),
        pd.Series([3.0, 1.0, -1.0]),
        pd.Series([3.0, np.nan, 2.5]),
        pd.Series([3, "3", 3.0, "x"], dtype=object),
        pd.Series([True, False]),
        pd.Series([-0.0, 0.0, np.nan, 1e20, np.inf]),
        pd.Series([3, None, np.nan, "nan", 1.5], dtype=object),
        pd.Series(["b", "a", None], dtype="category"),
    ]
    for series in cases:
        assert categorical_series(series).tolist() == [canonical_category(v) for v in series]


def test_rules_override_suffixes_and_drop_columns(synthetic_small: SyntheticData) -> None:
    rules = ColumnRules(
        categorical=["ps_ind_01"],
        numeric=["ps_car_11_cat"],
        binary=["ps_ind_14"],
        drop=["ps_ind_02_cat"],
        drop_prefixes=["ps_calc_"],
    )
    schema = _infer(synthetic_small.frame, rules)
    assert schema.spec("ps_ind_01").kind is FeatureKind.CATEGORICAL
    assert schema.spec("ps_car_11_cat").kind is FeatureKind.NUMERIC
    assert schema.spec("ps_ind_14").kind is FeatureKind.BINARY
    assert "ps_ind_02_cat" not in schema.names
    assert not [n for n in schema.names if n.startswith("ps_calc_")]
    assert len(schema.names) == 57 - 1 - 20


def test_schema_without_missing_marker_keeps_minus_one() -> None:
    frame = pd.DataFrame({"target": [0, 1], "x": [-1.0, 2.0], "c_cat": [-1, 2]})
    schema = infer_schema(frame, target="target", id_column=None, missing_value=None)
    assert (schema.spec("x").min, schema.spec("x").missing_rate) == (-1.0, 0.0)
    assert schema.spec("c_cat").categories == ["-1", "2"]


def test_non_numeric_values_in_a_numeric_column_are_a_data_error() -> None:
    frame = pd.DataFrame({"target": [0, 1], "x": ["a", "b"]})
    with pytest.raises(DataError, match="'x'"):
        infer_schema(frame, target="target", id_column=None, missing_value=-1)


def test_a_dataset_without_features_is_a_data_error() -> None:
    with pytest.raises(DataError, match="no feature columns"):
        _infer(pd.DataFrame({"id": [1], "target": [0]}))


def test_schema_survives_json_round_trip(small_schema: FeatureSchema) -> None:
    again = FeatureSchema.model_validate_json(small_schema.model_dump_json())
    assert again == small_schema


def test_nullable_integer_categories_keep_missing_as_its_own_category() -> None:
    from porto.schema import categorical_series

    values = pd.Series([3, None, 1], dtype="Int64")
    assert categorical_series(values).tolist() == ["3", "nan", "1"]


def test_dropped_columns_are_recorded_as_ignored() -> None:
    from porto.schema import ColumnRules, infer_schema
    from porto.synthetic import generate

    frame = generate(200, seed=3).frame
    rules = ColumnRules(drop_prefixes=["ps_calc_"])
    schema = infer_schema(frame, target="target", id_column="id", missing_value=-1, rules=rules)
    assert schema.ignored == [c for c in frame.columns if c.startswith("ps_calc_")]
    assert not set(schema.ignored) & set(schema.names)


def test_the_training_data_column_order_is_recorded() -> None:
    frame = pd.DataFrame(
        {"a": [1, 2], "id": [1, 2], "skip": [0, 0], "target": [0, 1], "b_cat": ["x", "y"]}
    )
    schema = infer_schema(
        frame, target="target", id_column="id", missing_value=-1, rules=ColumnRules(drop=["skip"])
    )
    assert schema.dataset_columns == ["a", "skip", "b_cat"]  # id and target left out
    assert schema.names == ["a", "b_cat"] and schema.ignored == ["skip"]
    # Schemas written before the order was recorded still load.
    old = schema.model_dump(mode="json")
    del old["dataset_columns"]
    assert FeatureSchema.model_validate(old).dataset_columns is None


def test_typical_record_is_json_ready_and_inside_what_training_saw(
    small_schema: FeatureSchema,
) -> None:
    """The one example record (API /schema, UI form, warm-up): every feature in model order, a
    seen category as JSON sends it, numbers inside the seen range, 0/1 for binaries."""
    import json

    record = typical_record(small_schema)
    assert list(record) == small_schema.names
    json.dumps(record)  # plain JSON types only
    for spec in small_schema.features:
        value = record[spec.name]
        if spec.kind is FeatureKind.CATEGORICAL:
            assert canonical_category(value) == spec.typical
            assert isinstance(value, int)  # Porto's categories are integers
        elif spec.kind is FeatureKind.BINARY:
            assert value in (0, 1)
        else:
            assert spec.min is not None and spec.max is not None
            assert spec.min <= value <= spec.max
            assert isinstance(value, int) == (spec.dtype == "int")
