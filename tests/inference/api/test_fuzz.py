"""A fuzz suite over the request decoders, through the real log writer into a real PostgreSQL.

Hypothesis builds hostile but plausible bodies for ``POST /predict``, ``POST /predict/batch``
(JSON in every shape the codec reads, CSV bodies and multipart uploads) and ``POST /feedback``.
Every body starts from real records of the model's schema with a few changes the API reads
(numbers as strings, null, the missing marker, booleans, any storable unicode as a category,
integers past 64 bits, repeated keys, the target column, another key or column order, padding,
line endings, quoting, a BOM on CSV, gzip). About half of them then carry one harm, so the
refusal is of that one thing (a body wrong in ten ways is refused for the first): a value no
feature takes (U+0000, a lone surrogate escape, raw surrogate bytes, NaN/Infinity literals,
1e400, objects and lists up to past orjson's depth limit, text past the cell limit), an id of
that kind, a missing or unknown feature, a positional list of the wrong length, a stray key
next to ``features``, a record that is not one, a wrapper nobody reads, a BOM on JSON, a cut
body, random bytes, a content type the route does not read; for CSV a refused cell, a missing,
unknown, repeated or empty column name, a ragged row, no rows, a NUL byte, bytes that are not
UTF-8, an upload of another type; for feedback a bad prediction id or label, a stray key, the
same id twice, a missing id. A few bodies carry many harms at once.

Before fuzzing, each test posts a fixed corpus of known-hard inputs Hypothesis need not meet
among so many: every nesting depth around orjson's limits (read 1024, written 254) as an id, a
feature value, a label and a prediction id; every CSV id spelling; rows with an empty first cell
under each line ending and mixes of them (each of these was a 5xx or a silently shifted row).

Each example is posted to one in-process app per test (the real lifespan, the prediction log on
against the harness PostgreSQL). Per request: never a 5xx; a body the README says is read is
answered 200, one it says is refused a 4xx with an error body. At the end of each test, after a
flush: every accepted prediction id is in ``prediction_log`` with its record id and the features
it was sent with (as the server parsed them: the last of repeated keys, integers past 64 bits as
floats; CSV rows as the model reads them), nothing else is there, ``prediction_log_rejected`` is
empty and the writer quarantined and dropped nothing: the API refuses what PostgreSQL cannot
store, the quarantine is only the last resort. Feedback labels land on the rows they name.

The runs are reproducible (``derandomize=True``, no example database); each test prints its
figures (examples, accepted rows, answers by status and by harm) and keeps them in
:data:`FIGURES`.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from harness.timing import DEADLINE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inference.pg import sql
from porto.schema import canonical_category
from porto_inference.ids import new_prediction_ids
from porto_inference.scoring.batch import MAX_TEXT_CHARS

pytestmark = [
    pytest.mark.integration,
    # The app's quality monitor sleeps with random jitter in the TestClient's event-loop thread,
    # which Hypothesis mistakes for a strategy using the random module.
    pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies"),
    # Bodies of 131,072-character cells are meant to be large; their repr only in a failure.
    pytest.mark.filterwarnings("ignore:Generating overly large repr"),
]

#: Figures of the last run of each test: examples, accepted rows, answers by status and harm.
FIGURES: dict[str, dict[str, Any]] = {}
#: Examples per test, sized for about 60-90 s for the whole file on a 2-core machine.
JSON_EXAMPLES = 2000
CSV_EXAMPLES = 1000
FEEDBACK_EXAMPLES = 1000
#: Largest u64 and smallest i64: orjson reads integers past them as floats.
U64_MAX = 2**64 - 1
I64_MIN = -(2**63)


def fuzz(examples: int) -> settings:
    """Reproducible settings for ``examples`` examples reusing one app (fixtures made once)."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


def chance(draw: st.DrawFn, percent: int) -> bool:
    """True about ``percent`` % of the time. Hypothesis favours the ends of an integer range
    (``integers(0, n) == 0`` comes up far more often than 1 in n), so the band sits in the
    middle of 0..99."""
    return 30 <= draw(st.integers(0, 99)) < 30 + percent


def harm_of(draw: st.DrawFn, harms: list[str], percent: int = 50) -> str | None:
    """None (a body the API reads) or the one harm this body carries; ``mix``: many."""
    if not chance(draw, percent):
        return None
    return "mix" if chance(draw, 12) else draw(st.sampled_from(harms))


def _merge(a: bool | None, b: bool | None) -> bool | None:
    """A body with a refused part is refused; with an unsure part, unsure."""
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


# --- JSON text json.dumps cannot write: repeated keys, verbatim fragments ------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text written as is: a lone surrogate escape, NaN, 1e400, deep nesting."""

    text: str


@dataclass
class Obj:
    """A JSON object as (key, value) pairs: keys may repeat (the parser keeps the last)."""

    pairs: list[tuple[str, Any]]


def semantic(value: Any) -> Any:
    """What the server's parser makes of ``value`` (integers past 64 bits become floats)."""
    if isinstance(value, Obj):
        return {k: semantic(v) for k, v in value.pairs}
    if type(value) is dict:
        return {k: semantic(v) for k, v in value.items()}
    if type(value) is list:
        return [semantic(v) for v in value]
    if type(value) is int and not I64_MIN <= value <= U64_MAX:
        return float(value)
    return value


