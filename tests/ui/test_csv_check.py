"""The CSV check the batch page runs before sending anything: the API's rules, row by row."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from porto.reference import ReferenceStats
from porto.schema import FeatureSchema
from porto.synthetic import generate
from porto_ui.csv_check import MAX_LISTED, CsvReport, check_csv, chunks


@pytest.fixture(scope="module")
def schema(schema_and_reference: tuple[FeatureSchema, ReferenceStats]) -> FeatureSchema:
    return schema_and_reference[0]


@pytest.fixture
def frame(schema: FeatureSchema) -> pd.DataFrame:
    data = generate(20, seed=9).frame
    return data[["id", *schema.names]].copy()


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _issues(report: CsvReport) -> set[tuple[int | None, str]]:
    return {(i.row, i.column) for i in report.errors}


def test_a_good_file_passes_with_ids_and_target_allowed(
    schema: FeatureSchema, frame: pd.DataFrame
) -> None:
    frame["target"] = 0
    report = check_csv(_csv(frame[list(reversed(frame.columns))]), schema, max_rows=100)
    assert report.ok, report.errors
    assert report.frame is not None and len(report.frame) == 20


def test_bad_values_are_named_by_row_and_column(schema: FeatureSchema, frame: pd.DataFrame) -> None:
    frame = frame.astype(object)
    frame.loc[0, "ps_reg_01"] = "high"
    frame.loc[4, "ps_car_13"] = "inf"
    frame.loc[7, "ps_ind_06_bin"] = 2
    frame.loc[9, "ps_ind_07_bin"] = -1  # the missing marker is fine in a binary column
    frame.loc[11, "ps_reg_02"] = ""  # an empty cell is a missing value
    frame.loc[12, "ps_reg_03"] = "NaN"
    report = check_csv(_csv(frame), schema, max_rows=100)
    assert not report.ok
    assert _issues(report) == {(1, "ps_reg_01"), (5, "ps_car_13"), (8, "ps_ind_06_bin")}
    messages = {i.column: i.message for i in report.errors}
    assert messages["ps_reg_01"] == "expected a number, got 'high'"
    assert messages["ps_car_13"] == "expected a finite number"
    assert messages["ps_ind_06_bin"] == "expected 0 or 1 (binary feature), got 2"
    table = report.table()
    assert list(table.columns) == ["row", "column", "problem"]


def test_missing_unknown_and_duplicate_columns(schema: FeatureSchema, frame: pd.DataFrame) -> None:
    frame = frame.drop(columns=["ps_car_13", "ps_ind_01"])
    frame["colour"] = "red"
    body = _csv(frame).replace(b"ps_reg_02", b"ps_reg_01", 1)
    report = check_csv(body, schema, max_rows=100)
    problems = {(i.column, i.message.split(":")[0]) for i in report.errors}
    assert problems == {
        ("colour", "unknown column"),
        ("ps_car_13", "missing column"),
        ("ps_ind_01", "missing column"),
        ("ps_reg_02", "missing column"),
        ("ps_reg_01", "the column appears more than once"),
    }
    assert all(i.row is None for i in report.errors)


def test_header_and_value_problems_are_reported_together(
    schema: FeatureSchema, frame: pd.DataFrame
) -> None:
    frame = frame.drop(columns=["ps_car_13"]).astype(object)
    frame.loc[2, "ps_reg_01"] = "lots"
    report = check_csv(_csv(frame), schema, max_rows=100)
    assert _issues(report) == {(None, "ps_car_13"), (3, "ps_reg_01")}
    assert report.frame is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the file is empty"),
        (b"   \n\n", "the file is empty"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b'a,b\n"unterminated,1\n', "not a readable CSV"),
    ],
)
def test_unreadable_files(schema: FeatureSchema, body: bytes, message: str) -> None:
    report = check_csv(body, schema, max_rows=100)
    assert not report.ok
    assert message in report.errors[0].message


def test_header_only_and_too_many_rows(schema: FeatureSchema, frame: pd.DataFrame) -> None:
    header_only = check_csv(_csv(frame.head(0)), schema, max_rows=100)
    assert header_only.errors[0].message == "the file has a header but no rows"
    too_many = check_csv(_csv(frame), schema, max_rows=10)
    assert "20 rows: at most 10 per upload" in too_many.errors[0].message


def test_out_of_range_and_unseen_categories_are_warnings(
    schema: FeatureSchema, frame: pd.DataFrame
) -> None:
    spec = schema.spec("ps_car_13")
    assert spec.max is not None
    frame.loc[3, "ps_car_13"] = spec.max + 10
    frame["ps_car_01_cat"] = frame["ps_car_01_cat"].astype(object)
    frame.loc[5, "ps_car_01_cat"] = 999
    frame.loc[6, "ps_car_01_cat"] = "7.0"  # a seen category, written as a float
    report = check_csv(_csv(frame), schema, max_rows=100)
    assert report.ok
    warnings = {w.column: w for w in report.warnings}
    assert set(warnings) == {"ps_car_13", "ps_car_01_cat"}
    assert warnings["ps_car_13"].row == 4
    assert "1 value(s) never seen in training (999" in warnings["ps_car_01_cat"].message


def test_many_problems_are_counted_not_all_listed(
    schema: FeatureSchema, frame: pd.DataFrame
) -> None:
    big = pd.concat([frame] * 30, ignore_index=True).astype(object)
    big["ps_reg_01"] = "x"
    report = check_csv(_csv(big), schema, max_rows=10_000)
    assert report.error_count == 600
    assert len(report.errors) == MAX_LISTED
    assert report.errors_by_column == {"ps_reg_01": 600}


def test_chunks_keep_the_header_and_the_offsets(schema: FeatureSchema, frame: pd.DataFrame) -> None:
    frame = frame.astype(object)
    frame.loc[2, "ps_reg_03"] = "NA"  # sent as an empty cell, the one spelling the API reads
    report = check_csv(_csv(frame), schema, max_rows=100)
    assert report.frame is not None
    parts = chunks(report.frame, 8)
    assert [start for start, _ in parts] == [0, 8, 16]
    header = parts[0][1].splitlines()[0]
    assert all(body.splitlines()[0] == header for _, body in parts)
    assert sum(len(body.splitlines()) - 1 for _, body in parts) == 20
    sent = pd.read_csv(io.BytesIO(parts[0][1]), keep_default_na=False, dtype=str)
    assert sent.loc[2, "ps_reg_03"] == ""


def test_columns_the_model_ignores_are_allowed(schema: FeatureSchema, frame: pd.DataFrame) -> None:
    frame["ps_calc_99"] = 1
    assert not check_csv(_csv(frame), schema, max_rows=100).ok
    ignoring = schema.model_copy(update={"ignored": ["ps_calc_99"]})
    report = check_csv(_csv(frame), ignoring, max_rows=100)
    assert report.ok, report.errors
