"""Prediction ids: valid, time-ordered UUIDv7s, never repeated across forked workers."""

from __future__ import annotations

import os
import time
import uuid

import orjson
import pytest
from porto_inference.ids import (
    MANY_IDS,
    PredictionIds,
    id_timestamp,
    is_uuid,
    new_prediction_ids,
)


def test_ids_are_uuid7_with_the_current_time() -> None:
    ids = new_prediction_ids(1000)
    assert len(set(ids)) == 1000
    parsed = [uuid.UUID(i) for i in ids]
    assert {p.version for p in parsed} == {7}
    assert {p.variant for p in parsed} == {uuid.RFC_4122}
    assert abs(id_timestamp(ids[0]) - time.time()) < 5  # type: ignore[operator]
    assert id_timestamp(str(uuid.uuid4())) is None
    assert id_timestamp("nonsense") is None
    assert is_uuid(ids[0].upper()) and not is_uuid("x") and not is_uuid(3)


@pytest.mark.parametrize("count", [1, MANY_IDS - 1, MANY_IDS, 5000])
def test_one_at_a_time_and_many_at_once_make_the_same_kind_of_id(count: int) -> None:
    before = time.time()
    ids = new_prediction_ids(count)
    assert len(ids) == len(set(ids)) == count
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # lower-case hex, dashes where they belong
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert before - 0.002 <= (parsed.int >> 80) / 1000 <= time.time() + 0.002
    if count >= MANY_IDS:  # 74 random bits: every bit position varies across 5,000 ids
        bits = [uuid.UUID(i).int & ((1 << 74) - 1) for i in ids]
        assert count < 100 or all(len({(b >> k) & 1 for b in bits}) == 2 for k in (0, 31, 47, 61))
        # many ids carry their bytes, which the prediction log stores
        assert isinstance(ids, PredictionIds)
        assert ids.packed == b"".join(uuid.UUID(i).bytes for i in ids)
        assert ids[:2] == list(ids)[:2] and orjson.loads(orjson.dumps(ids)) == list(ids)


def test_forked_children_do_not_repeat_the_parents_ids() -> None:
    new_prediction_ids(1)  # the parent's pool is filled before the fork
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write its ids and leave at once
        os.write(write, ",".join(new_prediction_ids(50)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = set(os.read(read, 1 << 16).decode().split(","))
    os.close(read)
    parent = set(new_prediction_ids(50))
    assert len(child) == 50
    assert not child & parent
