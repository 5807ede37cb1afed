"""What a scored request hands the prediction log: one :class:`LogEntry` whose features are each
row's values alone, in the model's feature order, as JSON array text (UTF-8): about 190 bytes
per Porto Seguro row instead of the 1,020 of a JSON object with every name repeated. The names
are the model version's, logged once per version (``prediction_log_schemas``), and the view
``prediction_log_features`` puts them back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from porto_inference.log.store import LogEntry
from porto_inference.scoring.batch import EncodedBatch, split_rows
from porto_inference.scoring.codec import FeatureCodec
from porto_inference.scoring.model import ServedModel


def log_entry(
    model: ServedModel,
    endpoint: str,
    batch: EncodedBatch,
    scores: np.ndarray,
    classes: Any,
    prediction_ids: list[str],
    *,
    request_id: str | None,
    latency_ms: float,
) -> LogEntry:
    """The prediction log's entry for ``batch``, scored by ``model`` on ``endpoint``."""
    codec = model.codec
    return LogEntry(
        created_at=datetime.now(UTC),
        model_name=model.name,
        model_version=model.version,
        endpoint=endpoint,
        request_id=request_id,
        prediction_ids=prediction_ids,
        scores=scores,
        classes=classes,
        threshold=model.threshold,
        latency_ms=latency_ms,
        record_ids=batch.ids,
        features=feature_values(batch, codec),
        feature_names=codec.names,
    )


def feature_values(batch: EncodedBatch, codec: FeatureCodec) -> list[bytes]:
    """One JSON array per row: the features in model order, as received (JSON records' values
    with their JSON types, absent ones null; a CSV body of numbers: each cell's number as sent,
    empty ones null), or as parsed for other CSV bodies (numbers, category text, null for
    missing)."""
    raw = batch.raw
    rows: list[Any]
    if batch.logged is not None:
        return batch.logged
    if batch.values is not None:
        rows = batch.values
    elif raw is None:
        rows = _parsed_rows(batch, codec)
    elif len(raw) == 1 and type(raw[0]) is dict:  # the single-record request
        return [_owned(orjson.dumps(_in_order(raw[0], codec)))]
    else:
        try:
            rows = list(map(codec.values_by_name, raw))
        except (KeyError, TypeError):  # absent features (allowed), or positional lists
            rows = [_in_order(r, codec) if type(r) is dict else r for r in raw]
    n = len(rows)
    if n == 0:
        return []
    # One dumps call for the whole batch, cut at the row boundaries (each row dumped alone when
    # a category's text holds a boundary).
    parts = split_rows(orjson.dumps(rows)[1:-1])
    if len(parts) != n:
        return [_owned(orjson.dumps(r)) for r in rows]
    return parts


def _owned(dumped: bytes) -> bytes:
    """A copy of ``dumped`` in a block of its own size. orjson (3.13) returns its result in its
    output buffer, kilobytes however short the text: 100,000 queued single-row entries held
    800 MB that way, 28 MB copied. (The split parts of a batch are new objects already.)"""
    return memoryview(dumped).tobytes()


def _in_order(record: dict[str, Any], codec: FeatureCodec) -> tuple[Any, ...]:
    """A record's feature values in model order (null for those it left out)."""
    try:
        return codec.values_by_name(record)
    except KeyError:
        return tuple(record.get(name) for name in codec.names)


def _parsed_rows(batch: EncodedBatch, codec: FeatureCodec) -> list[Any]:
    """A parsed (CSV) batch's rows in model order, column by column rather than per cell:
    numbers as floats (NaN, for missing, is dumped as null) and categories as their text."""
    columns: list[Any] = [None] * len(codec.names)
    for j, pos in enumerate(codec.num_pos):
        columns[pos] = batch.num[:, j].tolist()
    for j, pos in enumerate(codec.cat_pos):
        columns[pos] = batch.vocabs[j].array[batch.codes[:, j]].tolist()
    return list(zip(*columns, strict=True))
