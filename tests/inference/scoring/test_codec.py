"""The codec's fast path gives exactly what training's model_frame gives, and names every
problem when it cannot."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from inference.bundles import TrainedModel
from porto.schema import model_frame
from porto.synthetic import generate
from porto_inference.errors import BadRequestError, ValidationFailedError
from porto_inference.scoring.batch import MAX_ID_DEPTH
from porto_inference.scoring.codec import FeatureCodec
from porto_inference.scoring.model import SMALL_BATCH, ServedModel


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate(400, seed=11).frame


@pytest.fixture(scope="module")
def served(trained: TrainedModel) -> ServedModel:
    from porto.flavors.catboost import CatBoostModel

    return ServedModel(
        manifest=_manifest(trained),
        predictor=CatBoostModel(trained.model),
        codec=FeatureCodec(trained.schema),
        reference=None,
        load_seconds=0.0,
    )


def _manifest(trained: TrainedModel) -> Any:
    from datetime import UTC, datetime

    from porto.bundle import DatasetInfo, Manifest

    return Manifest(
        name="porto",
        version="v1",
        created_at=datetime.now(UTC),
        code_version="t",
        model_type="catboost",
        model_file="model.cbm",
        threshold=trained.threshold,
        feature_schema=trained.schema,
        dataset=DatasetInfo(source="s", fingerprint="f", rows=1, columns=1, positives=0),
    )


def _json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Records as a client would send them (through JSON), without the target."""
    rows: list[dict[str, Any]] = orjson.loads(
        orjson.dumps(frame.drop(columns=["target"]).to_dict(orient="records"))
    )
    return rows


def _expected(trained: TrainedModel, frame: pd.DataFrame) -> np.ndarray:
    proba = trained.model.predict_proba(model_frame(frame, trained.schema))[:, 1]
    return np.asarray(proba)


def test_fast_path_matches_model_frame_for_batches(
    served: ServedModel, trained: TrainedModel, frame: pd.DataFrame
) -> None:
    batch = served.codec.encode_items(_json_records(frame))
    assert batch.rows > SMALL_BATCH  # the categorical-frame input
    np.testing.assert_array_equal(served.predict(batch), _expected(trained, frame))


def test_fast_path_matches_model_frame_row_by_row(
    served: ServedModel, trained: TrainedModel, frame: pd.DataFrame
) -> None:
    expected = _expected(trained, frame)
    for i, record in enumerate(_json_records(frame)[:40]):
        got = served.predict(served.codec.encode_items([record]))  # the object-array input
        assert got[0] == expected[i]


def test_positional_and_csv_inputs_match(
    served: ServedModel, trained: TrainedModel, frame: pd.DataFrame
) -> None:
    names = trained.schema.names
    positional = [[r[n] for n in names] for r in _json_records(frame)]
    expected = _expected(trained, frame)
    np.testing.assert_array_equal(served.predict(served.codec.encode_items(positional)), expected)
    csv_batch = served.codec.encode_csv(frame.to_csv(index=False).encode())
    np.testing.assert_array_equal(served.predict(csv_batch), expected)
    assert csv_batch.ids == frame["id"].tolist()


def test_missing_marker_becomes_nan_and_ids_are_not_features(served: ServedModel) -> None:
    record = _json_records(generate(1, seed=3).frame)[0]
    record["ps_reg_03"] = -1
    batch = served.codec.encode_items([dict(record)])
    col = served.codec.num_names.index("ps_reg_03")
    assert np.isnan(batch.num[0, col])
    assert batch.ids == [record["id"]]
    assert "id" not in batch.raw[0]  # type: ignore[index]


def test_category_spellings_are_one_category(served: ServedModel) -> None:
    record = _json_records(generate(1, seed=3).frame)[0]
    spellings = [2, 2.0, "2", " 2 "]
    codes = set()
    for value in spellings:
        r = dict(record)
        r["ps_car_01_cat"] = value
        batch = served.codec.encode_items([r])
        codes.add(int(batch.codes[0, served.codec.cat_names.index("ps_car_01_cat")]))
    assert len(codes) == 1


def test_null_means_missing(served: ServedModel) -> None:
    record = _json_records(generate(1, seed=3).frame)[0]
    as_marker = dict(record, ps_car_03_cat=-1, ps_reg_03=-1)
    as_null = dict(record, ps_car_03_cat=None, ps_reg_03=None)
    a = served.codec.encode_items([as_marker])
    b = served.codec.encode_items([as_null])
    np.testing.assert_array_equal(a.num, b.num)
    np.testing.assert_array_equal(a.codes, b.codes)


def test_unseen_categories_are_accepted(served: ServedModel) -> None:
    record = _json_records(generate(1, seed=3).frame)[0]
    record["ps_car_11_cat"] = "never-seen-before"
    batch = served.codec.encode_items([record])
    assert np.isfinite(served.predict(batch)[0])