def encode(value: Any, ascii_only: bool) -> str:
    """JSON text of ``value``; non-ASCII escaped (lone surrogates as ``\\udxxx``) or raw."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Obj):
        items = (f"{encode(k, ascii_only)}:{encode(v, ascii_only)}" for k, v in value.pairs)
        return "{" + ",".join(items) + "}"
    if type(value) is dict:
        return encode(Obj(list(value.items())), ascii_only)
    if type(value) is list:
        return "[" + ",".join(encode(v, ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


@dataclass
class Body:
    """A request body and what the suite knows about it."""

    data: bytes
    content_type: str | None
    must: bool | None
    """True: the README says it is read (200); False: refused (4xx); None: either."""
    harm: str | None = None
    rows: list[Any] | None = None
    """Per record sent: the features the log must hold (None: not checked); None if the body
    is not known to hold records (random bytes)."""
    ids: list[Any] | None = None
    """Per record sent: the record id the log must hold (text or None; ``...``: not checked)."""
    gzip: bool = False
    query: str = ""
    files: list[tuple[str, Any]] | None = None
    form: dict[str, str] | None = None


# --- values ---------------------------------------------------------------------------------------

HOSTILE_CHARS = [
    "\ufeff", "\u202e", "\u200b", "\x1b", "\x7f", "\u2028", "\u0085", "\r\n", "\r", "\t", "\\",
    '"', "💥", "e\u0301", "\U0010ffff", "\ufffd", "},{", "'", ",", "\x01", "\x1f", " ", "\u00a0",
]  # fmt: skip
#: Text PostgreSQL stores: any unicode but U+0000 and lone surrogates, up to the cell limit.
STORABLE_TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=12),
    st.lists(st.sampled_from(HOSTILE_CHARS), max_size=4).map("".join),
    st.builds(lambda c, n: c * n, st.sampled_from(["x", "é", "💥", " "]), st.integers(1, 3000)),
    st.just(MAX_TEXT_CHARS).map(lambda n: "y" * n),  # the longest text a cell may hold
)
#: Text it cannot store: U+0000 or a lone surrogate (sent escaped, or raw: not UTF-8).
UNSTORABLE_TEXT = st.one_of(
    st.builds(lambda a, b: a + "\x00" + b, st.text(max_size=3), st.text(max_size=3)),
    st.builds(
        lambda a, s: a + s,
        st.text(max_size=3),
        st.sampled_from(["\ud800", "\udfff", "\udc80", "\ud83d"]),
    ),
)
TOO_LONG = st.builds(lambda n: "z" * n, st.integers(MAX_TEXT_CHARS + 1, MAX_TEXT_CHARS + 5))


def _deep(depth: int, leaf: str, obj: bool) -> Raw:
    return Raw(('{"k":' if obj else "[") * depth + leaf + ("}" if obj else "]") * depth)


#: Deep nesting as raw text: orjson reads up to 1024 levels and writes up to 254.
DEPTHS = [40, 120, 253, 254, 255, 300, 600, 990, 1023, 1024, 1100]
LEAVES = ["1", '"\\ud800"', '"a"', "null"]
DEEP = st.builds(_deep, st.sampled_from(DEPTHS), st.sampled_from(LEAVES), st.booleans())
#: Each of them, for the corpus every run posts first (Hypothesis, drawing a few among many
#: harms, need not meet each depth where it matters).
ALL_DEEP = [_deep(n, leaf, obj) for n in DEPTHS for leaf in LEAVES for obj in (False, True)]
_LEAF = st.none() | st.integers() | st.text(max_size=3)
#: Objects and lists where a scalar belongs: shallow or deep.
NESTED = st.one_of(
    st.lists(st.recursive(_LEAF, lambda inner: st.lists(inner, max_size=3), max_leaves=4)),
    st.dictionaries(st.text(max_size=3), _LEAF, max_size=3),
    DEEP,
)
#: Number spellings JSON does not have.
RAW_NUMBERS = [
    Raw(t)
    for t in ["NaN", "Infinity", "-Infinity", "1e400", "-1e999", "1" + "0" * 400, "01", "1.",
              ".5", "+1", "0x10", "tru", "nul"]
]  # fmt: skip
RAW_GARBAGE = st.sampled_from(RAW_NUMBERS)
FINITE = st.floats(allow_nan=False, allow_infinity=False)
_PAD = st.sampled_from(["", " ", "\t", "\n ", "  "])
#: Numbers the API reads for a numeric feature (strings in Python's float() spelling).
NUMBERS_READ = st.one_of(
    st.integers(-(10**6), 10**6),
    st.integers(I64_MIN, U64_MAX),
    st.integers(U64_MAX + 1, 10**300),  # past 64 bits: read as a float
    st.integers(-(10**300), I64_MIN - 1),
    FINITE,
    st.sampled_from([-1, -1.0, None, True, False, 0.0, -0.0, 5e-324, 1e308]),
    st.builds(lambda f, a, b: a + repr(f) + b, FINITE, _PAD, _PAD),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(
        ["nan", "NaN", " -nan ", "-1", "1_000", "\u0661\u0662", "1e308", "5e-324", "1e-400"]
    ),
)
NUMBERS_REFUSED = st.sampled_from(
    ["inf", "-Infinity", "1e400", "9" * 400, "abc", "", "  ", "0x10", "1,5", "\ufeff1", "1 2"]
)
BINARY_READ = st.sampled_from([0, 1, 0.0, 1.0, True, False, "0", "1", " 1 ", None, -1, "-1"])
BINARY_REFUSED = st.sampled_from([2, 0.5, -2, "2", "yes", "true", 1e300])
CATEGORIES_READ = st.one_of(
    STORABLE_TEXT,
    st.integers(-(10**30), 10**30),
    FINITE,
    st.sampled_from([None, True, False, -1, "-1", "nan", "", " 7 ", "7.0", "1e400"]),
)
#: Values no feature takes.
REFUSED_ANYWHERE = st.one_of(UNSTORABLE_TEXT, NESTED, RAW_GARBAGE)


def good_value(kind: str | None) -> st.SearchStrategy[Any]:
    """A value the API reads for a feature of ``kind`` (any value for another key)."""
    if kind == "categorical":
        return CATEGORIES_READ
    if kind == "binary":
        return BINARY_READ
    if kind is None:
        return st.integers(0, 3)
    return NUMBERS_READ


def bad_value(kind: str | None) -> st.SearchStrategy[Any]:
    """A value the API refuses for a feature of ``kind``."""
    if kind == "categorical":
        return st.one_of(TOO_LONG, REFUSED_ANYWHERE)
    if kind == "binary":
        return st.one_of(BINARY_REFUSED, REFUSED_ANYWHERE)
    return st.one_of(NUMBERS_REFUSED, REFUSED_ANYWHERE)


#: Ids the API reads: any JSON whose text the log can keep (objects and lists are echoed).
ID_READ = st.one_of(
    st.integers(),
    st.integers(U64_MAX - 5, 10**40),
    FINITE,
    STORABLE_TEXT,
    st.sampled_from([None, True, False]),
    st.recursive(
        st.none() | st.integers(-(10**6), 10**6) | st.booleans() | STORABLE_TEXT,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(STORABLE_TEXT, inner),
        max_leaves=4,
    ),
)
ID_REFUSED = st.one_of(
    UNSTORABLE_TEXT,
    st.lists(UNSTORABLE_TEXT, min_size=1, max_size=2),
    st.dictionaries(st.just("k"), UNSTORABLE_TEXT, min_size=1),
    TOO_LONG,
    RAW_GARBAGE,
    DEEP,  # deeper than ids may nest (or than orjson reads)
)


def logged_id(value: Any) -> Any:
    """The record id as the log keeps it (text), or ``...`` where the suite does not check."""
    if value is None:
        return None
    if type(value) in (int, float, bool, str):
        return str(semantic(value))
    return ...  # objects and lists: kept as Python's str() of them, not pinned here


# --- the model's schema ---------------------------------------------------------------------------


@dataclass(repr=False)
class Schema:
    """What the strategies need of the served model's schema, and real records of it."""

    names: list[str]
    kinds: dict[str, str]
    numeric_categories: dict[str, bool]
    id_column: str
    records: list[dict[str, Any]]

    def __repr__(self) -> str:  # Hypothesis shows the strategies' arguments
        return f"Schema({len(self.names)} features, {len(self.records)} records)"

    def record(self) -> st.SearchStrategy[dict[str, Any]]:
        """One of the records (by index: a strategy's repr holds its arguments)."""
        return st.integers(0, len(self.records) - 1).map(lambda i: self.records[i])


def _schema(client: TestClient, records: list[dict[str, Any]]) -> Schema:
    answer = client.get("/schema").json()
    features = answer["features"]
    return Schema(
        names=[f["name"] for f in features],
        kinds={f["name"]: f["kind"] for f in features},
        numeric_categories={f["name"]: f["dtype"] in ("int", "float") for f in features},
        id_column=answer["id_column"],
        records=records,
    )


# --- JSON records -------------------------------------------------------------------------------


