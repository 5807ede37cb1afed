"""Scoring for POST /predict and POST /predict/batch, with no HTTP in it.

One request reads, in order: :func:`read_record` or :func:`read_batch` (the body, checked before
any model is looked up), :meth:`Scorer.model` (the version that answers), then
:meth:`Scorer.score_record` or :meth:`Scorer.score_batch`: encode with the model's codec, score
(single rows micro-batched, large batches in a thread), count in the metrics, remember for drift,
and queue for the prediction log. Every step is O(1) or vectorised per request. The answer is a
:class:`Prediction` or :class:`BatchPredictions`, the values of the API's response contracts
(:mod:`porto.contracts.api`) without a pydantic object per row.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from porto.flavors.base import Contributions

from porto_inference.errors import (
    ErrorDetail,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationFailedError,
)
from porto_inference.ids import new_prediction_ids
from porto_inference.log.store import PredictionLog
from porto_inference.monitoring.drift import DriftMonitor
from porto_inference.monitoring.metrics import Metrics, observe_many
from porto_inference.scoring.batch import EncodedBatch
from porto_inference.scoring.challengers import Challengers, ShadowPlan
from porto_inference.scoring.csv_input import CSV_TYPES, check_row_limit
from porto_inference.scoring.log_entry import log_entry
from porto_inference.scoring.microbatch import MicroBatcher
from porto_inference.scoring.model import ServedModel
from porto_inference.scoring.model_manager import ModelManager
from porto_inference.scoring.payload import media_type, parse_json

#: Batches at least this large are scored in a thread, so the event loop keeps answering.
THREAD_ROWS = 2048


@dataclass(frozen=True, slots=True)
class Explained:
    """Per-feature contributions of scored rows (``explain=true``), in model feature order."""

    names: list[str]
    contributions: Contributions

    def row(self, i: int) -> dict[str, Any]:
        """Row ``i`` as :class:`porto.contracts.api.Explanation` serialises it."""
        c = self.contributions
        base = float(c.base[i])
        values = c.values[i].tolist()
        return {
            "base_value": base,
            "raw_score": base + math.fsum(values),
            "contributions": dict(zip(self.names, values, strict=True)),
        }


@dataclass(frozen=True, slots=True)
class Prediction:
    """One scored record: the fields of :class:`porto.contracts.api.PredictResponse`."""

    prediction_id: str
    probability: float
    class_: int
    threshold: float
    model_name: str
    model_version: str
    id: list[Any] | None
    """The record's id as sent, in a one-item list (the id itself may be null); None when the
    record carried none, so the answer leaves ``id`` out."""
    explained: Explained | None = None
    """With ``explain=true`` only."""


@dataclass(frozen=True, slots=True)
class BatchPredictions:
    """A scored batch in input order: the fields of :class:`porto.contracts.api.BatchResponse`,
    its rows as columns."""

    model_name: str
    model_version: str
    threshold: float
    prediction_ids: list[str]
    probabilities: np.ndarray
    classes: np.ndarray
    ids: list[Any] | None
    """The records' ids, None when they carried none."""
    explained: Explained | None = None
    """With ``explain=true`` only."""

    @property
    def count(self) -> int:
        """Rows scored."""
        return len(self.prediction_ids)


@dataclass(frozen=True, slots=True)
class BatchBody:
    """A batch request's body, read: JSON records, or CSV bytes left for the model's codec."""

    records: list[Any] | None
    csv: bytes | None


def read_record(body: bytes) -> dict[str, Any]:
    """The one record of a POST /predict body; 400 when it is not JSON, 422 when it is not an
    object."""
    record = parse_json(body)
    if type(record) is not dict:
        raise ValidationFailedError(
            "expected one record (a JSON object); send lists to /predict/batch",
            [{"field": "", "message": "expected a JSON object"}],
        )
    return record


def read_batch(body: bytes, content_type: str | None, limit: int) -> BatchBody:
    """A JSON list of records (or ``{"records": [...]}``) or a CSV body, refused (413) beyond
    ``limit`` rows before any model is looked up or any CSV parsed."""
    kind = media_type(content_type)
    if kind in CSV_TYPES:
        check_row_limit(body, limit)
        return BatchBody(records=None, csv=body)
    if kind not in ("application/json", ""):
        raise UnsupportedMediaTypeError(
            f"cannot read {kind or 'a body without Content-Type'}: send application/json, "
            "text/csv or a multipart file upload"
        )
    data = parse_json(body, lists=("records",))
    if type(data) is dict and type(data.get("records")) is list and len(data) == 1:
        data = data["records"]
    if type(data) is not list:
        raise ValidationFailedError(
            "expected a JSON list of records (or CSV)",
            [{"field": "", "message": "expected a JSON list"}],
        )
    if len(data) > limit:
        raise PayloadTooLargeError(f"{len(data)} rows: the limit is {limit} per request")
    if not data:
        raise _empty_batch()
    return BatchBody(records=data, csv=None)


