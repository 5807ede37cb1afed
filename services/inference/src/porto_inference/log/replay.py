"""The prediction log's side of a replay: the logged rows of a time window read back in chunks
with their records rebuilt, and replayed scores recorded in ``challenger_predictions``.

Streaming and bounded like the export (:mod:`porto_inference.log.export`): a server-side cursor
in one transaction, :data:`FETCH_ROWS` rows at a time, so memory holds one chunk whatever the
window. A row's record comes back as ``{name: value}``: its values zipped with its version's
names from ``prediction_log_schemas``, or the JSON object a row logged before migration 0005
holds (a values array whose version has no names recorded stays a list).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from porto_inference.errors import DatabaseUnavailableError
from porto_inference.log.features import NAMES_SQL, decode_features
from porto_inference.log.pool import LogPool

#: Rows per cursor fetch: one chunk scored at a time.
FETCH_ROWS = 2_000

# Oldest first, so a limit keeps the start of the window; created_at bounds prune the day
# partitions and the (created_at) index serves the order.
WINDOW_SQL = """
SELECT prediction_id::text, created_at, model_version, features, score, predicted_class,
       threshold, label
FROM prediction_log
WHERE created_at >= $1 AND created_at < $2
  AND model_name = $3
  AND ($4::text IS NULL OR model_version = $4)
  AND ($5::text IS NULL OR endpoint = $5)
ORDER BY created_at, prediction_id
LIMIT $6
"""

RECORD_SQL = """
INSERT INTO challenger_predictions (prediction_id, model_version, created_at, source, model_name,
    score, predicted_class, threshold)
SELECT t.prediction_id, $1, t.created_at, 'replay', $2, t.score, t.predicted_class, $3
FROM unnest($4::uuid[], $5::timestamptz[], $6::float8[], $7::smallint[])
     AS t(prediction_id, created_at, score, predicted_class)
ON CONFLICT (prediction_id, model_version) DO NOTHING
"""


@dataclass
class LoggedChunk:
    """Consecutive logged rows, column by column."""

    prediction_ids: list[str]
    created_at: list[datetime]
    served_versions: list[str]
    records: list[Any]
    """Each row's features: a dict by name, or a list when its version has no names."""
    scores: np.ndarray
    classes: np.ndarray
    thresholds: np.ndarray
    labels: list[int | None]

    @property
    def rows(self) -> int:
        """Rows in the chunk."""
        return len(self.prediction_ids)


@dataclass(frozen=True)
class Window:
    """Which logged rows to read: [start, end), the log's model name, optional served version
    and endpoint, at most ``limit`` rows (None: all)."""

    start: datetime
    end: datetime
    model_name: str
    model_version: str | None
    endpoint: str | None
    limit: int | None


class ReplayLog:
    """Reads a window of the log and records replayed scores, on one asyncpg connection."""

    def __init__(self, conn: Any, *, fetch_rows: int | None = None) -> None:
        self.conn = conn
        self.fetch_rows = FETCH_ROWS if fetch_rows is None else fetch_rows
        self._names: dict[str, list[str] | None] = {}

    async def chunks(self, window: Window) -> AsyncIterator[LoggedChunk]:
        """The window's rows, oldest first, ``fetch_rows`` at a time. The caller holds a
        transaction open (:meth:`transaction`): a cursor lives in one."""
        cursor = await self.conn.cursor(
            WINDOW_SQL,
            window.start,
            window.end,
            window.model_name,
            window.model_version,
            window.endpoint,
            window.limit,
        )
        while True:
            batch = await cursor.fetch(self.fetch_rows)
            if not batch:
                return
            await self._learn_names(window.model_name, batch)
            yield LoggedChunk(
                prediction_ids=[r[0] for r in batch],
                created_at=[r[1] for r in batch],
                served_versions=[r[2] for r in batch],
                records=[decode_features(r[3], self._names[r[2]]) for r in batch],
                scores=np.array([r[4] for r in batch], dtype=np.float64),
                classes=np.array([r[5] for r in batch], dtype=np.int64),
                thresholds=np.array([r[6] for r in batch], dtype=np.float64),
                labels=[r[7] for r in batch],
            )

    def transaction(self, *, record: bool) -> Any:
        """The transaction a replay runs in: one snapshot of the log, read-only unless it
        records (then its inserts commit together at the end)."""
        return self.conn.transaction(isolation="repeatable_read", readonly=not record)

    async def record(
        self,
        model_name: str,
        version: str,
        threshold: float,
        prediction_ids: Sequence[str],
        created_at: Sequence[datetime],
        scores: np.ndarray,
        classes: np.ndarray,
    ) -> int:
        """Insert the replayed scores of ``version`` (source ``replay``); rows already there for
        this (prediction, version), from a replay or shadow scoring, are kept. Return the rows
        inserted."""
        status = await self.conn.execute(
            RECORD_SQL,
            version,
            model_name,
            threshold,
            list(prediction_ids),
            list(created_at),
            scores.tolist(),
            classes.astype(np.int16).tolist(),
        )
        return int(str(status).rsplit(" ", 1)[-1])

    async def _learn_names(self, model_name: str, batch: Sequence[Any]) -> None:
        missing = {r[2] for r in batch if r[2] not in self._names}
        if not missing:
            return
        for version in missing:
            self._names[version] = None
        for found in await self.conn.fetch(NAMES_SQL, model_name, sorted(missing)):
            self._names[found["model_version"]] = list(found["feature_names"])


class ReplayConnection:
    """One connection of the serving loop's pool for a replay (``async with``):
    DatabaseUnavailableError (503) when the log is off or its database cannot be reached."""

    def __init__(self, db: LogPool) -> None:
        self.db = db
        self._acquired: Any = None

    async def __aenter__(self) -> Any:
        db = self.db
        if not db.enabled:
            raise DatabaseUnavailableError(
                "the prediction log is off (PORTO_INFERENCE_PREDICTION_LOG=false): there is "
                "nothing to replay"
            )
        if not await db.ensure_ready():
            raise DatabaseUnavailableError(
                f"the prediction log database is not reachable: {db.last_error or 'connecting'}"
            )
        try:
            self._acquired = db.pool.acquire(timeout=db.settings.db_connect_timeout_s)
            return await self._acquired.__aenter__()
        except db.errors as exc:
            self._acquired = None
            raise DatabaseUnavailableError(
                f"the prediction log database did not answer: {type(exc).__name__}: {exc}"
            ) from exc

    async def __aexit__(self, *exc: Any) -> None:
        if self._acquired is not None:
            await self._acquired.__aexit__(*exc)