@dataclass
class Record:
    """One record as sent (a JSON value), and if it is read, its logged features and id."""

    value: Any
    must: bool | None
    features: dict[str, Any] | None
    record_id: Any = None


@st.composite
def named_pairs(
    draw: st.DrawFn, schema: Schema, harm: str | None
) -> tuple[list[tuple[str, Any]], bool | None]:
    """A real record's features as (name, value) pairs, changed as the API reads them (values,
    repeated keys, the target column, key order); ``harm`` ``value``: one value it refuses,
    ``keys``: a missing or an unknown feature, ``mix``: any of these, many times."""
    base = draw(schema.record())
    pairs = [(k, v) for k, v in base.items() if k != schema.id_column]
    must: bool | None = True
    ops = ["value"] * 6 + ["duplicate", "target", "shuffle"]
    if harm == "mix":
        ops += ["bad", "bad", "drop", "unknown"]
    broken: set[str] = set()
    for _ in range(draw(st.sampled_from([0, 1, 1, 2, 2, 3, 5]))):
        op = draw(st.sampled_from(ops))
        i = draw(st.integers(0, len(pairs) - 1)) if pairs else 0
        name = pairs[i][0] if pairs else ""
        if op == "value" and pairs and name not in broken:  # a refused value stays refused
            pairs[i] = (name, draw(good_value(schema.kinds.get(name))))
        elif op == "bad" and pairs:
            pairs[i] = (name, draw(bad_value(schema.kinds.get(name))))
            broken.add(name)
            must = False
        elif op == "duplicate" and pairs:  # an earlier copy of a key, any value: the last wins
            decoy = draw(good_value(schema.kinds.get(name)))
            pairs.insert(draw(st.integers(0, i)), (name, decoy))
        elif op == "target":  # the training target: taken out, whatever it holds
            value = draw(st.sampled_from([0, 1, None, "x", [1], {"a": 1}]))
            pairs.insert(draw(st.integers(0, len(pairs))), ("target", value))
        elif op == "shuffle":
            pairs = draw(st.permutations(pairs))
        elif op == "drop" or op == "unknown":
            pairs, _ = _break_keys(draw, schema, pairs, op)
            must = False
    if harm == "value":
        i = draw(st.integers(0, len(pairs) - 1))
        name = pairs[i][0]
        pairs = [(k, v) for k, v in pairs if k != name]  # no earlier copy to stand in for it
        pairs.insert(min(i, len(pairs)), (name, draw(bad_value(schema.kinds.get(name)))))
        must = False
    elif harm == "keys":
        pairs, must = _break_keys(draw, schema, pairs, draw(st.sampled_from(["drop", "unknown"])))
    return pairs, must


def _break_keys(
    draw: st.DrawFn, schema: Schema, pairs: list[tuple[str, Any]], op: str
) -> tuple[list[tuple[str, Any]], bool]:
    """Take a feature out, or add a key that is none."""
    if op == "drop":
        gone = draw(st.sampled_from(schema.names))
        return [p for p in pairs if p[0] != gone], False
    key = draw(st.one_of(STORABLE_TEXT, UNSTORABLE_TEXT, st.sampled_from(["features", "ID"])))
    if key in schema.kinds or key in (schema.id_column, "target"):
        key = key + "_x"
    at = draw(st.integers(0, len(pairs)))
    return [*pairs[:at], (key, draw(st.integers(0, 3))), *pairs[at:]], False


def _features(pairs: list[tuple[str, Any]], schema: Schema) -> dict[str, Any]:
    out = {k: semantic(v) for k, v in pairs}
    out.pop(schema.id_column, None)
    out.pop("target", None)
    return out


def _positional_features(schema: Schema, values: list[Any]) -> dict[str, Any] | None:
    if len(values) != len(schema.names):
        return None
    return {n: semantic(v) for n, v in zip(schema.names, values, strict=True)}


@st.composite
def record_id(draw: st.DrawFn, harm: str | None) -> tuple[Any, bool | None, bool]:
    """(id, must, whether to send one): a bad id for ``harm`` ``id``."""
    if harm == "id" or (harm == "mix" and chance(draw, 30)):
        return draw(ID_REFUSED), False, True
    return draw(ID_READ), True, draw(st.booleans())


@st.composite
def flat_record(draw: st.DrawFn, schema: Schema, harm: str | None) -> Record:
    """``{feature: value, ..., "id": ..}``."""
    pairs, must = draw(named_pairs(schema, harm if harm in ("value", "keys", "mix") else None))
    rid, ok, send = draw(record_id(harm))
    if not send:
        return Record(Obj(pairs), must, _features(pairs, schema))
    pairs.insert(draw(st.integers(0, len(pairs))), (schema.id_column, rid))
    return Record(Obj(pairs), _merge(must, ok), _features(pairs, schema), rid)


@st.composite
def positional_values(
    draw: st.DrawFn, schema: Schema, harm: str | None
) -> tuple[list[Any], bool | None]:
    """A real record's values in model order, a few changed as the API reads them; ``harm``
    ``value``: one it refuses, ``keys``: a value too many or too few, ``mix``: many."""
    base = draw(schema.record())
    values = [base[name] for name in schema.names]
    must: bool | None = True
    for _ in range(draw(st.sampled_from([0, 1, 1, 2, 4]))):
        i = draw(st.integers(0, len(values) - 1))
        bad = harm == "mix" and chance(draw, 30)
        values[i] = draw((bad_value if bad else good_value)(schema.kinds[schema.names[i]]))
        must = _merge(must, not bad)
    if harm == "value":
        i = draw(st.integers(0, len(values) - 1))
        values[i] = draw(bad_value(schema.kinds[schema.names[i]]))
        must = False
    elif harm == "keys" or (harm == "mix" and chance(draw, 30)):
        i = draw(st.integers(0, len(values) - 1))
        if draw(st.booleans()):
            del values[i]
        else:
            values.insert(i, draw(st.integers(0, 3)))
        must = False
    return values, must


@st.composite
def wrapped_record(draw: st.DrawFn, schema: Schema, harm: str | None) -> Record:
    """``{"id": .., "features": {..} | [..]}`` in either key order; ``harm`` ``wrap``: a stray
    key next to ``features``, or ``features`` that is neither an object nor a list."""
    inner_harm = harm if harm in ("value", "keys", "mix") else None
    inner: Any
    if draw(st.booleans()):
        values, must = draw(positional_values(schema, inner_harm))
        inner, features = values, _positional_features(schema, values)
    else:
        pairs, must = draw(named_pairs(schema, inner_harm))
        inner, features = Obj(pairs), _features(pairs, schema)
    outer: list[tuple[str, Any]] = [("features", inner)]
    rid, ok, send = draw(record_id(harm))
    if send:
        outer.insert(draw(st.integers(0, 1)), ("id", rid))
        must = _merge(must, ok)
    else:
        rid = None
    if harm == "wrap" or (harm == "mix" and chance(draw, 20)):
        if draw(st.booleans()):
            outer.append((draw(st.sampled_from(["extra", "records", "ID", "feature"])), 1))
        else:
            j = next(k for k, (key, _) in enumerate(outer) if key == "features")
            outer[j] = ("features", draw(st.sampled_from([None, 3, "abc", True, 1.5])))
            features = None
        must = False
    return Record(Obj(outer), must, features, rid)


