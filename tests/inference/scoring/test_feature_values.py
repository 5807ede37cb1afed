"""What the prediction log keeps of each row's features: the values alone, in model order, with
their JSON types, whatever shape the request had; names come back through the log's schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
from porto.schema import FeatureKind, FeatureSchema, FeatureSpec
from porto.synthetic import generate
from porto_inference.log.features import decode_features
from porto_inference.scoring.codec import FeatureCodec
from porto_inference.scoring.log_entry import feature_values


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate(50, seed=5).frame


@pytest.fixture(scope="module")
def codec(frame: pd.DataFrame) -> FeatureCodec:
    from porto.schema import infer_schema

    return FeatureCodec(infer_schema(frame, target="target", id_column="id", missing_value=-1))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = orjson.loads(
        orjson.dumps(frame.drop(columns=["target"]).to_dict(orient="records"))
    )
    return rows


def _named(values: list[bytes], codec: FeatureCodec) -> list[dict[str, Any]]:
    return [decode_features(v, codec.names) for v in values]


def test_json_records_are_logged_as_values_in_model_order(
    frame: pd.DataFrame, codec: FeatureCodec
) -> None:
    records = _records(frame)
    sent = [{k: v for k, v in r.items() if k != "id"} for r in records]
    shuffled = [dict(reversed(list(r.items()))) for r in records]  # key order must not matter
    values = feature_values(codec.encode_items(shuffled), codec)
    assert _named(values, codec) == sent
    first = orjson.loads(values[0])
    assert first == [sent[0][n] for n in codec.names]
    # Integers stay integers, as sent: nothing is turned into floats on the way to the log.
    assert [type(v) for v in first] == [type(sent[0][n]) for n in codec.names]
    named_size = len(orjson.dumps(sent[0]))
    assert len(values[0]) < named_size / 3, (len(values[0]), named_size)


def test_one_record_positional_rows_and_wrapped_records(
    frame: pd.DataFrame, codec: FeatureCodec
) -> None:
    records = _records(frame)
    sent = {k: v for k, v in records[0].items() if k != "id"}
    assert _named(feature_values(codec.encode_items([dict(records[0])]), codec), codec) == [sent]
    positional = [[r[n] for n in codec.names] for r in records[:3]]
    values = feature_values(codec.encode_items([list(p) for p in positional]), codec)
    assert [orjson.loads(v) for v in values] == positional
    wrapped = [{"id": 1, "features": {n: records[0][n] for n in codec.names}}, positional[1]]
    values = feature_values(codec.encode_items(wrapped), codec)
    assert [orjson.loads(v) for v in values] == [[sent[n] for n in codec.names], positional[1]]


@pytest.mark.parametrize(
    "layout", ["features in model order", "id first", "columns shuffled, target kept"]
)
def test_csv_bodies_of_numbers_are_logged_as_sent(
    frame: pd.DataFrame, codec: FeatureCodec, layout: str
) -> None:
    """A CSV body of numbers: each row's cells as sent (integers stay integers, the missing
    marker stays, an empty cell is null), in model order, whatever the column order."""
    table = frame.head(20).astype({"ps_car_13": object, "ps_ind_02_cat": object})
    table.loc[table.index[3], "ps_car_13"] = ""
    table.loc[table.index[4], "ps_ind_02_cat"] = ""
    if layout == "features in model order":
        table = table[codec.names]
    elif layout == "id first":
        table = table[["id", *codec.names]]
    else:
        table = table[list(reversed(table.columns))]
    body = table.to_csv(index=False).encode()
    logged = _named(feature_values(codec.encode_csv(body), codec), codec)
    sent = [
        orjson.loads(f"[{line}]".replace(",,", ",null,").replace(",]", ",null]"))
        for line in body.decode().split("\n")[1:-1]
    ]
    header = list(table.columns)
    want = [{name: row[header.index(name)] for name in codec.names} for row in sent]
    assert logged == want
    assert logged[3]["ps_car_13"] is None and logged[4]["ps_ind_02_cat"] is None
    assert -1 in logged[0].values() or any(-1 in r.values() for r in logged)
    assert [type(v) for v in logged[0].values()] == [type(want[0][n]) for n in codec.names]


def test_other_csv_bodies_are_logged_as_parsed(frame: pd.DataFrame, codec: FeatureCodec) -> None:
    """A CSV body the general reader takes (here: a quoted cell): numbers as parsed floats,
    the missing marker null, categories as their text."""
    table = frame.drop(columns=["target"]).head(20).astype({"ps_car_11_cat": object})
    table.loc[:, "ps_car_11_cat"] = [f'"{v}"' for v in table["ps_car_11_cat"]]
    body = table.to_csv(index=False, quoting=3).encode()  # QUOTE_NONE: the quotes as written
    assert b'"' in body
    logged = _named(feature_values(codec.encode_csv(body), codec), codec)
    assert len(logged) == 20
    for row, (_, original) in zip(logged, frame.head(20).iterrows(), strict=True):
        assert list(row) == codec.names
        for name in codec.num_names:
            want = original[name]
            assert row[name] is None if want == -1 else row[name] == pytest.approx(want)
        cat = original["ps_car_11_cat"]
        assert row["ps_car_11_cat"] == (None if cat == -1 else str(int(cat)))


def test_text_that_looks_like_a_row_boundary_and_absent_features() -> None:
    schema = FeatureSchema(
        features=[
            FeatureSpec(name="city", kind=FeatureKind.CATEGORICAL, dtype="str"),
            FeatureSpec(name="x", kind=FeatureKind.NUMERIC, dtype="float"),
        ],
        target="y",
        id_column=None,
        missing_value=None,
    )
    codec = FeatureCodec(schema, allow_missing=True)
    rows = [{"city": 'a"],["b', "x": 1.5}, {"city": "c"}, {"x": 2}]
    values = feature_values(codec.encode_items([dict(r) for r in rows]), codec)
    assert [orjson.loads(v) for v in values] == [['a"],["b', 1.5], ["c", None], [None, 2]]
    assert _named(values, codec)[0] == {"city": 'a"],["b', "x": 1.5}


def test_rows_logged_before_the_values_format_read_as_they_were() -> None:
    assert decode_features(b'{"a": 1, "b": "x"}', ["b", "a"]) == {"a": 1, "b": "x"}
    assert decode_features(b"[1, 2]", None) == [1, 2]


def test_queued_values_do_not_hold_the_encoders_buffer(
    frame: pd.DataFrame, codec: FeatureCodec
) -> None:
    """Each logged value owns a block its own size: orjson's output buffer (kilobytes) would
    make a full queue of single-row entries hold gigabytes."""
    record = _records(frame)[0]
    rss = _rss()
    kept = [feature_values(codec.encode_items([dict(record)]), codec)[0] for _ in range(20_000)]
    grown = _rss() - rss
    # About 5 MB copied (20,000 objects of ~200 bytes); 160 MB when each holds orjson's buffer.
    assert grown < 25e6, f"{grown / 1e6:.0f} MB for {len(kept)} rows of {len(kept[0])} bytes"


def _rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096
