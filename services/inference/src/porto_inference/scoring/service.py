"""The inference service's business layer: what each endpoint does, with no HTTP in it.

Routers hand it request bytes, a content type and query values; it returns plain dicts (or bytes)
and raises the error tree. That keeps the hot path visible in one place: parse with orjson,
encode with the model's codec, score (micro-batched), count, enqueue for the prediction log,
answer — every step O(1) or vectorised per request.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import orjson
from porto.bundle import Manifest, read_file
from porto.errors import NotFoundError
from porto.labels import DEFAULT_LABELS, LabelMapping, feedback_class, feedback_labels
from porto.registry import Registry
from porto.schema import typical_record

from porto_inference.errors import (
    BadRequestError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationFailedError,
)
from porto_inference.ids import new_prediction_ids
from porto_inference.log.store import LogEntry, PredictionLog
from porto_inference.monitoring.drift import DriftMonitor
from porto_inference.monitoring.metrics import Metrics, observe_many
from porto_inference.monitoring.quality import QualityMonitor
from porto_inference.scoring.batch import EncodedBatch
from porto_inference.scoring.codec import features_json
from porto_inference.scoring.csv_input import CSV_TYPES, check_row_limit
from porto_inference.scoring.microbatch import MicroBatcher
from porto_inference.scoring.model import ServedModel
from porto_inference.scoring.model_manager import ModelManager
from porto_inference.settings import Settings

#: Bundle files the API serves to the UI (plots and JSON reports; never the model itself).
ARTIFACT_TYPES = {
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".csv": "text/csv; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
}
#: Batches at least this large are scored in a thread, so the event loop keeps answering.
THREAD_ROWS = 2048


@dataclass
class _VersionMetrics:
    """Metric children of one model version, looked up once instead of per request."""

    prediction_value: Any
    score_distribution: Any
    negative: Any
    positive: Any
    single_size: Any
    batch_size: Any


@dataclass
class Artifact:
    """A verified bundle file ready to send."""

    content: bytes
    media_type: str
    sha256: str
    immutable: bool


def parse_json(body: bytes) -> Any:
    """The parsed body; BadRequestError (400) when it is not JSON at all."""
    if not body.strip():
        raise BadRequestError("the request body is empty; send JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"malformed JSON: {exc}") from exc


def media_type(content_type: str | None) -> str:
    """The bare media type of a Content-Type header, lower case."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _label_problem(label: Any, mapping: LabelMapping) -> str:
    """What is wrong with a feedback label, and which labels the served model accepts."""
    if label is None:
        shown = "a missing label"
    else:
        try:
            shown = orjson.dumps(label).decode()
        except orjson.JSONEncodeError:  # nested deeper than orjson writes (254 levels)
            shown = "a deeply nested " + ("object" if type(label) is dict else "list")
    accepted = " / ".join(
        f"{_either(feedback_labels(mapping, cls))} ({name})"
        for cls, name in ((1, "positive class"), (0, "negative class"))
    )
    return f"{shown} is not a label: expected {accepted}"


def _either(values: list[Any]) -> str:
    shown = [orjson.dumps(v).decode() for v in values]
    return ", ".join(shown[:-1]) + " or " + shown[-1] if len(shown) > 1 else shown[0]


def _strip_rows(exc: ValidationFailedError) -> ValidationFailedError:
    details = [{k: v for k, v in d.items() if k != "row"} for d in exc.details]
    message = exc.message.replace("row 0, ", "")
    return ValidationFailedError(message, details)