def _empty_batch() -> ValidationFailedError:
    return ValidationFailedError(
        "the batch holds no records", [{"field": "", "message": "empty batch"}]
    )


async def _explained(model: ServedModel, batch: EncodedBatch) -> Explained:
    """``batch``'s explanation, computed in a thread even for one row: TreeSHAP costs
    milliseconds per row, which would stall every other request on the loop."""
    return Explained(model.codec.names, await asyncio.to_thread(model.explain, batch))


def _strip_rows(exc: ValidationFailedError) -> ValidationFailedError:
    """A one-record batch's error as a single record's: no row index."""
    details: list[ErrorDetail] = [
        {"field": d["field"], "message": d["message"]} for d in exc.details
    ]
    message = exc.message.replace("row 0, ", "")
    return ValidationFailedError(message, details)


@dataclass
class _VersionMetrics:
    """Metric children of one model version, looked up once instead of per request."""

    version: str
    prediction_value: Any
    score_distribution: Any
    negative: Any
    positive: Any
    batch_size: Any
    """The ``batch_size`` family, whose children (one per endpoint) :meth:`size` keeps."""
    sizes: dict[str, Any]

    def size(self, endpoint: str) -> Any:
        """The ``batch_size`` child of ``endpoint`` (a route path) for this version."""
        child = self.sizes.get(endpoint)
        if child is None:
            child = self.sizes[endpoint] = self.batch_size.labels(endpoint, self.version)
        return child


