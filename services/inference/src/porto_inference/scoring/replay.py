"""Replay: the logged requests of a time window scored again with any model version, compared
with what was served and, on the rows that carry a label, with the truth.

One code path for ``POST /monitoring/replay`` and ``porto-inference replay``: the caller brings
an asyncpg connection and a loaded :class:`ServedModel`; :func:`replay` streams the window
(:class:`~porto_inference.log.replay.ReplayLog`, one chunk in memory), encodes each chunk with a
codec of its own (never the served model's, whose vocabularies the request path grows) and
scores it in a thread, so the event loop keeps answering while a replay runs. A row the replay
version cannot encode (a feature it needs that the row's version did not have, a value its
schema refuses) is skipped and counted by reason, never fatal.

Memory: one chunk, plus five numbers per labelled row for the label figures (AUC needs them
all); the API bounds the rows (``REPLAY_MAX_ROWS``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from porto.contracts.replay import (
    Agreement,
    CalibrationFigures,
    LabelledComparison,
    ReplayFilters,
    ReplayReport,
    ReplayRequest,
    ScoreQuality,
    ServedVersionReplay,
    SkipReason,
)

from porto_inference.errors import (
    DatabaseUnavailableError,
    PayloadTooLargeError,
    ValidationFailedError,
)
from porto_inference.log.replay import LoggedChunk, ReplayConnection, ReplayLog, Window
from porto_inference.monitoring.quality import calibration, gini, quality
from porto_inference.scoring.batch import unstorable
from porto_inference.scoring.codec import FeatureCodec
from porto_inference.scoring.model import ServedModel

if TYPE_CHECKING:
    from porto_inference.scoring.service import InferenceService

#: Prediction ids kept per skip reason, as examples.
SKIP_EXAMPLES = 5
#: Missing features named in one skip reason (the rest counted).
MISSING_NAMED = 3


@dataclass
class _Agreement:
    """Running sums for :class:`Agreement`."""

    rows: int = 0
    abs_sum: float = 0.0
    abs_max: float = 0.0
    same: int = 0
    up: int = 0
    down: int = 0

    def add(self, served: np.ndarray, replayed: np.ndarray, s_cls: Any, r_cls: Any) -> None:
        if len(served) == 0:
            return
        delta = np.abs(replayed - served)
        self.rows += len(served)
        self.abs_sum += float(delta.sum())
        self.abs_max = max(self.abs_max, float(delta.max()))
        self.same += int((s_cls == r_cls).sum())
        self.up += int(((s_cls == 0) & (r_cls == 1)).sum())
        self.down += int(((s_cls == 1) & (r_cls == 0)).sum())

    def figures(self) -> Agreement:
        n = self.rows
        if n == 0:
            return Agreement(
                rows=0,
                mean_abs_delta=None,
                max_abs_delta=None,
                class_agreement=None,
                became_positive=None,
                became_negative=None,
            )
        return Agreement(
            rows=n,
            mean_abs_delta=self.abs_sum / n,
            max_abs_delta=self.abs_max,
            class_agreement=self.same / n,
            became_positive=self.up / n,
            became_negative=self.down / n,
        )


@dataclass
class _Version:
    rows: int = 0
    skipped: int = 0
    agreement: _Agreement = field(default_factory=_Agreement)


@dataclass
class Scored:
    """One chunk scored: the rows kept (indices into the chunk), their scores and classes, and
    why each other row was skipped."""

    kept: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    skipped: list[tuple[int, str]]


class ChunkScorer:
    """Encodes logged records for one model version and scores them (blocking: run it in a
    thread). Its codec is its own: the served model's vocabularies are never touched."""

    def __init__(self, model: ServedModel) -> None:
        self.model = model
        self.codec = FeatureCodec(model.manifest.feature_schema)

    def score(self, records: list[Any]) -> Scored:
        """Score ``records`` (dicts by name, or positional lists), skipping those the model's
        schema refuses."""
        names = self.codec.names
        skipped: list[tuple[int, str]] = []
        kept: list[int] = []
        items: list[Any] = []
        for i, record in enumerate(records):
            if type(record) is dict:
                missing = [n for n in names if n not in record]
                if missing:
                    skipped.append((i, _missing_reason(missing)))
                    continue
                # Only the replay version's features: the row's version may have had others.
                items.append({n: record[n] for n in names})
            elif type(record) is list:
                items.append(list(record))
            else:
                skipped.append((i, "features are neither a JSON object nor an array"))
                continue
            kept.append(i)
        while items:
            try:
                batch = self.codec.encode_items(items)
            except ValidationFailedError as exc:
                bad = _bad_rows(exc, len(items))
                for j in sorted(bad):
                    skipped.append((kept[j], bad[j]))
                kept = [k for j, k in enumerate(kept) if j not in bad]
                items = [x for j, x in enumerate(items) if j not in bad]
                continue
            scores = self.model.predict(batch)
            classes = (scores >= self.model.threshold).astype(np.int64)
            return Scored(np.asarray(kept, dtype=np.int64), scores, classes, skipped)
        empty = np.empty(0)
        return Scored(np.empty(0, dtype=np.int64), empty, empty.astype(np.int64), skipped)


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (a naive one is read as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def window_of(
    start: datetime,
    end: datetime,
    model_name: str,
    *,
    model_version: str | None = None,
    endpoint: str | None = None,
    limit: int | None = None,
) -> Window:
    """The window to replay; ValidationFailedError (422) unless ``start`` < ``end`` (both
    within what PostgreSQL stores), ``limit`` (when given) is at least 1 and the filters are
    text PostgreSQL can compare (no U+0000)."""
    try:
        start, end = utc(start), utc(end)
    except OverflowError:  # 0001-01-01 with a positive offset, 9999-12-31 with a negative one
        raise ValidationFailedError(
            "the window is out of range: from and to must lie between years 1 and 9999 in UTC",
            [{"field": "from", "message": "out of range"}],
        ) from None
    for name, value in (
        ("filters.model_name", model_name),
        ("filters.model_version", model_version),
        ("filters.endpoint", endpoint),
    ):
        problem = None if value is None else unstorable(value)
        if problem is not None:
            raise ValidationFailedError(f"{name} {problem}", [{"field": name, "message": problem}])
    if start >= end:
        raise ValidationFailedError(
            f"the window is empty: from ({start.isoformat()}) must be before to "
            f"({end.isoformat()})",
            [{"field": "to", "message": "must be after from"}],
        )
    if limit is not None and limit < 1:
        raise ValidationFailedError(
            f"limit {limit}: replay at least one row",
            [{"field": "limit", "message": "must be at least 1"}],
        )
    return Window(start, end, model_name, model_version, endpoint, limit)


async def replay_request(service: InferenceService, request: ReplayRequest) -> ReplayReport:
    """``POST /monitoring/replay``: ``request`` replayed in this worker, bounded by
    ``REPLAY_MAX_ROWS`` (413 beyond), with the version from the model manager (404 for an
    unknown one) and a connection of the serving loop's pool (503 when the log is off or
    down)."""
    settings = service.settings
    most = settings.replay_max_rows
    if request.limit is not None and request.limit > most:
        raise PayloadTooLargeError(
            f"limit {request.limit} is over the {most:,} rows a replay through the API may "
            "score (PORTO_INFERENCE_REPLAY_MAX_ROWS); use `porto-inference replay` for more"
        )
    filters = request.filters
    window = window_of(
        request.from_,
        request.to,
        filters.model_name or settings.model_name,
        model_version=filters.model_version,
        endpoint=filters.endpoint,
        limit=request.limit or most,
    )
    model = await service.models.get(request.version)
    db = service.prediction_log.db
    async with ReplayConnection(db) as conn:
        try:
            return await replay(
                ReplayLog(conn), model, window, requested=request.version, record=request.record
            )
        except db.errors as exc:
            raise DatabaseUnavailableError(
                f"the prediction log database failed during the replay: {type(exc).__name__}: {exc}"
            ) from exc


def _missing_reason(missing: list[str]) -> str:
    shown = ", ".join(missing[:MISSING_NAMED])
    more = f" (+{len(missing) - MISSING_NAMED} more)" if len(missing) > MISSING_NAMED else ""
    return f"missing feature(s) {shown}{more}"


def _bad_rows(exc: ValidationFailedError, rows: int) -> dict[int, str]:
    """Row index → reason for the rows ``exc`` names; every row when it names none (then the
    batch as a whole is unusable, which a list of records never is in practice)."""
    bad: dict[int, str] = {}
    for detail in exc.details:
        row = detail.get("row")
        if row is not None and row not in bad:
            field_name = detail["field"]
            bad[row] = f"{field_name}: {detail['message']}" if field_name else detail["message"]
    if not bad:
        return dict.fromkeys(range(rows), exc.message)
    return bad


@dataclass
class _Labelled:
    """Labelled rows' figures, chunk by chunk."""

    served: list[np.ndarray] = field(default_factory=list)
    served_class: list[np.ndarray] = field(default_factory=list)
    replayed: list[np.ndarray] = field(default_factory=list)
    replayed_class: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)

    def comparison(self) -> LabelledComparison | None:
        if not self.labels:
            return None
        labels = np.concatenate(self.labels)
        if len(labels) == 0:
            return None
        return LabelledComparison(
            labels=len(labels),
            positives=int(labels.sum()),
            served=_quality(np.concatenate(self.served), np.concatenate(self.served_class), labels),
            replayed=_quality(
                np.concatenate(self.replayed), np.concatenate(self.replayed_class), labels
            ),
        )