@st.composite
def bare_positional(draw: st.DrawFn, schema: Schema, harm: str | None) -> Record:
    """``[value, ...]`` (a batch item)."""
    values, must = draw(
        positional_values(schema, harm if harm in ("value", "keys", "mix") else None)
    )
    return Record(values, must, _positional_features(schema, values))


GARBAGE_RECORD = st.one_of(
    st.sampled_from([None, 0, "x", True, 1.5, [], {}]), NESTED, RAW_GARBAGE
).map(lambda v: Record(v, False, None))


# --- JSON bodies ----------------------------------------------------------------------------------


def _transport(
    draw: st.DrawFn, value: Any, must: bool | None, harm: str | None
) -> tuple[bytes, str | None, bool, bool | None, bool]:
    """Serialise ``value`` (non-ASCII escaped, or raw: a lone surrogate is then not UTF-8) with
    a JSON content type, maybe gzip and whitespace; ``harm`` ``transport``: a BOM, a cut, random
    bytes or a content type the route does not read. Returns (body, content type, gzip, must,
    whether the body still holds ``value``)."""
    ascii_only = draw(st.booleans())
    data = encode(value, ascii_only).encode("utf-8", "surrogatepass")
    intact = True
    if chance(draw, 20):
        data = draw(st.sampled_from([b" ", b"\n", b"\r\n\t"])) + data + b"\n"
    types: list[str | None] = ["application/json", "application/json; charset=utf-8", None]
    content_type = draw(st.sampled_from([*types, "APPLICATION/JSON"]))
    if harm == "transport" or (harm == "mix" and chance(draw, 30)):
        what = draw(st.sampled_from(["bom", "cut", "bytes", "type"]))
        if what == "bom":
            data, must = b"\xef\xbb\xbf" + data, False
        elif what == "cut":
            data, must = data[: draw(st.integers(0, len(data) - 1))], False
        elif what == "bytes":
            data, must, intact = draw(st.binary(max_size=40)), None, False
        else:  # 415, or for a batch read as CSV, whose header names no feature
            content_type = draw(st.sampled_from(["text/plain", "application/xml", "x/y"]))
            must = False
    return data, content_type, chance(draw, 10), must, intact


@st.composite
def predict_body(draw: st.DrawFn, schema: Schema) -> Body:
    """A body for POST /predict: one record in any shape; ``shape`` harm: a list, a
    ``records`` wrapper or something that is no record."""
    harm = harm_of(draw, ["value", "value", "id", "id", "keys", "wrap", "shape", "transport"])
    shape = draw(st.sampled_from(["flat"] * 5 + ["wrapped"] * 3))
    if harm == "wrap":
        shape = "wrapped"
    record = draw(flat_record(schema, harm) if shape == "flat" else wrapped_record(schema, harm))
    if harm == "shape":
        what = draw(st.sampled_from(["list", "records", "garbage"]))
        if what == "list":
            record = Record([record.value], False, None)
        elif what == "records":
            record = Record({"records": [record.value]}, False, None)
        else:
            record = draw(GARBAGE_RECORD)
    data, content_type, zipped, must, intact = _transport(draw, record.value, record.must, harm)
    return Body(
        data,
        content_type,
        must,
        harm,
        rows=[record.features] if intact else None,
        ids=[logged_id(record.record_id)] if intact else None,
        gzip=zipped,
    )


@st.composite
def batch_body(draw: st.DrawFn, schema: Schema) -> Body:
    """A body for POST /predict/batch: a JSON list of records of mixed shapes (or wrapped as
    ``{"records": [...]}``); a record-level harm lands on one record; ``shape``: an item that
    is no record or a wrapper nobody reads; ``version``: a model version that is none."""
    harm = harm_of(
        draw, ["value", "value", "id", "id", "keys", "wrap", "shape", "transport", "version"]
    )
    n = draw(st.sampled_from([1, 2, 3, 5, 8, 20]))
    target = draw(st.integers(0, n - 1))
    records: list[Record] = []
    for i in range(n):
        own = harm if i == target or (harm == "mix" and chance(draw, 50)) else None
        shape = draw(st.sampled_from(["flat"] * 5 + ["wrapped"] * 3 + ["positional"] * 2))
        if own == "wrap" or (own == "id" and shape == "positional"):
            shape = "wrapped"
        if shape == "flat":
            records.append(draw(flat_record(schema, own)))
        elif shape == "wrapped":
            records.append(draw(wrapped_record(schema, own)))
        else:
            records.append(draw(bare_positional(schema, own)))
    wrapper = draw(st.sampled_from(["list", "list", "list", "records"]))
    if harm == "shape" or (harm == "mix" and chance(draw, 20)):
        what = draw(st.sampled_from(["item", "item", "instances", "records+", "empty"]))
        if what == "item":
            records[target] = draw(GARBAGE_RECORD)
        else:
            wrapper = what
    must: bool | None = True
    for r in records:
        must = _merge(must, r.must)
    items = [r.value for r in records]
    value: Any = {"records": items} if wrapper == "records" else items
    if wrapper == "instances":
        value, must = {"instances": items}, False
    elif wrapper == "records+":
        value, must = {"records": items, "model": "x"}, False
    elif wrapper == "empty":
        value, must = draw(st.sampled_from([[], {"records": []}])), False
    data, content_type, zipped, must, intact = _transport(draw, value, must, harm)
    query = ""
    if harm == "version":
        version = draw(st.sampled_from(["nope", "%00", "x" * 129, "..%2F..", "%ff", "v 1"]))
        query, must = f"?model_version={version}", False
    elif chance(draw, 5):
        query = "?model_version=" + draw(st.sampled_from(["champion", "latest", ""]))
    return Body(
        data,
        content_type,
        must,
        harm,
        rows=[r.features for r in records] if intact else None,
        ids=[logged_id(r.record_id) for r in records] if intact else None,
        gzip=zipped,
        query=query,
    )


# --- CSV ----------------------------------------------------------------------------------------

#: Numeric CSV cells: (text, value logged, must be read?); None is missing (logged as null).
#: ``true``/``FALSE`` are read only in a column of nothing but booleans (pandas' reading).
CSV_NUMBERS: list[tuple[str, float | None, bool | None]] = [
    ("", None, True), ("-1", None, True), ("-1.0", None, True), ("0", 0.0, True),
    ("1e5", 1e5, True), ("-0", -0.0, True), (".5", 0.5, True), ("5.", 5.0, True),
    ("+3", 3.0, True), ("1e308", 1e308, True), ('""', None, True), ("1E-5", 1e-5, True),
    ("true", 1.0, None), ("FALSE", 0.0, None), (" 2 ", 2.0, None),
    ("nan", None, False), ("inf", None, False), ("1e309", None, False), ("abc", None, False),
    ("9" * 400, None, False), ("0x1", None, False), ("1_0", None, False), ("--1", None, False),
]  # fmt: skip
CSV_BINARY: list[tuple[str, float | None, bool | None]] = [
    ("0", 0.0, True), ("1", 1.0, True), ("", None, True), ("-1", None, True),
    ("1.0", 1.0, True), ("true", 1.0, None), ("2", None, False), ("0.5", None, False),
]  # fmt: skip
#: Id cells: integers (within 64 bits, ASCII digits) are read as integers, anything else as text.
CSV_IDS = [
    "7", "-5", "007", "\u00b2", "--5", "\u0663", "9" * 19, "9" * 25, "-" + "9" * 30, "9" * 5000,
    "18446744073709551615", "18446744073709551616", "-9223372036854775809", "row-1", "", " 12 ",
    "é💥", "a,b", 'q"q', "x\ny", "1e3", "0x10",
]  # fmt: skip