class InferenceService:
    """Prediction, feedback, model catalogue and readiness.

    ``context``, where a method takes one, is a dict the caller wants filled with what the
    request turned out to use (``model_version``), even when the request then fails."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        models: ModelManager,
        prediction_log: PredictionLog,
        drift: DriftMonitor,
        quality: QualityMonitor,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.models = models
        self.prediction_log = prediction_log
        self.drift = drift
        self.quality = quality
        self.batcher = MicroBatcher(settings.micro_batch_max)
        self._by_version: dict[str, _VersionMetrics] = {}

    def _version_metrics(self, version: str) -> _VersionMetrics:
        vm = self._by_version.get(version)
        if vm is None:
            m = self.metrics
            vm = _VersionMetrics(
                prediction_value=m.prediction_value.labels(version),
                score_distribution=m.score_distribution.labels(version),
                negative=m.predictions.labels("0", version),
                positive=m.predictions.labels("1", version),
                single_size=m.batch_size.labels("/predict", version),
                batch_size=m.batch_size.labels("/predict/batch", version),
            )
            self._by_version[version] = vm
        return vm

    # --- prediction ------------------------------------------------------------------------------
    async def predict_one(
        self,
        body: bytes,
        *,
        model_version: str | None,
        request_id: str | None,
        context: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Score one record (named features, wrapped, or positional); the answer's fields are
        ``prediction_id, probability, class, threshold, model_name, model_version`` (+ ``id``)."""
        began = time.perf_counter()
        record = parse_json(body)
        if type(record) is not dict:
            raise ValidationFailedError(
                "expected one record (a JSON object); send lists to /predict/batch",
                [{"field": "", "message": "expected a JSON object"}],
            )
        model = await self.models.get(model_version)
        if context is not None:
            context["model_version"] = model.version
        try:
            batch = model.codec.encode_items([record])
        except ValidationFailedError as exc:
            raise _strip_rows(exc) from None
        proba = await self.batcher.predict(model, batch)
        p = float(proba[0])
        threshold = model.threshold
        cls = 1 if p >= threshold else 0
        pid = new_prediction_ids(1)[0]
        vm = self._version_metrics(model.version)
        vm.prediction_value.observe(p)
        vm.score_distribution.observe(p)
        (vm.positive if cls else vm.negative).inc()
        vm.single_size.observe(1)
        self._after(model, "/predict", batch, proba, [pid], began, request_id, [cls])
        answer: dict[str, Any] = {
            "prediction_id": pid,
            "probability": p,
            "class": cls,
            "threshold": threshold,
            "model_name": model.name,
            "model_version": model.version,
        }
        if batch.ids is not None:
            answer["id"] = batch.ids[0]
        return answer

    async def predict_batch(
        self,
        body: bytes,
        content_type: str | None,
        *,
        model_version: str | None,
        request_id: str | None,
        context: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Score a JSON list of records (or ``{"records": [...]}``) or a CSV body; results keep
        the input order, each with its row index and prediction id."""
        began = time.perf_counter()
        kind = media_type(content_type)
        limit = self.settings.batch_max_rows
        if kind in CSV_TYPES:
            # Before anything else: an oversized body is refused before a model or a parse.
            check_row_limit(body, limit)
            model = await self.models.get(model_version)
            if context is not None:
                context["model_version"] = model.version
            batch = model.codec.encode_csv(body)
        elif kind in ("application/json", ""):
            data = parse_json(body)
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
                raise ValidationFailedError(
                    "the batch holds no records", [{"field": "", "message": "empty batch"}]
                )
            model = await self.models.get(model_version)
            if context is not None:
                context["model_version"] = model.version
            batch = model.codec.encode_items(data)
        else:
            raise UnsupportedMediaTypeError(
                f"cannot read {kind or 'a body without Content-Type'}: send application/json, "
                "text/csv or a multipart file upload"
            )
        if batch.rows == 0:
            raise ValidationFailedError(
                "the batch holds no records", [{"field": "", "message": "empty batch"}]
            )
        if batch.rows > limit:
            raise PayloadTooLargeError(f"{batch.rows} rows: the limit is {limit} per request")
        if batch.rows >= THREAD_ROWS:
            proba = await asyncio.to_thread(model.predict, batch)
        else:
            proba = model.predict(batch)
        threshold = model.threshold
        classes = (proba >= threshold).astype(np.int8)
        ids = new_prediction_ids(batch.rows)
        vm = self._version_metrics(model.version)
        observe_many(vm.prediction_value, proba)
        observe_many(vm.score_distribution, proba)
        positives = int(classes.sum())
        if positives:
            vm.positive.inc(positives)
        if batch.rows - positives:
            vm.negative.inc(batch.rows - positives)
        vm.batch_size.observe(batch.rows)
        self._after(model, "/predict/batch", batch, proba, ids, began, request_id, classes)
        rows = [
            {"row": i, "prediction_id": pid, "probability": p, "class": c}
            for i, (pid, p, c) in enumerate(zip(ids, proba.tolist(), classes.tolist(), strict=True))
        ]
        if batch.ids is not None:
            for row, record_id in zip(rows, batch.ids, strict=True):
                row["id"] = record_id
        return {
            "model_name": model.name,
            "model_version": model.version,
            "threshold": threshold,
            "count": batch.rows,
            "predictions": rows,
        }

    def _after(
        self,
        model: ServedModel,
        endpoint: str,
        batch: EncodedBatch,
        proba: np.ndarray,
        ids: list[str],
        began: float,
        request_id: str | None,
        classes: Any,
    ) -> None:
        """Drift bookkeeping and the prediction log entry (both O(1) here)."""
        self.drift.observe(model, batch, proba)
        if self.prediction_log.enabled and not self.prediction_log.reject_if_full(batch.rows):
            self.prediction_log.submit(
                LogEntry(
                    created_at=datetime.now(UTC),
                    model_name=model.name,
                    model_version=model.version,
                    endpoint=endpoint,
                    request_id=request_id,
                    prediction_ids=ids,
                    scores=proba,
                    classes=classes,
                    threshold=model.threshold,
                    latency_ms=(time.perf_counter() - began) * 1000.0,
                    record_ids=batch.ids,
                    features=features_json(batch, model.codec),
                )
            )

    # --- feedback --------------------------------------------------------------------------------
    async def feedback(self, body: bytes) -> dict[str, Any]:
        """Record ground-truth labels: ``{"prediction_id": .., "label": ..}``, a list of those,
        or ``{"feedback": [...]}``. A label is 0/1, true/false or one of the served model's
        original labels (its manifest's mapping, e.g. "Yes"/"No", compared as training compares
        them). Unknown ids are reported, the rest applied."""
        data = parse_json(body)
        if type(data) is dict and "feedback" in data and len(data) == 1:
            data = data["feedback"]
        items = data if type(data) is list else [data]
        if not items:
            raise ValidationFailedError(
                "no feedback given", [{"field": "", "message": "empty list"}]
            )
        if len(items) > self.settings.batch_max_rows:
            raise PayloadTooLargeError(
                f"{len(items)} labels: the limit is {self.settings.batch_max_rows} per request"
            )
        served = self.models.current
        mapping = served.manifest.label_mapping if served is not None else DEFAULT_LABELS
        labels: dict[str, int] = {}
        problems: list[dict[str, Any]] = []
        for row, item in enumerate(items):
            if type(item) is not dict:
                problems.append({"row": row, "field": "", "message": "expected an object"})
                continue
            extra = set(item) - {"prediction_id", "label"}
            for key in sorted(extra):
                problems.append({"row": row, "field": key, "message": "unknown field"})
            pid = item.get("prediction_id")
            label = item.get("label")
            if type(pid) is not str or not pid:
                problems.append(
                    {"row": row, "field": "prediction_id", "message": "expected a string id"}
                )
            cls = feedback_class(label, mapping)
            if cls is None:
                problems.append(
                    {"row": row, "field": "label", "message": _label_problem(label, mapping)}
                )
            elif type(pid) is str and pid:
                labels[pid] = cls
        if problems:
            first = problems[0]
            raise ValidationFailedError(
                f"{len(problems)} invalid feedback item(s); first: row {first['row']}, "
                f"{first['field'] or 'item'}: {first['message']}",
                problems[:50],
            )
        result = await self.prediction_log.record_feedback(labels)
        return {"received": len(labels), **result}

    # --- models ----------------------------------------------------------------------------------
    async def list_models(self) -> dict[str, Any]:
        """Every version of the configured model with its aliases, and what is served."""

        def work() -> dict[str, Any]:
            registry: Registry = self.models.registry
            aliases = registry.aliases()
            by_version: dict[str, list[str]] = {}
            for alias, version in aliases.items():
                by_version.setdefault(version, []).append(alias)
            versions = [
                {
                    "version": m.version,
                    "created_at": m.created_at.isoformat(),
                    "model_type": m.model_type,
                    "threshold": m.threshold,
                    "metrics": m.metrics,
                    "aliases": sorted(by_version.get(m.version, [])),
                    "features": len(m.feature_schema.features),
                    "dataset_rows": m.dataset.rows,
                    "schema_url": f"/models/{m.version}/schema",
                }
                for m in registry.manifests()
            ]
            return {
                "name": registry.name,
                "store": self.models.store.uri,
                "aliases": aliases,
                "versions": versions,
            }

        catalogue = await asyncio.to_thread(work)
        return {**catalogue, **self.models.describe()}

    async def _manifest(self, ref: str) -> Manifest:
        version = await self.models.resolve(ref)
        return await asyncio.to_thread(self.models.registry.get, version)

    async def manifest(self, ref: str) -> dict[str, Any]:
        """The manifest of the version ``ref`` (a version or an alias) names."""
        data: dict[str, Any] = (await self._manifest(ref)).model_dump(mode="json")
        return data

    async def schema_manifest(self, ref: str | None) -> Manifest:
        """The manifest whose feature schema /schema shows: version ``ref`` (None: the served
        model)."""
        return self.models.serving().manifest if ref is None else await self._manifest(ref)

    async def artifact(self, ref: str, path: str) -> Artifact:
        """A plot or JSON file of a bundle, verified against its manifest."""
        version = await self.models.resolve(ref)
        manifest = await asyncio.to_thread(self.models.registry.get, version)
        suffix = PurePosixPath(path).suffix.lower()
        entry = manifest.files.get(path)
        if entry is None or suffix not in ARTIFACT_TYPES or path == manifest.model_file:
            raise NotFoundError(f"version {version} has no viewable artifact {path!r}")
        content = await asyncio.to_thread(read_file, self.models.store, manifest, path)
        return Artifact(
            content=content,
            media_type=ARTIFACT_TYPES[suffix],
            sha256=entry.sha256,
            immutable=ref == version,
        )

    async def reload(self) -> dict[str, Any]:
        """Re-read the alias now, retrying versions that failed before."""
        return await self.models.refresh(force=True)

    # --- health ----------------------------------------------------------------------------------
    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """(ready, detail): ready once a model is loaded; the database state is reported but
        does not gate readiness (predictions are answered while PostgreSQL is down)."""
        described = self.models.describe()
        ready = described["served"] is not None
        return ready, {
            "status": "ready" if ready else "not_ready",
            "model": described["served"],
            "model_error": described["last_error"],
            "database": self.prediction_log.status(),
        }

    def example_record(self) -> dict[str, Any] | None:
        """A typical record for the served model's schema (for /docs examples)."""
        model = self.models.current
        return None if model is None else typical_record(model.manifest.feature_schema)