def _quality(scores: np.ndarray, classes: np.ndarray, labels: np.ndarray) -> ScoreQuality:
    figures = quality(scores, classes, labels)
    calib = calibration(scores, labels)
    assert calib is not None  # labels is not empty
    return ScoreQuality(
        roc_auc=figures.roc_auc,
        gini=gini(figures.roc_auc),
        f1=figures.f1,
        precision=figures.precision,
        recall=figures.recall,
        calibration=CalibrationFigures(
            mean_score=calib.mean_score,
            positive_rate=calib.positive_rate,
            brier=calib.brier,
            ece=calib.ece,
        ),
    )


async def replay(
    log: ReplayLog,
    model: ServedModel,
    window: Window,
    *,
    requested: str,
    record: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ReplayReport:
    """Replay ``window`` of the log on ``log``'s connection with ``model``; with ``record``,
    also write the replayed scores to ``challenger_predictions`` (committed together at the
    end). Database errors propagate as asyncpg raises them: the caller maps them."""
    began = time.monotonic()
    say = progress or (lambda _line: None)
    scorer = ChunkScorer(model)
    total = _Agreement()
    versions: dict[str, _Version] = {}
    skips: dict[str, list[Any]] = {}
    labelled = _Labelled()
    rows_read = replayed = recorded = 0
    async with log.transaction(record=record):
        async for chunk in log.chunks(window):
            scored = await asyncio.to_thread(scorer.score, chunk.records)
            rows_read += chunk.rows
            replayed += len(scored.kept)
            _tally(chunk, scored, total, versions, skips, labelled)
            if record and len(scored.kept):
                kept = scored.kept.tolist()
                recorded += await log.record(
                    model.name,
                    model.version,
                    model.threshold,
                    [chunk.prediction_ids[i] for i in kept],
                    [chunk.created_at[i] for i in kept],
                    scored.scores,
                    scored.classes,
                )
            say(f"{rows_read:,} rows read, {replayed:,} replayed")
    ordered = sorted(skips.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return ReplayReport(
        model_name=window.model_name,
        version=model.version,
        requested=requested,
        threshold=model.threshold,
        **{"from": window.start},
        to=window.end,
        filters=ReplayFilters(
            model_name=window.model_name,
            model_version=window.model_version,
            endpoint=window.endpoint,
        ),
        limit=window.limit,
        rows_read=rows_read,
        truncated=window.limit is not None and rows_read >= window.limit,
        rows_replayed=replayed,
        rows_skipped=rows_read - replayed,
        skipped=[SkipReason(reason=r, rows=v[0], examples=v[1]) for r, v in ordered],
        agreement=total.figures(),
        by_served_version=[
            ServedVersionReplay(
                model_version=name,
                rows=v.rows,
                skipped=v.skipped,
                agreement=v.agreement.figures(),
            )
            for name, v in sorted(versions.items())
        ],
        labelled=labelled.comparison(),
        recorded=recorded if record else None,
        seconds=round(time.monotonic() - began, 3),
    )


def _tally(
    chunk: LoggedChunk,
    scored: Scored,
    total: _Agreement,
    versions: dict[str, _Version],
    skips: dict[str, list[Any]],
    labelled: _Labelled,
) -> None:
    """Add one scored chunk to the running figures."""
    for i, reason in scored.skipped:
        entry = skips.setdefault(reason, [0, []])
        entry[0] += 1
        if len(entry[1]) < SKIP_EXAMPLES:
            entry[1].append(chunk.prediction_ids[i])
        versions.setdefault(chunk.served_versions[i], _Version()).skipped += 1
    for name in chunk.served_versions:
        versions.setdefault(name, _Version()).rows += 1
    kept = scored.kept
    if len(kept) == 0:
        return
    served, served_class = chunk.scores[kept], chunk.classes[kept]
    total.add(served, scored.scores, served_class, scored.classes)
    served_versions = np.asarray(chunk.served_versions, dtype=object)[kept]
    for name in set(served_versions.tolist()):
        mask = served_versions == name
        versions[name].agreement.add(
            served[mask], scored.scores[mask], served_class[mask], scored.classes[mask]
        )
    labels = np.array([chunk.labels[i] for i in kept.tolist()], dtype=object)
    has = labels != None  # noqa: E711 (element-wise on an object array)
    if has.any():
        labelled.labels.append(labels[has].astype(np.int64))
        labelled.served.append(served[has])
        labelled.served_class.append(served_class[has])
        labelled.replayed.append(scored.scores[has])
        labelled.replayed_class.append(scored.classes[has])