def _quote(cell: str, always: bool) -> str:
    if always or any(c in cell for c in ',"\r\n') or cell != cell.strip():
        return '"' + cell.replace('"', '""') + '"'
    return cell


def csv_category(text: str | None, numeric: bool) -> str:
    """The category a CSV cell becomes (see vocabulary.py): stripped; empty, or ``nan`` for a
    numeric category, is the missing marker's category; numbers in their canonical spelling."""
    stripped = "" if text is None else text.strip()
    if not stripped:
        return "-1"
    if numeric:
        try:
            number = float(stripped)
        except ValueError:
            return stripped
        return "-1" if math.isnan(number) else canonical_category(number)
    return stripped


def csv_id(text: str) -> str | None:
    """A CSV id as logged: the integer when it is one JSON can carry, else the text."""
    stripped = text.strip()
    if re.fullmatch("-?[0-9]{1,20}", stripped) and I64_MIN <= int(stripped) <= U64_MAX:
        return str(int(stripped))
    return stripped if text else None


@st.composite
def csv_cell(
    draw: st.DrawFn, schema: Schema, column: str, text: str, how: str
) -> tuple[str, Any, bool | None]:
    """(cell text, value logged, must be read?) for a feature's cell (``'""'``: an empty
    quoted cell, written as is). ``how``: ``keep`` the record's value, ``good``: one the API
    reads, ``bad``: one it refuses or reads only sometimes."""
    kind = schema.kinds[column]
    if kind == "categorical":
        ok = True
        if how == "good":
            text = draw(st.one_of(STORABLE_TEXT, st.sampled_from(["NA", "nan", " 3.0 ", "1e4"])))
        elif how == "bad":
            text, ok = draw(TOO_LONG), False
        return text, csv_category(text, schema.numeric_categories[column]), ok
    if how == "keep":
        number = float(text)
        return text, None if number == -1 else number, True
    table = CSV_BINARY if kind == "binary" else CSV_NUMBERS
    wanted = (True,) if how == "good" else (False, None)
    text, value, read = draw(st.sampled_from([e for e in table if e[2] in wanted]))
    return text, value, read


@st.composite
def csv_table(draw: st.DrawFn, schema: Schema) -> Body:
    """A CSV body: real records under a header in any column order (padded names, with the id
    and target columns or not), any quoting, line endings and BOM, cells the API reads; ``harm``
    ``cell``: one it refuses (or reads only sometimes), ``header``: a column missing, unknown,
    repeated or unnamed, ``ragged``: a row short or long, ``rows``: no rows, ``damage``: a NUL
    byte, bytes that are not UTF-8, or random bytes."""
    harm = harm_of(draw, ["cell", "cell", "header", "ragged", "rows", "damage"])
    mixed = harm == "mix"
    columns = list(schema.names)
    with_id = draw(st.booleans())
    if with_id:
        columns.append(schema.id_column)
    if chance(draw, 25):
        columns.append("target")
    columns = draw(st.permutations(columns))
    pad = st.sampled_from(["", "", "", " ", "  "])
    header = [draw(pad) + c + draw(pad) for c in columns]  # names are read stripped
    must: bool | None = True
    if harm == "header" or (mixed and chance(draw, 30)):
        what = draw(st.sampled_from(["drop", "unknown", "repeat", "unnamed"]))
        if what == "drop":
            gone = draw(st.sampled_from(schema.names))
            keep = [i for i, c in enumerate(columns) if c != gone]
            columns, header = [columns[i] for i in keep], [header[i] for i in keep]
        else:
            at = draw(st.integers(0, len(columns)))
            name = {
                "unknown": draw(st.sampled_from(["zz", "ps_ind_01 x", "ID", "é", "\x00"])),
                "repeat": header[0].strip(),
                "unnamed": "",
            }[what]
            columns.insert(at, f"?{what}")
            header.insert(at, name)
        must = False
    n = draw(st.sampled_from([1, 1, 2, 3, 5, 12]))
    if harm == "rows":
        n = 0
        must = False
    always = chance(draw, 20)
    lines = [",".join(_quote(h, always) for h in header)]
    rows: list[dict[str, Any]] = []
    categories: list[dict[str, str]] = []  # the category cells' text per row
    ids: list[Any] = []
    bad_row = draw(st.integers(0, max(n - 1, 0)))
    for row in range(n):
        base = draw(schema.record())
        changed = set(draw(st.lists(st.sampled_from(columns), max_size=3)))
        harmed = draw(st.sampled_from(schema.names)) if harm == "cell" and row == bad_row else ""
        cells: list[str] = []
        logged: dict[str, Any] = {}
        texts: dict[str, str] = {}
        row_id: Any = None
        for column in columns:
            value = base.get(column, 0)
            text = repr(value) if type(value) is float else str(value)
            if column == schema.id_column:
                text = draw(st.sampled_from(CSV_IDS)) if column in changed else text
                row_id = csv_id(text)
                cells.append(_quote(text, always))
            elif column in schema.kinds:
                how = "keep"
                if column == harmed or (mixed and column in changed and chance(draw, 30)):
                    how = "bad"
                elif column in changed:
                    how = "good"
                cell, logged[column], ok = draw(csv_cell(schema, column, text, how))
                cells.append(cell if cell == '""' else _quote(cell, always))
                if schema.kinds[column] == "categorical":
                    texts[column] = cell
                must = _merge(must, ok)
            else:  # the target, or a column the request fails for anyway
                cells.append(draw(st.sampled_from(["0", "1", "", "x"])))
        if (harm == "ragged" and row == bad_row) or (mixed and chance(draw, 10)):
            if draw(st.booleans()):
                cells.pop()
            else:
                cells.append("1")
            must = False
        rows.append(logged)
        categories.append(texts)
        ids.append(row_id if with_id else None)
        lines.append(",".join(cells))
    endings = draw(st.sampled_from(["\n", "\r\n", "\r", "mixed"]))
    text = ""
    for i, line in enumerate(lines):
        end = draw(st.sampled_from(["\n", "\r\n", "\r"])) if endings == "mixed" else endings
        if i and chance(draw, 5):
            text += end  # a blank line between rows
        text += line + (end if i < len(lines) - 1 or draw(st.booleans()) else "")
    data = text.encode()
    if chance(draw, 15):
        data = b"\xef\xbb\xbf" + data
    exact = True
    if harm == "rows" and draw(st.booleans()):
        data = draw(st.sampled_from([b"", b"\n", b"\r\n", b"\xef\xbb\xbf", b",", b'""']))
    if harm == "damage" or (mixed and chance(draw, 20)):
        what = draw(st.sampled_from(["nul", "nul", "utf8", "utf8", "bytes"]))
        at = draw(st.integers(0, len(data)))
        if what == "nul":
            data, must = data[:at] + b"\x00" + data[at:], False
        elif what == "utf8":  # usually not UTF-8 any more, rarely (next to a lead byte) still
            bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80", b"\xe9"]))
            data, must, exact = data[:at] + bad + data[at:], None, False
        else:
            data, must, exact = draw(st.binary(max_size=60)), None, False
    if not exact:
        return Body(data, "text/csv", must, harm)
    if re.search(b"\r(?!\n)", data):  # line breaks in quoted cells are read as LF then
        for logged, texts in zip(rows, categories, strict=True):
            for column, cell in texts.items():
                lf = cell.replace("\r\n", "\n").replace("\r", "\n")
                logged[column] = csv_category(lf, schema.numeric_categories[column])
    return Body(data, "text/csv", must, harm, rows=[CsvRow(r) for r in rows], ids=ids)