def _problems(codec: FeatureCodec, items: list[Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationFailedError) as info:
        codec.encode_items(copy.deepcopy(items))
    return info.value.details


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("ps_ind_01", "abc", "expected a number"),
        ("ps_ind_01", [1, 2], "expected a number"),
        ("ps_ind_01", {"a": 1}, "expected a number"),
        ("ps_ind_06_bin", 2, "expected 0 or 1"),
        ("ps_car_01_cat", [1], "expected a category"),
        ("ps_car_01_cat", {"x": 1}, "expected a category"),
    ],
)
def test_wrong_values_are_named(served: ServedModel, field: str, value: Any, message: str) -> None:
    records = _json_records(generate(3, seed=4).frame)
    records[2][field] = value
    details = _problems(served.codec, records)
    assert details == [{"row": 2, "field": field, "message": details[0]["message"]}]
    assert message in details[0]["message"]


def test_unknown_and_missing_features_are_listed(served: ServedModel) -> None:
    records = _json_records(generate(2, seed=4).frame)
    records[1]["not_a_feature"] = 1
    del records[1]["ps_reg_01"], records[1]["ps_car_13"]
    details = _problems(served.codec, records)
    assert {"row": 1, "field": "not_a_feature", "message": "unknown feature"} in details
    missing = {d["field"] for d in details if d["message"] == "missing feature"}
    assert missing == {"ps_reg_01", "ps_car_13"}


def test_missing_features_allowed_when_configured(trained: TrainedModel) -> None:
    codec = FeatureCodec(trained.schema, allow_missing=True)
    record = _json_records(generate(1, seed=4).frame)[0]
    del record["ps_reg_01"], record["ps_car_01_cat"]
    batch = codec.encode_items([record])
    assert np.isnan(batch.num[0, codec.num_names.index("ps_reg_01")])
    j = codec.cat_names.index("ps_car_01_cat")
    assert batch.vocabs[j].strings[batch.codes[0, j]] == "-1"


def test_positional_length_is_checked(served: ServedModel) -> None:
    details = _problems(served.codec, [{"features": [1.5, 2.3, 3.1, 4.2, 5.0]}])
    assert details[0]["field"] == "features"
    assert "expected 57 values" in details[0]["message"]


def test_wrapped_records(served: ServedModel) -> None:
    record = _json_records(generate(2, seed=4).frame)[0]
    record_id = record.pop("id")
    batch = served.codec.encode_items([{"id": record_id, "features": record}])
    assert batch.ids == [record_id]
    flat = served.codec.encode_items([dict(record)])
    np.testing.assert_array_equal(batch.num, flat.num)


def test_ids_nested_deeper_than_the_limit_are_refused(served: ServedModel) -> None:
    """An id may be an object or a list, 32 levels deep at most: checking it, and echoing it in
    the answer (orjson writes 254 levels), must not fail (a RecursionError, a 500)."""
    record = _json_records(generate(1, seed=4).frame)[0]
    del record["id"]

    def nested(depth: int) -> Any:
        value: Any = 1
        for _ in range(depth):
            value = [value]
        return value

    ok = served.codec.encode_items([{**record, "id": nested(MAX_ID_DEPTH)}])
    assert ok.ids == [nested(MAX_ID_DEPTH)]
    for depth in (MAX_ID_DEPTH + 1, 300):
        for items in (
            [{**record, "id": nested(depth)}],
            [{"id": nested(depth), "features": dict(record)}],
            [dict(record), {**record, "id": {"k": nested(depth)}}],
        ):
            details = _problems(served.codec, items)
            assert details[0]["field"] == "id"
            assert details[0]["message"] == f"nested deeper than {MAX_ID_DEPTH} levels"


@pytest.mark.parametrize(
    ("cell", "read"),
    [
        ("7", 7),
        (" -5 ", -5),
        ("007", 7),
        ("18446744073709551615", 2**64 - 1),
        ("-9223372036854775808", -(2**63)),
        # not integers JSON carries: kept as text (int() refused some: a 500)
        ("18446744073709551616", "18446744073709551616"),
        ("-9223372036854775809", "-9223372036854775809"),
        ("9" * 5000, "9" * 5000),
        ("\u00b2", "\u00b2"),
        ("\u0663", "\u0663"),
        ("--5", "--5"),
        ("1e3", "1e3"),
    ],
)
def test_csv_ids_are_integers_only_when_json_carries_them(
    served: ServedModel, frame: pd.DataFrame, cell: str, read: Any
) -> None:
    small = frame.head(1).drop(columns=["target"]).astype({"id": object})
    small.loc[small.index[0], "id"] = cell
    batch = served.codec.encode_csv(small.to_csv(index=False).encode())
    assert batch.ids == [read]
    assert type(batch.ids[0]) is type(read)


