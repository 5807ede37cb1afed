"""A log entry's COPY records: the one-row shortcut builds what the general case builds, in the
table's column order, once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
from porto_inference.ids import new_prediction_ids
from porto_inference.log.entry import COLUMNS, LogEntry


def _entry(rows: int, record_ids: list[Any] | None) -> LogEntry:
    return LogEntry(
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        model_name="porto",
        model_version="v1",
        endpoint="/predict/batch",
        request_id="r",
        prediction_ids=new_prediction_ids(rows),
        scores=np.linspace(0.1, 0.9, rows),
        classes=np.arange(rows, dtype=np.int8) % 2,
        threshold=0.5,
        latency_ms=1.5,
        record_ids=record_ids,
        features=[f'{{"i": {i}}}'.encode() for i in range(rows)],
    )


def test_one_row_records_equal_the_general_case() -> None:
    for record_ids in (None, [7], [None]):
        one = _entry(1, record_ids)
        general = one._many_records()
        assert one.build() == general
        assert [type(v) for v in one.build()[0]] == [type(v) for v in general[0]]


def test_records_follow_the_columns_and_are_built_once() -> None:
    entry = _entry(3, [1, None, "c"])
    records = entry.build()
    assert entry.build() is records
    assert len(records) == 3 and all(len(r) == len(COLUMNS) for r in records)
    first = dict(zip(COLUMNS, records[0], strict=True))
    assert first["prediction_id"] == entry.prediction_ids[0]
    assert first["record_id"] == "1" and records[1][COLUMNS.index("record_id")] is None
    assert first["score"] == 0.1 and first["predicted_class"] == 0
    assert first["features"] == b'{"i": 0}'