@st.composite
def csv_request(draw: st.DrawFn, schema: Schema) -> Body:
    """A CSV body sent as text/csv (or another CSV type, maybe gzip) or as a multipart upload;
    an ``upload`` harm: a file of another type, no file, or two."""
    body = draw(csv_table(schema))
    if draw(st.sampled_from(["body", "body", "upload"])) == "body":
        kinds = ["text/csv", "text/csv; charset=utf-8", "application/csv", "text/plain"]
        body.content_type = draw(st.sampled_from(kinds))
        body.gzip = chance(draw, 10)
        return body
    body.content_type = None
    read = [
        ("rows.csv", "text/csv"),
        ("ROWS.CSV", "application/octet-stream"),
        ("data", "text/csv"),
        ("data", "application/csv"),
    ]
    name, kind = draw(st.sampled_from(read))
    body.files = [("file", (name, body.data, kind))]
    if chance(draw, 20):
        body.form = {"note": draw(st.sampled_from(["x", "é", ""]))}
    if body.harm is None and chance(draw, 15):
        body.harm = "upload"
        body.must = False
        body.rows = body.ids = None
        what = draw(st.sampled_from(["type", "type", "no file", "broken", "two"]))
        if what == "type":  # 415, or read as JSON
            other = [
                ("rows.txt", "application/octet-stream"),
                ("rows.json", "text/csv"),
                ("rows.csv", "application/json"),
            ]
            name, kind = draw(st.sampled_from(other))
            body.files = [("file", (name, body.data, kind))]
        elif what == "two":
            body.files = [*body.files, ("other", ("b.csv", body.data, "text/csv"))]
        else:  # a form with no file, or a body that does not match its boundary
            body.files, body.form = None, None
            body.content_type = "multipart/form-data; boundary=b0undary"
            field_text = b'--b0undary\r\nContent-Disposition: form-data; name="note"\r\n\r\nx'
            if what == "no file":
                body.data = field_text + b"\r\n--b0undary--\r\n"
            else:
                body.data = draw(st.sampled_from([field_text, b"--other\r\n" + body.data, b""]))
    return body


# --- feedback -----------------------------------------------------------------------------------

LABELS_READ = [
    (0, 0), (1, 1), (True, 1), (False, 0), (1.0, 1), ("1", 1), ("true", 1), (" 0 ", 0),
]  # fmt: skip
LABELS_REFUSED = st.one_of(
    st.sampled_from([2, -1, None, "yes", "", [1], 0.5, {"v": 1}]),
    NESTED,
    DEEP,
    DEEP,
    UNSTORABLE_TEXT,
)
PIDS_REFUSED: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from([None, 0, "", [], True]), UNSTORABLE_TEXT, NESTED
)


def _id_key(pid: str) -> str:
    """What makes two prediction ids one: the UUID they spell, if they spell one."""
    try:
        return str(uuid.UUID(pid))
    except ValueError:
        return pid


@st.composite
def feedback_body(draw: st.DrawFn, known: list[str]) -> tuple[Body, dict[str, int | None]]:
    """A /feedback body: items with ids answered earlier (in any spelling of their UUID), young
    UUIDv7s nobody was answered (parked) and text that is no id (unknown), labels the API reads;
    ``harm`` ``pid``/``label``: one it refuses, ``extra``: a stray key, ``twice``: one id twice,
    ``missing``: no id, ``shape``: a wrapper nobody reads, an empty list or a scalar. Also the
    label each known id must then carry."""
    harm = harm_of(draw, ["pid", "label", "extra", "twice", "missing", "shape", "transport"])
    n = draw(st.sampled_from([1, 1, 2, 3, 6]))
    target = draw(st.integers(0, n - 1))
    items: list[list[tuple[str, Any]]] = []
    labels: dict[str, int | None] = {}
    must: bool | None = True
    seen: set[str] = set()
    for i in range(n):
        if harm == "mix":
            mixed = chance(draw, 40)
            own = draw(st.sampled_from(["pid", "label", "extra", "missing"])) if mixed else None
        else:
            own = harm if i == target else None
        source = draw(st.sampled_from(["known"] * 5 + ["text", "young"]))
        pid: Any
        if own == "pid":
            pid, must = draw(PIDS_REFUSED), False
        elif source == "known" and len(seen) < len(known):  # each id once: twice is a harm
            base = draw(st.sampled_from([k for k in known if k not in seen]))
            u = uuid.UUID(base)
            pid = draw(st.sampled_from([base, base.upper(), "{" + base + "}", u.hex, u.urn]))
        elif source == "young":
            pid = new_prediction_ids(1)[0]
        else:
            pid = draw(STORABLE_TEXT.filter(bool))
        if own == "label":
            label, cls, must = draw(LABELS_REFUSED), None, False
        else:
            label, cls = draw(st.sampled_from(LABELS_READ))
        item: list[tuple[str, Any]] = [("label", label)]
        if own == "missing":
            must = False
        else:
            item.insert(draw(st.integers(0, 1)), ("prediction_id", pid))
        if own == "extra":
            item.append((draw(st.sampled_from(["extra", "id", "labels", "Label"])), 1))
            must = False
        if own != "missing" and type(pid) is str:
            key = _id_key(pid)
            if key in seen:
                must = False  # the same id twice in one request, in whatever spelling
            seen.add(key)
            if key in known:
                labels[key] = cls
        items.append(item)
    if harm == "twice":  # the same item again, later
        items.insert(draw(st.integers(target + 1, len(items))), list(items[target]))
        must = False
    shapes = ["list", "list", "wrapped"] + (["one"] if len(items) == 1 else [])
    shape = draw(st.sampled_from(shapes))
    if harm == "shape" or (harm == "mix" and chance(draw, 20)):
        shape = draw(st.sampled_from(["wrapped+", "empty", "scalar"]))
        must = False
    objects = [Obj(item) for item in items]
    value: Any = objects
    if shape == "one":
        value = objects[0]
    elif shape == "wrapped":
        value = {"feedback": objects}
    elif shape == "wrapped+":
        value = {"feedback": objects, "x": 1}
    elif shape == "empty":
        value = draw(st.sampled_from([[], {"feedback": []}]))
    elif shape == "scalar":
        value = draw(st.sampled_from([None, 1, "x", True]))
    data, content_type, zipped, must, intact = _transport(draw, value, must, harm)
    body = Body(data, content_type, must, harm, gzip=zipped)
    return body, labels if intact else {}