@pytest.mark.parametrize("ends", ["\r", "\r\n\r\n\r", "\r\r\n\n\r", "\n\r\r\n"])
@pytest.mark.parametrize("first", ["ps_ind_01", "ps_car_11_cat"])
def test_csv_lone_cr_line_endings_keep_every_cell_in_its_column(
    served: ServedModel, frame: pd.DataFrame, ends: str, first: str
) -> None:
    """pandas' C parser, given a lone CR, drops the leading empty cell of the row after the
    header (the row's cells moved one column left, silently) and with mixed endings invents
    rows or fails; the body is read as LF and CRLF bodies are."""
    small = frame.head(4).drop(columns=["target"])
    small = small[[first, *(c for c in small.columns if c != first)]].astype({first: object})
    small.loc[small.index[:2], first] = ""  # an empty first cell: missing
    lines = small.to_csv(index=False).splitlines()
    expected = served.codec.encode_csv("\n".join(lines).encode())
    breaks = [ends[i % len(ends)] for i in range(len(lines))]
    text = "".join(line + end for line, end in zip(lines, breaks, strict=True))
    batch = served.codec.encode_csv(text.encode())
    assert batch.rows == expected.rows == 4
    np.testing.assert_array_equal(batch.num, expected.num)
    np.testing.assert_array_equal(batch.codes, expected.codes)
    assert batch.ids == expected.ids


def test_csv_errors_name_row_and_column(served: ServedModel, frame: pd.DataFrame) -> None:
    small = frame.head(5).copy()
    text = small.to_csv(index=False)
    lines = text.splitlines()
    header = lines[0].split(",")
    col = header.index("ps_reg_01")
    cells = lines[3].split(",")
    cells[col] = "oops"
    lines[3] = ",".join(cells)
    with pytest.raises(ValidationFailedError) as info:
        served.codec.encode_csv("\n".join(lines).encode())
    assert info.value.details == [{"row": 2, "field": "ps_reg_01", "message": "expected a number"}]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", BadRequestError),
        (b"\xff\xfe\x00garbage", BadRequestError),
        (b"a,a\n1,2\n", BadRequestError),
    ],
)
def test_bad_csv(served: ServedModel, body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        served.codec.encode_csv(body)


def test_csv_ragged_row_and_unknown_column(served: ServedModel, frame: pd.DataFrame) -> None:
    text = frame.head(3).to_csv(index=False) + "1,2,3\n"
    with pytest.raises(ValidationFailedError) as info:
        served.codec.encode_csv(text.encode())
    assert info.value.details[0]["row"] == 3
    extra = frame.head(2).assign(surprise=1).to_csv(index=False)
    with pytest.raises(ValidationFailedError) as info:
        served.codec.encode_csv(extra.encode())
    assert info.value.details == [{"field": "surprise", "message": "unknown feature (CSV column)"}]


def test_csv_row_with_more_fields_than_the_header(served: ServedModel, frame: pd.DataFrame) -> None:
    """pandas would drop the extra fields with a warning; porto refuses the row."""
    lines = frame.head(4).to_csv(index=False).splitlines()
    lines[2] += ",7"
    with pytest.raises(ValidationFailedError) as info:
        served.codec.encode_csv("\n".join(lines).encode())
    width = len(lines[0].split(","))
    text = f"expected {width} fields like the header, got {width + 1}"
    assert info.value.details == [{"row": 1, "field": "", "message": text}]


def test_columns_the_training_dropped_are_accepted_and_discarded(trained: TrainedModel) -> None:
    """Full dataset rows (e.g. Kaggle rows with ps_calc_*) work against a model trained without
    some of their columns: the schema lists them as ignored, and only they are let through."""
    schema = trained.schema.model_copy(update={"ignored": ["ps_calc_99", "ps_calc_98_bin"]})
    codec = FeatureCodec(schema)
    plain = FeatureCodec(trained.schema)
    records = _json_records(generate(3, seed=5).frame)
    expected = plain.encode_items(copy.deepcopy(records))
    for r in records:
        r["ps_calc_99"], r["ps_calc_98_bin"] = 0.5, 1
    for items in (copy.deepcopy(records[:1]), copy.deepcopy(records), [{"features": records[0]}]):
        batch = codec.encode_items(items)
        np.testing.assert_array_equal(batch.num, expected.num[: len(items)])
    header = [*records[0].keys()]
    csv = ",".join(header) + "\n" + "\n".join(",".join(str(r[h]) for h in header) for r in records)
    np.testing.assert_array_equal(codec.encode_csv(csv.encode()).num, expected.num)
    # Without the schema saying so, they are still unknown features.
    details = _problems(plain, copy.deepcopy(records[:1]))
    assert {"row": 0, "field": "ps_calc_99", "message": "unknown feature"} in details
