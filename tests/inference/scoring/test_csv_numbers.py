"""The CSV reader's fast path for bodies of numbers only: it takes the bodies it should, leaves
every other body to the general reader, and what it reads is what the general reader reads,
bit for bit (numbers, categories, ids), over generated bodies."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inference.bundles import TrainedModel
from porto.schema import infer_schema
from porto.synthetic import generate
from porto_inference.scoring import csv_input
from porto_inference.scoring.batch import EncodedBatch, Problems
from porto_inference.scoring.codec import FeatureCodec

ROWS = generate(60, seed=5).frame


@pytest.fixture(scope="module")
def codec(trained: TrainedModel) -> FeatureCodec:
    return FeatureCodec(trained.schema)


def _general(codec: FeatureCodec, body: bytes, monkeypatch: pytest.MonkeyPatch) -> EncodedBatch:
    with monkeypatch.context() as patched:
        patched.setattr(csv_input, "_numbers_only", lambda *_: None)
        return codec.encode_csv(body)


def _same(codec: FeatureCodec, a: EncodedBatch, b: EncodedBatch) -> None:
    assert a.rows == b.rows
    assert a.num.tobytes() == b.num.tobytes()  # NaN where NaN, every bit of every number
    for j in range(len(codec.cat_names)):
        assert (
            a.vocabs[j].array[a.codes[:, j]].tolist() == b.vocabs[j].array[b.codes[:, j]].tolist()
        )
    assert a.ids == b.ids
    assert [type(i) for i in a.ids or []] == [type(i) for i in b.ids or []]


def _fast(codec: FeatureCodec, body: bytes) -> EncodedBatch | None:
    return csv_input._numbers_only(codec, body, csv_input.csv_header(body))


SPELLINGS = {
    "plain": lambda v: repr(v),
    "exponent": lambda v: f"{v:e}",
    "upper exponent": lambda v: f"{v:E}",
    "17 digits": lambda v: f"{v:.17g}",
    "fixed": lambda v: f"{v:.3f}",
}


def _cell(value: Any, spelling: str, empty: bool) -> str:
    if empty or value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return SPELLINGS[spelling](float(value))


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rows=st.integers(1, 40),
    spelling=st.sampled_from(sorted(SPELLINGS)),
    crlf=st.booleans(),
    trailing=st.sampled_from(["", "\n", "\n\n"]),
    with_id=st.booleans(),
    with_target=st.booleans(),
    shuffle=st.integers(0, 1000),
    empties=st.lists(st.tuples(st.integers(0, 39), st.integers(0, 60)), max_size=30),
    big_ids=st.booleans(),
)
def test_fast_path_reads_what_the_general_reader_reads(
    codec: FeatureCodec,
    monkeypatch: pytest.MonkeyPatch,
    rows: int,
    spelling: str,
    crlf: bool,
    trailing: str,
    with_id: bool,
    with_target: bool,
    shuffle: int,
    empties: list[tuple[int, int]],
    big_ids: bool,
) -> None:
    frame = ROWS.head(rows).copy()
    if big_ids:
        frame["id"] = [2**63 + i if i % 2 else -(2**63) + i for i in range(rows)]
    columns = [
        c for c in frame.columns if (with_id or c != "id") and (with_target or c != "target")
    ]
    order = np.random.default_rng(shuffle).permutation(len(columns))
    columns = [columns[i] for i in order]
    blank = {(r, c % len(columns)) for r, c in empties if r < rows}
    lines = [",".join(columns)]
    for r, (_, record) in enumerate(frame[columns].iterrows()):
        cells = []
        for c, name in enumerate(columns):
            value = record[name]
            if name in ("id",):
                cells.append("" if (r, c) in blank else str(int(value)))
            else:
                cells.append(_cell(value, spelling, (r, c) in blank))
        lines.append(",".join(cells))
    body = (
        ("\r\n" if crlf else "\n").join(lines) + trailing.replace("\n", "\r\n" if crlf else "\n")
    ).encode()
    fast = _fast(codec, body)
    assert fast is not None, body[:300]
    _same(codec, fast, _general(codec, body, monkeypatch))
    _same(codec, codec.encode_csv(body), fast)


def _clean_body(rows: int = 3) -> str:
    return ROWS.head(rows).drop(columns=["target"]).to_csv(index=False)


def _quote_first_cell(text: str) -> str:
    header, first, rest = text.split("\n", 2)
    cell, others = first.split(",", 1)
    return f'{header}\n"{cell}",{others}\n{rest}'


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (_quote_first_cell, "a quoted cell"),
        (lambda t: t.replace("\n", "\n\n", 2), "a blank line"),
        (lambda t: t.rstrip("\n") + ",7\n", "a row wider than the header"),
        (lambda t: t.replace("\n", "\r", 2), "a lone CR"),
        (lambda t: t.replace(",0,", ",.5,", 1), "a number JSON does not read (.5)"),
        (lambda t: t.replace(",1,", ",01,", 1), "a number JSON does not read (01)"),
        (lambda t: t.replace(",0,", ", 0,", 1), "a space"),
        (lambda t: t.replace(",0,", ",NA,", 1), "text"),
        (lambda t: t.replace(",0,", ",true,", 1), "a JSON literal"),
        (lambda t: t.split("\n", 1)[0] + "\n", "no rows"),
    ],
)
def test_other_bodies_go_to_the_general_reader(
    codec: FeatureCodec, monkeypatch: pytest.MonkeyPatch, change: Any, why: str
) -> None:
    body = change(_clean_body()).encode()
    assert body != _clean_body().encode(), why
    assert _fast(codec, body) is None, why
    try:
        want: Any = _general(codec, body, monkeypatch)
    except Exception as exc:  # the general reader's refusal is the answer
        want = (type(exc), str(exc))
    try:
        got: Any = codec.encode_csv(body)
    except Exception as exc:
        got = (type(exc), str(exc))
    if isinstance(want, EncodedBatch):
        _same(codec, got, want)
    else:
        assert got == want


def test_ids_that_are_not_integers_go_to_the_general_reader(codec: FeatureCodec) -> None:
    text = _clean_body(2)
    header, first, second = text.strip().split("\n")
    body = f"{header}\n1.5{first[first.index(',') :]}\n{second}\n".encode()
    assert _fast(codec, body) is None
    assert codec.encode_csv(body).ids == ["1.5", int(second.split(",")[0])]


def test_text_categories_go_to_the_general_reader() -> None:
    """A categorical feature of text (``"007"`` is not ``7``): never read as numbers."""
    frame = pd.DataFrame(
        {"x": [1.0, 2.0, 3.0, 4.0], "c_cat": ["007", "7", "007", "x"], "y": [0, 1, 0, 1]}
    )
    codec = FeatureCodec(infer_schema(frame, target="y", id_column=None, missing_value=None))
    body = b"x,c_cat\n1,007\n2,7\n"
    assert _fast(codec, b"x,c_cat\n1,7\n2,7\n") is None
    batch = codec.encode_csv(body)
    assert batch.vocabs[0].array[batch.codes[:, 0]].tolist() == ["007", "7"]
    problems = Problems()
    assert csv_input.encode_csv(codec, b"x,c_cat\n1,7\n", problems).rows == 1
