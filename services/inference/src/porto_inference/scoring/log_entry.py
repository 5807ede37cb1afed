"""What a scored request hands the prediction log: one :class:`LogEntry` with the features as
received, serialised as JSON (UTF-8 bytes) when queued (a few hundred bytes per row, not the
parsed request)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from porto_inference.log.store import LogEntry
from porto_inference.scoring.batch import EncodedBatch
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
        features=features_json(batch, model.codec),
    )


def features_json(batch: EncodedBatch, codec: FeatureCodec) -> list[bytes]:
    """One JSON object per row: the features as received (dicts as sent, positional lists keyed
    by feature name, CSV rows as parsed), without the id column."""
    raw = batch.raw
    if raw is not None and len(raw) == 1 and type(raw[0]) is dict:
        return [orjson.dumps(raw[0])]  # the single-record request: no list to split
    if raw is None:
        dicts: list[Any] = codec.records(batch)
    elif raw and all(type(r) is dict for r in raw):
        dicts = raw
    else:
        names = codec.names
        dicts = [dict(zip(names, r, strict=False)) if type(r) is list else r for r in raw]
    n = len(dicts)
    if n == 0:
        return []
    # One dumps call for the whole batch, split at the record boundaries: "},{" occurs exactly
    # n-1 times unless a string value contains it, in which case each row is dumped alone.
    blob = orjson.dumps(dicts)
    parts = blob[2:-2].split(b"},{")
    if len(parts) != n:
        return [orjson.dumps(d) for d in dicts]
    return [b"{" + p + b"}" for p in parts]