class Scorer:
    """Scores records with the served model (or a version a request names) and records each
    scored request in the metrics, the drift monitor and the prediction log."""

    def __init__(
        self,
        models: ModelManager,
        metrics: Metrics,
        drift: DriftMonitor,
        prediction_log: PredictionLog,
        *,
        micro_batch_max: int,
        batch_max_rows: int,
        explain_max_rows: int = 1_000,
        challengers: Challengers | None = None,
    ) -> None:
        self.models = models
        self.metrics = metrics
        self.drift = drift
        self.prediction_log = prediction_log
        self.batch_max_rows = batch_max_rows
        self.explain_max_rows = explain_max_rows
        self.batcher = MicroBatcher(micro_batch_max)
        #: Shadow and canary (None or empty: off).
        self.challengers = challengers if challengers is not None and challengers.enabled else None
        self._by_version: dict[str, _VersionMetrics] = {}

    async def model(self, version: str | None) -> ServedModel:
        """The model that answers: the served one, or the version or alias ``version`` names.
        A request that names none may be a canary's (served by the first challenger)."""
        if version is None and self.challengers is not None:
            canary = self.challengers.canary()
            if canary is not None:
                return canary
        return await self.models.get(version)

    def _shadow_plan(self, model: ServedModel, shadow: bool) -> ShadowPlan | None:
        """Which challengers shadow this request: only one that named no version and that the
        champion serves (not a canary's)."""
        if not shadow or self.challengers is None or model is not self.models.current:
            return None
        return self.challengers.plan(model)

    async def score_record(
        self,
        model: ServedModel,
        record: dict[str, Any],
        *,
        request_id: str | None,
        began: float,
        explain: bool = False,
        endpoint: str = "/predict",
        shadow: bool = False,
    ) -> Prediction:
        """Score one record (named features, wrapped, or positional). ``began`` is when the
        request's scoring started (``time.perf_counter()``), for the logged latency;
        ``endpoint`` is the route counted in ``batch_size`` and logged with the row. ``shadow``:
        the request named no version, so challengers may score it in shadow afterwards."""
        plan = self._shadow_plan(model, shadow)
        kept = plan.keep([record]) if plan is not None else None
        try:
            batch = model.codec.encode_items([record])
        except ValidationFailedError as exc:
            raise _strip_rows(exc) from None
        self.prediction_log.admit(1)
        proba = await self.batcher.predict(model, batch)
        self.prediction_log.admit(1)  # the queue may have filled while this row was scored
        p = float(proba[0])
        threshold = model.threshold
        cls = 1 if p >= threshold else 0
        pid = new_prediction_ids(1)[0]
        vm = self._version_metrics(model.version)
        vm.prediction_value.observe(p)
        vm.score_distribution.observe(p)
        (vm.positive if cls else vm.negative).inc()
        vm.size(endpoint).observe(1)
        created = self._remember(model, endpoint, batch, proba, [cls], [pid], request_id, began)
        if plan is not None and created is not None and self.challengers is not None:
            self.challengers.submit(
                plan, batch, records=kept, csv=None, prediction_ids=[pid], created_at=created
            )
        return Prediction(
            prediction_id=pid,
            probability=p,
            class_=cls,
            threshold=threshold,
            model_name=model.name,
            model_version=model.version,
            id=None if batch.ids is None else batch.ids[:1],
            explained=await _explained(model, batch) if explain else None,
        )

    async def score_batch(
        self,
        model: ServedModel,
        body: BatchBody,
        *,
        request_id: str | None,
        began: float,
        explain: bool = False,
        endpoint: str = "/predict/batch",
        shadow: bool = False,
    ) -> BatchPredictions:
        """Score a batch read by :func:`read_batch`; results keep the input order. ``endpoint``
        and ``shadow`` as for :meth:`score_record`."""
        plan = self._shadow_plan(model, shadow)
        kept = plan.keep(body.records) if plan is not None else None
        if body.csv is not None:
            batch = model.codec.encode_csv(body.csv)
        else:
            batch = model.codec.encode_items(body.records or [])
        if batch.rows == 0:
            raise _empty_batch()
        limit = self.batch_max_rows
        if batch.rows > limit:
            raise PayloadTooLargeError(f"{batch.rows} rows: the limit is {limit} per request")
        if explain and batch.rows > self.explain_max_rows:
            raise PayloadTooLargeError(
                f"{batch.rows} rows with explain=true: the limit is {self.explain_max_rows} per "
                "request (send smaller batches, or leave explain off)"
            )
        self.prediction_log.admit(batch.rows)
        if batch.rows >= THREAD_ROWS:
            proba = await asyncio.to_thread(model.predict, batch)
            self.prediction_log.admit(batch.rows)  # the queue may have filled meanwhile
        else:
            proba = model.predict(batch)
        threshold = model.threshold
        classes = (proba >= threshold).astype(np.int8)
        ids = new_prediction_ids(batch.rows)
        self._count_batch(model.version, endpoint, proba, classes)
        created = self._remember(model, endpoint, batch, proba, classes, ids, request_id, began)
        if plan is not None and created is not None and self.challengers is not None:
            self.challengers.submit(
                plan, batch, records=kept, csv=body.csv, prediction_ids=ids, created_at=created
            )
        explained = await _explained(model, batch) if explain else None
        return BatchPredictions(
            model_name=model.name,
            model_version=model.version,
            threshold=threshold,
            prediction_ids=ids,
            probabilities=proba,
            classes=classes,
            ids=batch.ids,
            explained=explained,
        )

    def _count_batch(
        self, version: str, endpoint: str, proba: np.ndarray, classes: np.ndarray
    ) -> None:
        vm = self._version_metrics(version)
        observe_many(vm.prediction_value, proba)
        observe_many(vm.score_distribution, proba)
        positives = int(classes.sum())
        if positives:
            vm.positive.inc(positives)
        if classes.size - positives:
            vm.negative.inc(classes.size - positives)
        vm.size(endpoint).observe(classes.size)

    def _version_metrics(self, version: str) -> _VersionMetrics:
        vm = self._by_version.get(version)
        if vm is None:
            m = self.metrics
            vm = _VersionMetrics(
                version=version,
                prediction_value=m.prediction_value.labels(version),
                score_distribution=m.score_distribution.labels(version),
                negative=m.predictions.labels("0", version),
                positive=m.predictions.labels("1", version),
                batch_size=m.batch_size,
                sizes={e: m.batch_size.labels(e, version) for e in ("/predict", "/predict/batch")},
            )
            self._by_version[version] = vm
        return vm

    def _remember(
        self,
        model: ServedModel,
        endpoint: str,
        batch: EncodedBatch,
        proba: np.ndarray,
        classes: Any,
        ids: list[str],
        request_id: str | None,
        began: float,
    ) -> datetime | None:
        """Drift bookkeeping and the prediction log entry (both O(1) here); the entry's time,
        None when nothing was logged."""
        self.drift.observe(model, batch, proba)
        log = self.prediction_log
        if log.enabled and not log.reject_if_full(batch.rows):
            latency_ms = (time.perf_counter() - began) * 1000.0
            entry = log_entry(
                model,
                endpoint,
                batch,
                proba,
                classes,
                ids,
                request_id=request_id,
                latency_ms=latency_ms,
            )
            if log.submit(entry):
                return entry.created_at
        return None
