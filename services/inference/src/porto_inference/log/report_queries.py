"""The prediction log's reads for a version's report: per time bucket, a bounded random sample
of the served rows (features and score), the rows served, and the labelled rows.

Every query names one model version and a ``[since, until)`` window on ``created_at``, so only
the window's day partitions are read; the sample is drawn per bucket with a ``LATERAL`` top-N
(``ORDER BY random() LIMIT n``: memory bounded by n whatever the bucket holds, and each bucket
pruned to its own partitions at run time).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from porto_inference.log.queries import LogQueries

SAMPLE_SQL = """
SELECT b.bucket, r.features, r.score
FROM generate_series($3::timestamptz, $4::timestamptz - make_interval(secs => $5),
                     make_interval(secs => $5)) AS b(bucket)
CROSS JOIN LATERAL (
    SELECT features, score, model_version
    FROM prediction_log
    WHERE model_name = $1
      AND model_version = $2
      AND created_at >= b.bucket
      AND created_at < b.bucket + make_interval(secs => $5)
    ORDER BY random()
    LIMIT $6
) AS r
"""

SERVED_SQL = """
SELECT date_bin(make_interval(secs => $5), created_at, $3::timestamptz) AS bucket,
       count(*) AS served
FROM prediction_log
WHERE model_name = $1
  AND model_version = $2
  AND created_at >= $3::timestamptz
  AND created_at < $4::timestamptz
GROUP BY 1
ORDER BY 1
"""

LABELLED_SQL = """
SELECT created_at, score, predicted_class, label
FROM prediction_log
WHERE model_name = $1
  AND model_version = $2
  AND label IS NOT NULL
  AND created_at >= $3::timestamptz
  AND created_at < $4::timestamptz
ORDER BY created_at DESC
LIMIT $5
"""


async def sampled_rows(
    log: LogQueries,
    model_name: str,
    version: str,
    since: datetime,
    until: datetime,
    bucket_s: int,
    per_bucket: int,
) -> list[dict[str, Any]]:
    """At most ``per_bucket`` random served rows of each ``bucket_s`` bucket from ``since``:
    ``bucket``, ``features`` (by name) and ``score``."""
    rows = await log.db.read(
        SAMPLE_SQL, model_name, version, since, until, float(bucket_s), per_bucket
    )
    # _decoded keys the names by version; the sample rows all have this one.
    return await log._decoded(model_name, [{**dict(r), "model_version": version} for r in rows])


async def served_counts(
    log: LogQueries, model_name: str, version: str, since: datetime, until: datetime, bucket_s: int
) -> dict[datetime, int]:
    """Rows of the version served per bucket start."""
    rows = await log.db.read(SERVED_SQL, model_name, version, since, until, float(bucket_s))
    return {r["bucket"]: int(r["served"]) for r in rows}


async def labelled_rows(
    log: LogQueries, model_name: str, version: str, since: datetime, until: datetime, limit: int
) -> list[Any]:
    """The newest ``limit`` labelled predictions of the version made in the window."""
    return await log.db.read(LABELLED_SQL, model_name, version, since, until, limit)
