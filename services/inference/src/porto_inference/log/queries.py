"""The read side of the prediction log: the /monitoring queries and the live-quality window.

The log is partitioned by ``created_at`` (one partition per day): a query bounded by
``created_at`` reads only the partitions of its window (tests/inference/log/test_partitions.py
checks each). The label-time queries (realized quality) cannot be: a label may come any time
after its prediction; they read the partial index of labelled rows, one probe per partition.

Every query is bounded by a time window and a row limit (the callers validate both) and runs
with a timeout (:data:`porto_inference.log.pool.QUERY_TIMEOUT_S`), so a monitoring page cannot
load the database the way an unbounded ``SELECT *`` would.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from porto_inference.log.features import NAMES_SQL, decode_features
from porto_inference.log.pool import LogPool

RECENT_SQL = """
SELECT prediction_id::text AS prediction_id, created_at, model_version, endpoint, record_id,
       score, predicted_class, threshold, latency_ms, label, label_time{features}
FROM prediction_log
WHERE model_name = $1
  AND created_at >= now() - make_interval(mins => $2)
  AND ($3::text IS NULL OR model_version = $3)
ORDER BY created_at DESC
LIMIT $4
"""

THROUGHPUT_SQL = """
WITH bounds AS (
    SELECT date_trunc('minute', now()) AS last_minute
), minutes AS (
    SELECT generate_series(last_minute - make_interval(mins => $2 - 1), last_minute,
                           interval '1 minute') AS minute
    FROM bounds
), counted AS (
    SELECT date_trunc('minute', created_at) AS minute,
           count(*) AS predictions,
           sum(predicted_class) AS positives,
           avg(score) AS mean_score,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_latency_ms
    FROM prediction_log
    WHERE model_name = $1
      -- spelled out (not bounds.last_minute): a value PostgreSQL knows at executor start is
      -- what lets it skip the day partitions before the window
      AND created_at >= date_trunc('minute', now()) - make_interval(mins => $2 - 1)
      AND ($3::text IS NULL OR model_version = $3)
    GROUP BY 1
)
SELECT m.minute, coalesce(c.predictions, 0) AS predictions,
       coalesce(c.positives, 0) AS positives, c.mean_score, c.p95_latency_ms
FROM minutes AS m LEFT JOIN counted AS c USING (minute)
ORDER BY m.minute
"""

SCORE_HISTOGRAM_SQL = """
SELECT date_bin(make_interval(mins => $3), created_at, $2::timestamptz) AS bucket,
       least(greatest(width_bucket(score, 0.0, $6::float8, $4), 1), $4) AS bin,
       count(*) AS n
FROM prediction_log
WHERE model_name = $1
  AND created_at >= $2::timestamptz
  AND ($5::text IS NULL OR model_version = $5)
GROUP BY 1, 2
"""

SCORE_SUMMARY_SQL = """
SELECT date_bin(make_interval(mins => $3), created_at, $2::timestamptz) AS bucket,
       count(*) AS n,
       avg(score) AS mean,
       percentile_cont(ARRAY[0.1, 0.5, 0.9]) WITHIN GROUP (ORDER BY score) AS quantiles
FROM prediction_log
WHERE model_name = $1
  AND created_at >= $2::timestamptz
  AND ($4::text IS NULL OR model_version = $4)
GROUP BY 1
ORDER BY 1
"""

DRIFT_SQL = """
SELECT model_version, features, score
FROM prediction_log
WHERE model_name = $1
  AND model_version = $2
  AND created_at >= now() - make_interval(mins => $3)
ORDER BY created_at DESC
LIMIT $4
"""

QUALITY_SQL = """
SELECT model_version, score, predicted_class, label, label_time, created_at
FROM prediction_log
WHERE model_name = $1
  AND label IS NOT NULL
  AND label_time >= now() - make_interval(mins => $2)
  AND ($3::text IS NULL OR model_version = $3)
ORDER BY label_time DESC
LIMIT $4
"""

WINDOW_SQL = """
SELECT model_version, score, predicted_class, label
FROM (
    SELECT model_version, score, predicted_class, label,
           row_number() OVER (PARTITION BY model_version ORDER BY label_time DESC) AS recency
    FROM prediction_log
    WHERE model_name = $1
      AND label IS NOT NULL
      AND label_time >= now() - make_interval(secs => $2)
) AS recent
WHERE recency <= $3
"""


class LogQueries:
    """The queries monitoring makes of the prediction log, through its pool."""

    def __init__(self, db: LogPool) -> None:
        self.db = db
        #: Feature names per (model name, version): a version's never change.
        self._names: dict[tuple[str, str], list[str]] = {}

    async def recent(
        self, model_name: str, minutes: int, version: str | None, limit: int, *, features: bool
    ) -> list[Any]:
        """The newest logged predictions (with their features by name when asked), newest
        first."""
        sql = RECENT_SQL.format(features=", features" if features else "")
        rows = await self.db.read(sql, model_name, minutes, version, limit)
        return await self._decoded(model_name, rows) if features else rows

    async def _decoded(self, model_name: str, rows: list[Any]) -> list[dict[str, Any]]:
        """``rows`` as dicts with their ``features`` as ``{name: value}``."""
        versions = {r["model_version"] for r in rows}
        unknown = [v for v in versions if (model_name, v) not in self._names]
        if unknown:
            for found in await self.db.read(NAMES_SQL, model_name, unknown):
                self._names[(model_name, found["model_version"])] = list(found["feature_names"])
        out = []
        for r in rows:
            row = dict(r)
            names = self._names.get((model_name, r["model_version"]))
            row["features"] = decode_features(r["features"], names)
            out.append(row)
        return out

    async def throughput(self, model_name: str, minutes: int, version: str | None) -> list[Any]:
        """Predictions per minute over the last ``minutes`` (every minute, zeros included)."""
        return await self.db.read(THROUGHPUT_SQL, model_name, minutes, version)

    async def score_histogram(
        self,
        model_name: str,
        since: datetime,
        bucket_minutes: int,
        bins: int,
        version: str | None,
        high: float,
    ) -> list[Any]:
        """Score counts per time bucket and score bin."""
        return await self.db.read(
            SCORE_HISTOGRAM_SQL, model_name, since, bucket_minutes, bins, version, high
        )

    async def score_summary(
        self, model_name: str, since: datetime, bucket_minutes: int, version: str | None
    ) -> list[Any]:
        """Count, mean and deciles of the score per time bucket."""
        return await self.db.read(SCORE_SUMMARY_SQL, model_name, since, bucket_minutes, version)

    async def scored_features(
        self, model_name: str, version: str, minutes: int, limit: int
    ) -> list[Any]:
        """The newest rows' features (by name) and scores of one version (the drift sample)."""
        rows = await self.db.read(DRIFT_SQL, model_name, version, minutes, limit)
        return await self._decoded(model_name, rows)

    async def labelled(
        self, model_name: str, minutes: int, version: str | None, limit: int
    ) -> list[Any]:
        """The newest labelled predictions (feedback within ``minutes``)."""
        return await self.db.read(QUALITY_SQL, model_name, minutes, version, limit)

    async def quality_window(
        self, model_name: str, window_s: float, window_rows: int
    ) -> list[Any] | None:
        """The live-quality window's labelled rows per version; None while there is no pool.
        Errors propagate: the quality monitor's periodic task logs them and tries again."""
        pool: Any = self.db.pool
        if pool is None:
            return None
        async with pool.acquire() as conn:
            rows: list[Any] = await conn.fetch(WINDOW_SQL, model_name, window_s, window_rows)
            return rows