# --- the corpus: known-hard inputs each test posts before fuzzing ------------------------------


def json_corpus(schema: Schema) -> list[tuple[str, Body]]:
    """Each deep value and number spelling JSON lacks as an id (flat and wrapped, single and in
    a batch) and as a categorical and a numeric feature's value: all refused."""
    record = {k: v for k, v in schema.records[0].items() if k != schema.id_column}
    category = next(n for n in schema.names if schema.kinds[n] == "categorical")
    number = next(n for n in schema.names if schema.kinds[n] == "numeric")

    def refused(value: Any) -> Body:
        return Body(encode(value, True).encode(), "application/json", False, "corpus")

    bodies: list[tuple[str, Body]] = []
    for raw in [*ALL_DEEP, *RAW_NUMBERS]:
        with_id = {**record, schema.id_column: raw}
        bodies += [
            ("/predict", refused(with_id)),
            ("/predict", refused({"id": raw, "features": record})),
            ("/predict/batch", refused([record, with_id])),
            ("/predict/batch", refused({"records": [{"features": record, "id": raw}]})),
            ("/predict", refused({**record, category: raw})),
            ("/predict/batch", refused([record, {**record, number: raw}])),
        ]
    return bodies


def _csv_body(schema: Schema, columns: list[str], rows: list[dict[str, str]], ends: str) -> Body:
    """A CSV body the API reads: ``rows`` (cells by column) under ``columns``, the lines ended
    by the characters of ``ends`` in turn (``n``: LF, ``r``: CR, ``c``: CRLF)."""
    breaks = {"n": "\n", "r": "\r", "c": "\r\n"}
    lines = [",".join(columns)] + [",".join(_quote(r[c], False) for c in columns) for r in rows]
    text = "".join(line + breaks[ends[i % len(ends)]] for i, line in enumerate(lines))
    logged: list[dict[str, Any]] = []
    for row in rows:
        features: dict[str, Any] = {}
        for name in schema.names:
            cell = row[name]
            if schema.kinds[name] == "categorical":
                features[name] = csv_category(cell, schema.numeric_categories[name])
            else:
                number = float(cell) if cell.strip() else None
                features[name] = None if number is None or number == -1 else number
        logged.append(features)
    ids = [csv_id(r[schema.id_column]) if schema.id_column in columns else None for r in rows]
    return Body(
        text.encode(), "text/csv", True, "corpus", rows=[CsvRow(r) for r in logged], ids=ids
    )


def csv_corpus(schema: Schema) -> list[Body]:
    """Each id spelling; rows whose first cell is empty (a number, then a category) under every
    line ending and mixes of them: all read, every cell in its column. Uploads of each type,
    two files, none, a body that does not match its boundary."""
    columns = [*schema.names, schema.id_column]
    base = {c: str(v) for c, v in schema.records[0].items()}
    bodies = [_csv_body(schema, columns, [{**base, schema.id_column: t}], "n") for t in CSV_IDS]
    category = next(n for n in schema.names if schema.kinds[n] == "categorical")
    for first in (schema.names[0], category):
        order = [first, *(c for c in columns if c != first)]
        rows = [{**base, first: ""}, {**base, first: ""}, base]
        for ends in ("n", "c", "r", "rnc", "nrr", "crn", "rrc", "ncr"):
            bodies.append(_csv_body(schema, order, rows, ends))
    good = bodies[-1]
    for name, kind, must in [
        ("rows.csv", "text/csv", True),
        ("DATA", "application/csv", True),
        ("rows.txt", "application/octet-stream", False),  # 415
        ("rows.json", "text/csv", False),  # read as JSON
        ("rows.csv", "application/json", False),
    ]:
        upload = [("file", (name, good.data, kind))]
        rows_read = good.rows if must else None
        bodies.append(Body(good.data, None, must, "corpus", rows_read, good.ids, files=upload))
    two = [("file", ("a.csv", good.data, "text/csv")), ("b", ("b.csv", good.data, "text/csv"))]
    bodies.append(Body(good.data, None, False, "corpus", files=two))
    multipart = "multipart/form-data; boundary=b0undary"
    field_only = b'--b0undary\r\nContent-Disposition: form-data; name="note"\r\n\r\nx\r\n'
    for data in (field_only + b"--b0undary--\r\n", field_only, b"--other\r\n" + good.data):
        bodies.append(Body(data, multipart, False, "corpus"))
    return bodies


def feedback_corpus(known: list[str]) -> list[Body]:
    """Each deep value and number spelling JSON lacks as a label and as a prediction id."""
    bodies = []
    for raw in [*ALL_DEEP, *RAW_NUMBERS]:
        for item in ({"prediction_id": known[0], "label": raw}, {"prediction_id": raw, "label": 1}):
            data = encode([item], True).encode()
            bodies.append(Body(data, "application/json", False, "corpus"))
    return bodies


# --- running and checking ------------------------------------------------------------------------


