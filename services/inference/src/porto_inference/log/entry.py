"""One request's scored rows as the prediction log queues them, and the row layout of the
``prediction_log`` table that COPY writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat
from typing import Any

import numpy as np

#: The ``prediction_log`` columns a record fills, in record order (the rest have defaults).
COLUMNS = (
    "prediction_id",
    "created_at",
    "model_name",
    "model_version",
    "endpoint",
    "request_id",
    "record_id",
    "features",
    "score",
    "predicted_class",
    "threshold",
    "latency_ms",
)


@dataclass(eq=False)
class LogEntry:
    """The rows of one request, as the service scored them."""

    created_at: datetime
    model_name: str
    model_version: str
    endpoint: str
    request_id: str | None
    prediction_ids: list[str]
    scores: np.ndarray
    classes: Any
    """Predicted classes (an int8 array, or a list for one row)."""
    threshold: float
    latency_ms: float
    record_ids: list[Any] | None
    features: list[bytes]
    """One JSON array per row (UTF-8): the feature values in :attr:`feature_names` order,
    serialised when queued (about 200 bytes per row instead of the parsed request's kilobytes
    of Python objects, so the queue's memory stays bounded); stored as is (``bytea``), never
    parsed by PostgreSQL."""
    feature_names: tuple[str, ...] | list[str] = ()
    """The model version's feature names, which the writer logs once per version
    (``prediction_log_schemas``) for the view that gives the features back by name."""
    seq: int = 0
    records: list[tuple[Any, ...]] | None = field(default=None, repr=False)
    binary: bytes | None = field(default=None, repr=False)
    """The rows as binary COPY rows (:func:`porto_inference.log.copy_binary.encoded`; built
    once, kept for retries)."""

    @property
    def rows(self) -> int:
        """Rows in this entry."""
        return len(self.prediction_ids)

    def build(self) -> list[tuple[Any, ...]]:
        """The COPY records (built once, kept for retries)."""
        if self.records is None:
            self.records = self._one_record() if self.rows == 1 else self._many_records()
        return self.records

    def _one_record(self) -> list[tuple[Any, ...]]:
        """A one-row request's record, without the per-column iterators of the general case
        (most requests are single predictions)."""
        record_id = None if self.record_ids is None else self.record_ids[0]
        return [
            (
                self.prediction_ids[0],
                self.created_at,
                self.model_name,
                self.model_version,
                self.endpoint,
                self.request_id,
                None if record_id is None else str(record_id),
                self.features[0],
                float(self.scores[0]),
                int(self.classes[0]),
                self.threshold,
                self.latency_ms,
            )
        ]

    def _many_records(self) -> list[tuple[Any, ...]]:
        n = self.rows
        ids = self.record_ids
        record_ids = (
            repeat(None, n) if ids is None else [None if v is None else str(v) for v in ids]
        )
        return list(
            zip(
                self.prediction_ids,
                repeat(self.created_at, n),
                repeat(self.model_name, n),
                repeat(self.model_version, n),
                repeat(self.endpoint, n),
                repeat(self.request_id, n),
                record_ids,
                self.features,
                self.scores.tolist(),
                np.asarray(self.classes).tolist(),
                repeat(self.threshold, n),
                repeat(self.latency_ms, n),
                strict=False,
            )
        )
