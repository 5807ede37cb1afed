"""Challengers' scores in ``challenger_predictions`` (migration 0007): the shadow writes and the
paired read the comparison is computed from.

A shadow row carries the served row's ``prediction_id`` and ``created_at``, so the join with
``prediction_log`` on both meets the label feedback gave the served prediction and, bounded by
``created_at``, reads only the day partitions of the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from porto_inference.log.pool import QUERY_TIMEOUT_S, LogPool

#: One statement per batch of rows, the values as arrays (parameters, never SQL text). A row
#: already there (the same prediction scored again by a replay, say) is kept as it was.
INSERT_SQL = """
INSERT INTO challenger_predictions
    (prediction_id, model_version, created_at, source, model_name, score, predicted_class,
     threshold)
SELECT u.prediction_id, $2, u.created_at, $1, $3, u.score, u.predicted_class, $4
FROM unnest($5::uuid[], $6::timestamptz[], $7::float8[], $8::int2[])
     AS u(prediction_id, created_at, score, predicted_class)
ON CONFLICT (prediction_id, model_version) DO NOTHING
"""

#: Labelled served rows with a challenger's score, newest first. Both tables are bounded by
#: ``created_at`` (the log's partitions are pruned); a challenger that is the served row's own
#: version compares nothing and is left out.
PAIRED_SQL = """
SELECT c.model_version AS challenger_version, p.model_version AS champion_version,
       p.created_at, p.label,
       p.score AS champion_score, p.predicted_class AS champion_class,
       c.score AS challenger_score, c.predicted_class AS challenger_class
FROM challenger_predictions AS c
JOIN prediction_log AS p
  ON p.prediction_id = c.prediction_id AND p.created_at = c.created_at
WHERE c.model_name = $1
  AND p.model_name = $1
  AND c.source = $2
  AND c.created_at >= now() - make_interval(secs => $3)
  AND p.created_at >= now() - make_interval(secs => $3)
  AND p.label IS NOT NULL
  AND c.model_version <> p.model_version
ORDER BY p.created_at DESC
LIMIT $4
"""


@dataclass(frozen=True, slots=True)
class ChallengerScores:
    """One challenger version's scores of served rows (one or more requests'), each under the
    served row's prediction id and time."""

    model_name: str
    model_version: str
    threshold: float
    prediction_ids: list[str]
    created_at: list[datetime]
    scores: list[float]
    classes: list[int]


async def write_scores(db: LogPool, scored: ChallengerScores, source: str = "shadow") -> None:
    """Insert ``scored`` (one statement). Database errors propagate: the caller counts them."""
    pool: Any = db.pool
    if pool is None:
        raise ConnectionError(f"the prediction log database is not reachable: {db.last_error}")
    async with pool.acquire(timeout=QUERY_TIMEOUT_S) as conn:
        await conn.execute(
            INSERT_SQL,
            source,
            scored.model_version,
            scored.model_name,
            scored.threshold,
            scored.prediction_ids,
            scored.created_at,
            scored.scores,
            scored.classes,
            timeout=QUERY_TIMEOUT_S,
        )


async def paired_rows(
    db: LogPool, model_name: str, window_s: float, limit: int, source: str = "shadow"
) -> list[Any]:
    """The newest ``limit`` labelled served rows of the last ``window_s`` seconds that a
    challenger also scored, one row per (prediction, challenger version). Raises
    DatabaseUnavailableError (503) when the log cannot answer."""
    return await db.read(PAIRED_SQL, model_name, source, window_s, limit)