@dataclass
class Run:
    """What one test posted and what came back."""

    name: str
    client: TestClient
    examples: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    by_harm: dict[str, Counter[int]] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)
    """Accepted prediction id → its logged features (None: not checked)."""
    record_ids: dict[str, Any] = field(default_factory=dict)
    began: float = field(default_factory=time.perf_counter)

    def post(self, path: str, body: Body) -> Any:
        self.examples += 1
        headers: dict[str, str] = {}
        data = body.data
        if body.content_type is not None:
            headers["content-type"] = body.content_type
        if body.gzip:
            headers["content-encoding"] = "gzip"
            data = gzip.compress(data)
        url = path + body.query
        if body.files is not None:
            r = self.client.post(url, files=body.files, data=body.form)
        else:
            r = self.client.post(url, content=data, headers=headers)
        self.statuses[r.status_code] += 1
        self.by_harm.setdefault(body.harm or "none", Counter())[r.status_code] += 1
        shown = (
            f"{body.harm} {body.query} {body.content_type} "
            + repr(body.data[:400] if body.files is None else body.files)[:1200]
        )
        assert r.status_code < 500, f"{r.status_code} {r.text[:500]} for {shown}"
        if body.must is True:
            assert r.status_code == 200, f"{r.text[:500]} for {shown}"
        elif body.must is False:
            assert 400 <= r.status_code < 500, f"{r.status_code} {r.text[:300]} for {shown}"
        if r.status_code == 200:
            self.accept(path, r.json(), body)
        else:
            error = r.json()["error"]
            assert error["type"] and error["message"], r.text
        return r

    def accept(self, path: str, answer: dict[str, Any], body: Body) -> None:
        if path == "/predict":
            predictions = [{"row": 0, **answer}]
        elif path == "/predict/batch":
            predictions = answer["predictions"]
            assert answer["count"] == len(predictions)
        else:
            return
        rows, ids = body.rows, body.ids
        if rows is None or ids is None:
            rows, ids = [None] * len(predictions), [...] * len(predictions)
        assert len(rows) == len(ids) == len(predictions), f"{len(rows)} rows sent: {answer}"
        for i, p in enumerate(predictions):
            pid = p["prediction_id"]
            assert p["row"] == i and 0.0 <= p["probability"] <= 1.0, p
            assert pid not in self.expected
            self.expected[pid] = rows[i]
            self.record_ids[pid] = ids[i]

    def finish(self, pg_url: str) -> dict[str, Any]:
        """Flush the log, check every accepted row is in it as sent; the figures."""
        service = self.client.app.state.service  # type: ignore[attr-defined]
        log = service.prediction_log
        flushed = self.client.portal.call(log.flush, DEADLINE)  # type: ignore[union-attr]
        assert flushed, log.status()
        query = (
            "SELECT prediction_id::text AS pid, record_id, features FROM prediction_log_features"
        )
        logged = {r["pid"]: r for r in sql(pg_url, query)}
        missing = [pid for pid in self.expected if pid not in logged]
        assert not missing, f"{len(missing)} accepted rows not logged, e.g. {missing[:3]}"
        assert len(logged) == len(self.expected), "rows logged that were never answered 200"
        rejected = sql(pg_url, "SELECT prediction_id, error, record FROM prediction_log_rejected")
        assert rejected == [], rejected[:3]
        status = log.status()
        assert status["quarantined_rows"] == 0, status
        assert status["dropped_rows"] == 0, status
        checked = 0
        for pid, features in self.expected.items():
            if features is not None:
                got = orjson.loads(logged[pid]["features"])
                assert same(got, features), f"{pid}: logged {got}, sent {features}"
                checked += 1
            record_id = self.record_ids.get(pid, ...)
            if record_id is not ...:
                assert logged[pid]["record_id"] == record_id, pid
        figures = {
            "examples": self.examples,
            "accepted_rows": len(self.expected),
            "features_checked": checked,
            "answers": dict(sorted(self.statuses.items())),
            "by_harm": {h: dict(sorted(c.items())) for h, c in sorted(self.by_harm.items())},
            "seconds": round(time.perf_counter() - self.began, 1),
        }
        FIGURES[self.name] = figures
        print(f"\nfuzz {self.name}: {figures}")
        return figures


class CsvRow(dict[str, Any]):
    """A CSV row's features as the model reads them: categories as their category (text),
    numbers as floats, None for missing. The log holds a body of numbers' cells as sent and
    other bodies' as parsed: either must denote these."""


def _csv_read(logged: Any, sent: Any) -> bool:
    """Whether a logged CSV value denotes ``sent`` (see :class:`CsvRow`)."""
    if type(sent) is str:  # a category; a number logged as sent is its canonical spelling
        if logged is None:
            return sent == "-1"
        if type(logged) in (int, float):
            return sent == ("-1" if logged == -1 else canonical_category(logged))
        return type(logged) is str and logged == sent
    if logged is None or (type(logged) in (int, float) and logged == -1):
        return sent is None
    return sent is not None and type(logged) in (int, float) and float(logged) == sent


def same(logged: Any, sent: Any) -> bool:
    """Whether the features read back from jsonb are the ones sent. jsonb keeps numbers as
    decimals and prints them without an exponent, so a float may come back as an integer (of
    the same value as a float); everything else must match exactly."""
    if type(sent) is float:
        return type(logged) in (int, float) and float(logged) == sent
    if type(sent) is CsvRow:
        return (
            type(logged) is dict
            and logged.keys() == sent.keys()
            and all(_csv_read(logged[k], v) for k, v in sent.items())
        )
    if type(sent) is dict:
        return (
            type(logged) is dict
            and logged.keys() == sent.keys()
            and all(same(logged[k], v) for k, v in sent.items())
        )
    if type(sent) is list:
        return (
            type(logged) is list
            and len(logged) == len(sent)
            and all(same(a, b) for a, b in zip(logged, sent, strict=True))
        )
    return type(logged) is type(sent) and bool(logged == sent)


def _client(make_client: Callable[..., TestClient], pg_url: str) -> TestClient:
    client = make_client(prediction_log=True, database_url=pg_url)
    assert client.get("/ready").json()["database"]["state"] == "up"
    return client


def _some_of_each(run: Run, examples: int) -> None:
    """The suite tested something: many rows reached the log, many bodies were refused."""
    refused = sum(n for status, n in run.statuses.items() if status >= 400)
    assert run.statuses[200] > examples // 3, run.statuses
    assert refused > examples // 4, run.statuses


def test_fuzz_json_predict_and_batch(
    pg_url: str, make_client: Callable[..., TestClient], records: list[dict[str, Any]]
) -> None:
    client = _client(make_client, pg_url)
    schema = _schema(client, records)
    run = Run("json", client)
    for path, body in json_corpus(schema):
        run.post(path, body)
    requests = st.one_of(
        predict_body(schema).map(lambda b: ("/predict", b)),
        batch_body(schema).map(lambda b: ("/predict/batch", b)),
    )

    @fuzz(JSON_EXAMPLES)
    @given(request=requests)
    def example(request: tuple[str, Body]) -> None:
        run.post(*request)

    example()
    run.finish(pg_url)
    _some_of_each(run, JSON_EXAMPLES)


def test_fuzz_csv_bodies_and_uploads(
    pg_url: str, make_client: Callable[..., TestClient], records: list[dict[str, Any]]
) -> None:
    client = _client(make_client, pg_url)
    schema = _schema(client, records)
    run = Run("csv", client)
    for body in csv_corpus(schema):
        run.post("/predict/batch", body)

    @fuzz(CSV_EXAMPLES)
    @given(body=csv_request(schema))
    def example(body: Body) -> None:
        run.post("/predict/batch", body)

    example()
    run.finish(pg_url)
    _some_of_each(run, CSV_EXAMPLES)


def test_fuzz_feedback(
    pg_url: str, make_client: Callable[..., TestClient], records: list[dict[str, Any]]
) -> None:
    client = _client(make_client, pg_url)
    run = Run("feedback", client)
    answer = client.post("/predict/batch", json=records[:40])
    assert answer.status_code == 200, answer.text
    known = [p["prediction_id"] for p in answer.json()["predictions"]]
    sent = [{k: v for k, v in r.items() if k != "id"} for r in records[:40]]
    ids = [str(r["id"]) for r in records[:40]]
    run.accept("/predict/batch", answer.json(), Body(b"", None, True, rows=sent, ids=ids))
    want: dict[str, int | None] = {}
    for body in feedback_corpus(known):
        run.post("/feedback", body)

    @fuzz(FEEDBACK_EXAMPLES)
    @given(drawn=feedback_body(known))
    def example(drawn: tuple[Body, dict[str, int | None]]) -> None:
        body, labels = drawn
        r = run.post("/feedback", body)
        if r.status_code == 200:
            result = r.json()
            assert result["applied"] == len(labels), (result, labels)
            want.update(labels)

    example()
    run.finish(pg_url)
    _some_of_each(run, FEEDBACK_EXAMPLES)
    rows = sql(pg_url, "SELECT prediction_id::text AS pid, label FROM prediction_log")
    got = {r["pid"]: r["label"] for r in rows}
    assert want, "no label was applied"
    for pid, label in want.items():
        assert got[pid] == label, pid
