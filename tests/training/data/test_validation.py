"""Data checks: each bad dataset fails with one message naming the column(s) or file."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from porto.errors import DataError
from porto.schema import ColumnRules, FeatureKind
from porto_training.config import DataConfig
from porto_training.validation import validate_frame

SRC = "train.csv"


def _check(frame: pd.DataFrame, **cfg: object) -> None:
    validate_frame(frame, DataConfig.model_validate(cfg), SRC)


def test_valid_synthetic_frame_passes(small_frame: pd.DataFrame) -> None:
    report = validate_frame(small_frame, DataConfig(), SRC)
    assert report.rows == len(small_frame)
    assert report.positives == int(small_frame["target"].sum())
    assert "id" not in report.features and "target" not in report.features
    assert report.features["ps_car_11_cat"] is FeatureKind.CATEGORICAL
    assert report.features["ps_ind_06_bin"] is FeatureKind.BINARY
    assert report.features["ps_reg_03"] is FeatureKind.NUMERIC


def test_header_only_file_has_no_rows() -> None:
    with pytest.raises(DataError, match=r"train\.csv has a header but no data rows"):
        _check(pd.DataFrame({"id": [], "target": [], "x": []}))


def test_missing_required_columns_are_named(small_frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="missing required column\\(s\\) 'target', 'id'"):
        _check(small_frame.drop(columns=["target", "id"]))
    with pytest.raises(DataError, match="missing required column\\(s\\) 'ps_special'"):
        _check(small_frame, required_columns=["ps_special"])


def test_custom_target_and_id_names(small_frame: pd.DataFrame) -> None:
    renamed = small_frame.rename(columns={"target": "claim", "id": "policy"})
    _check(renamed, target="claim", id_column="policy")
    _check(renamed.drop(columns=["policy"]), target="claim", id_column=None)
    with pytest.raises(DataError, match="'target'"):
        _check(renamed)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([0, 1, 2, 0], "has 3 values [0, 1, 2]: a binary classifier needs exactly two classes"),
        (["A", "B", "A", "A"], "has values ['A', 'B']: set data.positive_label (--positive-label)"),
        ([1, 2, 1, 1], "has values [1, 2]: set data.positive_label (--positive-label)"),
        ([0.0, 1.0, 0.5, 0.0], "has 3 values [0, 0.5, 1]: a binary classifier"),
        ([0, 1, None, 0], "has 1 missing value"),
        ([0, 0, 0, 0], "holds only the class 0: need two classes"),
        ([1, 1, 1, 1], "holds only the class 1"),
        (["Yes"] * 4, "holds only the class 'Yes'"),
    ],
)
def test_unusable_target_is_named(values: list[object], message: str) -> None:
    frame = pd.DataFrame({"id": range(4), "target": values, "x": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(DataError, match=re.escape(message)) as info:
        _check(frame)
    assert "'target'" in info.value.message


def test_many_target_values_are_summarised() -> None:
    frame = pd.DataFrame({"id": range(8), "target": list("abcdefgh"), "x": range(8)})
    with pytest.raises(DataError) as info:
        _check(frame)
    assert info.value.message == (
        "target column 'target' has 8 values ['a', 'b', 'c', 'd', 'e', ... (3 more)]: "
        "a binary classifier needs exactly two classes"
    )


def test_boolean_and_float_targets_are_binary() -> None:
    _check(pd.DataFrame({"id": range(4), "target": [True, False, False, True], "x": range(4)}))
    _check(pd.DataFrame({"id": range(4), "target": [1.0, 0.0, 0.0, 1.0], "x": range(4)}))


@pytest.mark.parametrize(
    ("values", "positive", "negative"),
    [
        ([1, 0, 1, 0, 0], 1, 0),
        ([True, False, True, False, False], True, False),
        (["true", "false", "TRUE", "False", "false"], "true", "false"),
        (["Yes", "No", "yes", "No", "NO"], "Yes", "No"),
        (["y", "n", "y", "n", "n"], None, None),  # not a pair porto guesses
    ],
)
def test_positive_class_is_inferred_for_known_pairs(
    values: list[object], positive: object, negative: object
) -> None:
    frame = pd.DataFrame({"id": range(5), "target": values, "x": range(5)})
    if positive is None:
        with pytest.raises(DataError, match=re.escape("has values ['n', 'y']: set data.pos")):
            validate_frame(frame, DataConfig(), SRC)
        return
    report = validate_frame(frame, DataConfig(), SRC)
    assert report.labels.positive_label == positive
    assert report.labels.negative_label == negative
    assert report.positives == 2
    assert report.labels.encode(frame["target"]).tolist() == [1, 0, 1, 0, 0]


def test_positive_label_picks_the_class_of_any_pair() -> None:
    frame = pd.DataFrame({"id": range(5), "target": ["A", "B", "B", "a", "A"], "x": range(5)})
    report = validate_frame(frame, DataConfig(positive_label="b"), SRC)
    assert (report.labels.positive_label, report.labels.negative_label) == ("B", "A")
    assert report.labels.label_values == ["A", "B", "a"]
    assert report.positives == 2
    # It also overrides a pair porto would infer: class 1 is now "No".
    yes_no = pd.DataFrame({"id": range(3), "target": ["Yes", "No", "No"], "x": range(3)})
    assert validate_frame(yes_no, DataConfig(positive_label="No"), SRC).positives == 2
    numbers = pd.DataFrame({"id": range(3), "target": [1, 2, 2], "x": range(3)})
    # "2" from the command line matches the number 2.
    assert validate_frame(numbers, DataConfig(positive_label="2"), SRC).labels.positive_label == 2


def test_positive_label_must_be_a_target_value() -> None:
    frame = pd.DataFrame({"id": range(3), "target": ["yes", "no", "no"], "x": range(3)})
    with pytest.raises(DataError) as info:
        validate_frame(frame, DataConfig(positive_label="Maybe"), SRC)
    assert info.value.message == (
        "data.positive_label 'Maybe' is not a value of target column 'target', which has "
        "values ['no', 'yes']"
    )
    # YAML reads a bare Yes as the boolean true: say so.
    with pytest.raises(DataError, match="quote the label"):
        validate_frame(frame, DataConfig(positive_label=True), SRC)


def test_non_numeric_values_in_numeric_columns_are_named(small_frame: pd.DataFrame) -> None:
    frame = small_frame.astype({"ps_reg_01": object, "ps_ind_06_bin": object})
    frame.loc[17, "ps_reg_01"] = "abc"
    frame.loc[3, "ps_ind_06_bin"] = "yes"
    with pytest.raises(DataError) as info:
        _check(frame)
    message = info.value.message
    assert "non-numeric values in numeric column(s)" in message
    assert "'ps_ind_06_bin' (e.g. 'yes' in data row 4)" in message
    assert "'ps_reg_01' (e.g. 'abc' in data row 18)" in message
    assert "\n" not in message


def test_text_in_a_categorical_column_is_fine(small_frame: pd.DataFrame) -> None:
    frame = small_frame.astype({"ps_car_01_cat": object})
    frame.loc[0, "ps_car_01_cat"] = "brand-new"
    _check(frame)


def test_binary_column_with_other_values(small_frame: pd.DataFrame) -> None:
    frame = small_frame.copy()
    frame.loc[5, "ps_ind_16_bin"] = 7
    with pytest.raises(
        DataError, match=re.escape("values other than 0/1 'ps_ind_16_bin' (e.g. 7)")
    ):
        _check(frame)
    frame.loc[5, "ps_ind_16_bin"] = -1  # the missing marker is allowed
    _check(frame)
    frame.loc[5, "ps_ind_16_bin"] = 7  # declared numeric by config: fine
    _check(frame, columns=ColumnRules(numeric=["ps_ind_16_bin"]))


def test_no_features_left() -> None:
    frame = pd.DataFrame({"id": range(4), "target": [0, 1, 0, 1], "ps_calc_01": range(4)})
    with pytest.raises(DataError, match="no feature columns left"):
        _check(frame, columns=ColumnRules(drop_prefixes=["ps_calc_"]))


def test_many_bad_columns_are_summarised() -> None:
    frame = pd.DataFrame({"id": range(3), "target": [0, 1, 0]})
    for i in range(8):
        frame[f"c{i}"] = ["a", "b", "c"]
    with pytest.raises(DataError, match="and 3 more"):
        _check(frame)


def test_nan_and_missing_marker_are_allowed_in_numbers(small_frame: pd.DataFrame) -> None:
    frame = small_frame.copy()
    frame.loc[0:10, "ps_reg_03"] = np.nan
    _check(frame)
