"""Challengers: versions scored beside the champion (shadow) or instead of it (canary).

**Shadow.** A request that names no version and is served by the champion is, with probability
``SHADOW_SHARE``, handed to a bounded per-worker queue after it is scored (O(1) on the request
path; a full queue skips the request and counts it). A background task drains the queue, scores
each request's rows with every loaded challenger in a thread, and writes the scores to
``challenger_predictions`` (``source='shadow'``) under the served rows' prediction ids and
``created_at``, so feedback for the served prediction labels both. Each challenger encodes the
input with its own codec (its features may differ): from the records as sent, or the CSV body;
the champion's encoded batch is reused only when both schemas are equal (then the encoding
would be the same). Nothing in shadow can change an answer: every failure (a challenger that
cannot load, rows its codec refuses, its model failing, the database down) is counted in
``challenger_shadow_skipped_total``, logged at most once a minute per kind, and dropped.

**Canary.** A request that names no version is served, with probability ``CANARY_SHARE``, by the
first challenger instead, when that challenger is loaded; otherwise the champion serves. It is an
ordinary served prediction (logged, counted under the challenger's version) and is not shadowed.

Challengers are loaded in the background (never on the request path), through the model
manager, so their alias is followed as the champion's is; one that cannot be loaded is reported
(``GET /ready``'s ``challengers``, ``challenger_loaded``) and retried every poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from porto.contracts.serving import ChallengerState
from porto.errors import PortoError

from porto_inference.log.challengers import ChallengerScores, write_scores
from porto_inference.log.store import PredictionLog
from porto_inference.monitoring.metrics import Metrics
from porto_inference.periodic import PeriodicTask
from porto_inference.scoring.batch import EncodedBatch
from porto_inference.scoring.codec import FeatureCodec
from porto_inference.scoring.model import ServedModel
from porto_inference.scoring.model_manager import ModelManager
from porto_inference.settings import Settings

log = logging.getLogger("porto_inference.challengers")

#: Shortest time between two log lines of one kind of shadow failure.
LOG_EVERY_S = 60.0
#: Most queued requests one turn of the shadow task scores and writes together.
DRAIN_JOBS = 256
#: Why rows go unscored in shadow (``challenger_shadow_skipped_total``'s ``reason``).
SKIP_REASONS = ("queue_full", "not_loaded", "encode_error", "score_error", "database", "error")


@dataclass(frozen=True, slots=True)
class _Pair:
    """How one challenger reads the input of requests the champion served."""

    model: ServedModel
    reuse: bool
    """Both schemas are equal: the champion's encoded batch is the challenger's."""
    copy: bool
    """The challenger uses a column the champion's codec takes out of a record in place (its
    id, target or ignored columns): keep a copy of the records before the champion encodes."""


@dataclass(frozen=True, slots=True)
class ShadowPlan:
    """The challengers that shadow one sampled request."""

    champion: ServedModel
    pairs: tuple[_Pair, ...]
    missing: int
    """Configured challengers not loaded (their rows are counted as skipped)."""

    def keep(self, records: list[Any] | None) -> list[Any] | None:
        """``records`` as the challengers need them after the champion's codec has run: a
        shallow copy of each record when one of them reads a column the codec takes out."""
        if records is None or not self.pairs or not any(p.copy for p in self.pairs):
            return records
        return [dict(r) if type(r) is dict else r for r in records]


@dataclass(slots=True)
class _Job:
    plan: ShadowPlan
    batch: EncodedBatch
    records: list[Any] | None
    csv: bytes | None
    prediction_ids: list[str]
    created_at: datetime


@dataclass
class _Slot:
    """One configured challenger in this worker."""

    ref: str
    model: ServedModel | None = None
    error: str | None = None


class Challengers:
    """The configured challengers of one worker: loading, canary choice, shadow queue."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        models: ModelManager,
        prediction_log: PredictionLog,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.models = models
        self.prediction_log = prediction_log
        self.slots = [_Slot(ref) for ref in settings.challengers]
        self.queued_rows = 0
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._pairs: dict[tuple[str, str], _Pair] = {}
        self._logged: dict[str, float] = {}
        #: The latest shadow failure per challenger version ("" for every challenger).
        self._failures: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._loader = PeriodicTask(
            "challenger-loader",
            lambda: settings.poll_interval_s,
            self.refresh,
            what="challenger loader",
            logger=log,
        )
        self._first_load: asyncio.Task[None] | None = None
        if self.enabled:  # every reason at 0, so rate() and the dashboard have a series
            for reason in SKIP_REASONS:
                metrics.shadow_skipped.labels(reason)

    @property
    def enabled(self) -> bool:
        """Whether any challenger is configured."""
        return bool(self.slots)

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Load the challengers in the background (readiness does not wait for them) and start
        the shadow task."""
        if not self.enabled:
            return
        self._first_load = asyncio.create_task(self.refresh(), name="challenger-first-load")
        self._loader.start()
        if self.settings.shadow_share > 0 and self.prediction_log.enabled:
            self._task = asyncio.create_task(self._run(), name="challenger-shadow")

    async def stop(self, timeout: float = 5.0) -> None:
        """Score what is queued (bounded by ``timeout``), then stop."""
        await self._loader.stop()
        for task in (self._first_load, self._task):
            if task is None:
                continue
            if task is self._task:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._drained(), timeout)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _drained(self) -> None:
        while self.queued_rows:
            await asyncio.sleep(0.01)

    async def refresh(self) -> None:
        """(Re)load every configured challenger; one that fails is reported and skipped until the
        next turn. The model manager follows aliases and keeps a refused bundle refused until
        its files change."""
        for slot in self.slots:
            before = self.models.last_error  # the served model's, which /ready reports
            try:
                model = await self.models.get(slot.ref)
            except PortoError as exc:
                slot.model, slot.error = None, exc.message
                self.metrics.challenger_loaded.labels(slot.ref).set(0)
                self._warn(f"load:{slot.ref}", "challenger %s skipped: %s", slot.ref, exc.message)
                continue
            finally:
                self.models.last_error = before
            if slot.model is None or slot.model.version != model.version:
                log.info("challenger %s is version %s", slot.ref, model.version)
            slot.model, slot.error = model, None
            self.metrics.challenger_loaded.labels(slot.ref).set(1)

    def states(self) -> list[ChallengerState]:
        """Each configured challenger as this worker sees it (``GET /ready``)."""
        return [
            ChallengerState(
                ref=slot.ref,
                version=None if slot.model is None else slot.model.version,
                loaded=slot.model is not None,
                canary=i == 0 and self.settings.canary_share > 0,
                error=slot.error,
                shadow_error=self._failures.get(slot.model.version if slot.model else "")
                or self._failures.get(""),
            )
            for i, slot in enumerate(self.slots)
        ]

    # --- the request path (O(1) unless a copy is needed) ----------------------------------------
    def canary(self) -> ServedModel | None:
        """The first challenger, for a request that named no version, with probability
        ``CANARY_SHARE`` and only when it is loaded and is not the champion; else None."""
        share = self.settings.canary_share
        if not share or not self.slots or random.random() >= share:
            return None
        model = self.slots[0].model
        current = self.models.current
        if model is None or current is None or model.version == current.version:
            return None
        return model

    def plan(self, champion: ServedModel) -> ShadowPlan | None:
        """The challengers that shadow this request, or None (not sampled, the prediction log
        off)."""
        share = self.settings.shadow_share
        if self._task is None or not share or random.random() >= share:
            return None
        pairs = tuple(
            self._pair(champion, slot.model)
            for slot in self.slots
            if slot.model is not None and slot.model.version != champion.version
        )
        missing = sum(slot.model is None for slot in self.slots)
        return ShadowPlan(champion, pairs, missing)

    def _pair(self, champion: ServedModel, challenger: ServedModel) -> _Pair:
        key = (champion.version, challenger.version)
        pair = self._pairs.get(key)
        if pair is None or pair.model is not challenger:
            a, b = champion.codec, challenger.codec
            taken = set(a.discard) | ({a.id_column} if a.id_column else set())
            pair = _Pair(
                model=challenger,
                reuse=a.schema == b.schema and a.allow_missing == b.allow_missing,
                copy=bool(taken & set(b.names)),
            )
            self._pairs = {k: v for k, v in self._pairs.items() if k[0] == champion.version}
            self._pairs[key] = pair
        return pair

    def submit(
        self,
        plan: ShadowPlan,
        batch: EncodedBatch,
        *,
        records: list[Any] | None,
        csv: bytes | None,
        prediction_ids: list[str],
        created_at: datetime,
    ) -> None:
        """Queue a served request for shadow scoring; skipped and counted (rows times
        challengers) when the queue is full or no challenger is loaded."""
        n = len(prediction_ids)
        if plan.missing:
            self.metrics.shadow_skipped.labels("not_loaded").inc(n * plan.missing)
        if not plan.pairs:
            return
        if self.queued_rows + n > self.settings.shadow_queue_max_rows:
            self.metrics.shadow_skipped.labels("queue_full").inc(n * len(plan.pairs))
            self._fail("", "queue_full", "the shadow queue is full: requests are not shadowed")
            return
        self.queued_rows += n
        self.metrics.shadow_queue.inc(n)
        self._queue.put_nowait(_Job(plan, batch, records, csv, prediction_ids, created_at))

    # --- the shadow task ----------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            jobs = [await self._queue.get()]
            while len(jobs) < DRAIN_JOBS and not self._queue.empty():
                jobs.append(self._queue.get_nowait())
            rows = sum(len(j.prediction_ids) for j in jobs)
            try:
                await self._shadow(jobs)
            except Exception as exc:  # never let the task die: count, log, go on
                pairs = sum(len(j.prediction_ids) * len(j.plan.pairs) for j in jobs)
                self.metrics.shadow_skipped.labels("error").inc(pairs)
                self._fail("", "error", f"shadow scoring failed: {exc}")
            finally:
                self.queued_rows -= rows
                self.metrics.shadow_queue.dec(rows)

    async def _shadow(self, jobs: list[_Job]) -> None:
        scored = await asyncio.to_thread(self._score_all, jobs)
        for scores in scored:
            try:
                await write_scores(self.prediction_log.db, scores)
            except Exception as exc:  # the database down or refusing: lose these rows
                self.metrics.shadow_skipped.labels("database").inc(len(scores.prediction_ids))
                message = f"shadow scores not written: {type(exc).__name__}: {exc}"
                self._fail(scores.model_version, "database", message)
                continue
            self.metrics.shadow_rows.labels(scores.model_version).inc(len(scores.prediction_ids))
            self._failures.pop(scores.model_version, None)
            self._failures.pop("", None)

    def _score_all(self, jobs: list[_Job]) -> list[ChallengerScores]:
        """Score every job with each of its challengers (in a thread); one result per
        challenger version, its rows concatenated."""
        out: dict[str, ChallengerScores] = {}
        for job in jobs:
            for pair in job.plan.pairs:
                model = pair.model
                try:
                    batch = _input(pair, job)
                except Exception as exc:
                    self.metrics.shadow_skipped.labels("encode_error").inc(len(job.prediction_ids))
                    message = f"cannot read the input: {getattr(exc, 'message', exc)}"
                    self._fail(model.version, "encode_error", message)
                    continue
                try:
                    proba = np.asarray(model.predict(batch), dtype=np.float64)
                    if len(proba) != len(job.prediction_ids):
                        raise ValueError(f"{len(proba)} scores for {len(job.prediction_ids)} rows")
                except Exception as exc:
                    self.metrics.shadow_skipped.labels("score_error").inc(len(job.prediction_ids))
                    self._fail(model.version, "score_error", f"failed to score: {exc}")
                    continue
                result = out.get(model.version)
                if result is None:
                    result = out[model.version] = ChallengerScores(
                        model_name=model.name,
                        model_version=model.version,
                        threshold=model.threshold,
                        prediction_ids=[],
                        created_at=[],
                        scores=[],
                        classes=[],
                    )
                result.prediction_ids.extend(job.prediction_ids)
                result.created_at.extend([job.created_at] * len(proba))
                result.scores.extend(proba.tolist())
                result.classes.extend((proba >= model.threshold).astype(int).tolist())
        return list(out.values())

    def _fail(self, version: str, kind: str, message: str) -> None:
        """Remember a shadow failure for /ready and log it (at most once a minute per kind)."""
        at = datetime.now(UTC).isoformat(timespec="seconds")
        self._failures[version] = f"{kind} at {at}: {message}"
        self._warn(f"{kind}:{version}", "challenger %s: %s", version or "(all)", message)

    def _warn(self, kind: str, message: str, *args: Any) -> None:
        """Log ``message`` unless a line of this ``kind`` went out within :data:`LOG_EVERY_S`."""
        now = time.monotonic()
        if now - self._logged.get(kind, -LOG_EVERY_S) >= LOG_EVERY_S:
            self._logged[kind] = now
            log.warning(message, *args)


def _input(pair: _Pair, job: _Job) -> EncodedBatch:
    """The challenger's encoding of a job's rows: the champion's batch when the schemas are
    equal, else its own codec over the CSV body or the records (positional rows, which are in
    the champion's column order, named first)."""
    if pair.reuse:
        return job.batch
    codec = pair.model.codec
    if job.csv is not None:
        return codec.encode_csv(job.csv)
    champion = job.plan.champion.codec
    # The codec takes columns out of records in place: each challenger works on copies.
    return codec.encode_items([_named(r, champion) for r in job.records or []])


def _named(record: Any, champion: FeatureCodec) -> Any:
    """A record with positional values named by the champion's order (the order the client
    used); named records are copied as they are."""
    if type(record) is list:
        return _by_position(record, champion)
    if type(record) is dict:
        features = record.get("features")
        if type(features) is list and "features" not in champion.name_set:
            return {**record, "features": _by_position(features, champion)}
        return dict(record)
    return record


def _by_position(values: list[Any], champion: FeatureCodec) -> Any:
    if len(values) == len(champion.names):
        return dict(zip(champion.names, values, strict=True))
    columns = champion.row_columns
    if columns is not None and len(values) == len(columns):
        return dict(zip(columns, values, strict=True))
    return values
