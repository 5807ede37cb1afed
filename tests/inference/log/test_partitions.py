"""The prediction log's day partitions against a real PostgreSQL: created ahead, dropped past
retention, measured; an unpartitioned log converted without losing a row; monitoring queries
that read only the partitions of their window."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from inference.pg import sql
from porto_inference.log import queries
from porto_inference.log.database import load_migrations, migrate
from porto_inference.log.partitions import DAYS_AHEAD, Partitions, partition_day
from porto_inference.log.pool import LogPool
from porto_inference.monitoring.metrics import LogMetrics
from porto_inference.settings import Settings
from prometheus_client import CollectorRegistry

pytestmark = pytest.mark.integration

INSERT_SQL = """
INSERT INTO prediction_log (prediction_id, created_at, model_name, model_version, endpoint,
                            features, score, predicted_class, threshold)
SELECT gen_random_uuid(), t, 'porto', 'v1', '/predict', convert_to('{"x": 1}', 'UTF8'),
       0.5, 1, 0.5
FROM unnest($1::timestamptz[]) AS t
"""


def _midday(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def _partitions(url: str) -> set[str]:
    rows = sql(
        url,
        "SELECT inhrelid::regclass::text AS name FROM pg_inherits "
        "WHERE inhparent = 'prediction_log'::regclass",
    )
    return {r["name"] for r in rows}


def _day_name(day: date) -> str:
    return f"prediction_log_p{day:%Y%m%d}"


async def _maintain(url: str, today: date, retention_days: int) -> tuple[Any, LogMetrics]:
    settings = Settings(prediction_log=True, log_retention_days=retention_days)
    metrics = LogMetrics(CollectorRegistry())
    db = LogPool(settings, metrics, url)
    assert await db.connect()
    try:
        return await Partitions(settings, metrics, db).maintain(today), metrics
    finally:
        await db.close()


def _gauge(metric: Any) -> float:
    return float(metric._value.get())


def test_partition_day_reads_only_day_partitions() -> None:
    assert partition_day("prediction_log_p20261204") == date(2026, 12, 4)
    assert partition_day("prediction_log_default") is None
    assert partition_day("prediction_log_p2026120") is None


def test_maintain_creates_ahead_and_drops_past_retention(url: str) -> None:
    today = datetime.now(UTC).date()
    asyncio.run(_maintain(url, today, 0))  # migrates, creates today's and the days ahead
    old, kept = today - timedelta(days=40), today - timedelta(days=5)
    for day in (old, kept):
        sql(url, "SELECT porto_log_partition($1)", day)
        sql(url, INSERT_SQL, [_midday(day)] * 3)
    sql(url, INSERT_SQL, [_midday(today - timedelta(days=60))])  # only the default holds it

    size, metrics = asyncio.run(_maintain(url, today, 30))

    names = _partitions(url)
    assert _day_name(old) not in names and _day_name(kept) in names
    for offset in range(DAYS_AHEAD + 1):
        assert _day_name(today + timedelta(days=offset)) in names
    assert "prediction_log_default" in names
    assert sql(url, "SELECT count(*) AS n FROM prediction_log") == [{"n": 3}]
    assert size.oldest == _midday(kept)
    assert _gauge(metrics.log_oldest_row) == _midday(kept).timestamp()
    assert _gauge(metrics.log_size_bytes) == size.bytes > 0
    assert _gauge(metrics.log_partitions) == len(names)


def test_retention_off_keeps_everything(url: str) -> None:
    today = datetime.now(UTC).date()
    asyncio.run(_maintain(url, today, 0))
    ancient = today - timedelta(days=400)
    sql(url, "SELECT porto_log_partition($1)", ancient)
    sql(url, INSERT_SQL, [_midday(ancient)])
    size, _ = asyncio.run(_maintain(url, today, 0))
    assert _day_name(ancient) in _partitions(url)
    assert size.oldest == _midday(ancient)


def test_a_day_without_its_partition_waits_in_the_default_one_then_moves(url: str) -> None:
    today = datetime.now(UTC).date()
    asyncio.run(_maintain(url, today, 0))
    later = today + timedelta(days=10)
    sql(url, INSERT_SQL, [_midday(later)] * 4)
    assert sql(url, "SELECT count(*) AS n FROM prediction_log_default") == [{"n": 4}]
    sql(url, "SELECT porto_log_partition($1)", later)
    assert sql(url, f"SELECT count(*) AS n FROM {_day_name(later)}") == [{"n": 4}]
    assert sql(url, "SELECT count(*) AS n FROM prediction_log_default") == [{"n": 0}]


async def _migrate_up_to(conn: Any, last: int) -> None:
    """Apply migrations 1..``last`` as :func:`migrate` would (the schema of an older porto)."""
    await conn.execute(
        "CREATE TABLE porto_schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
        "checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    for m in load_migrations():
        if m.version <= last:
            await conn.execute(m.sql)
            await conn.execute(
                "INSERT INTO porto_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                m.version,
                m.name,
                m.checksum,
            )


def test_the_migration_converts_a_populated_log_without_losing_a_row(url: str) -> None:
    """An unpartitioned prediction_log (migrations 1-3) with rows over three days, labels on
    some: migration 0004 moves every row into its day partition, features byte for byte as
    JSON, labels kept."""
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [
        (uuid.uuid4(), now - timedelta(days=i % 3, minutes=i), {"x": i, "c": f"k{i}"}, i % 2)
        for i in range(1500)
    ]

    async def run() -> list[str]:
        conn = await asyncpg.connect(url)
        try:
            await _migrate_up_to(conn, 3)
            await conn.executemany(
                "INSERT INTO prediction_log (prediction_id, created_at, model_name, "
                "model_version, endpoint, features, score, predicted_class, threshold, label, "
                "label_time) VALUES ($1, $2, 'porto', 'v0', '/predict', $3::jsonb, 0.25, 0, "
                "0.5, $4::smallint, CASE WHEN $4::smallint = 1 THEN now() END)",
                [(pid, t, json.dumps(f), label) for pid, t, f, label in rows],
            )
            return await migrate(conn)
        finally:
            await conn.close()

    applied = asyncio.run(run())
    assert applied[0] == "0004_partitioned_log"
    assert sql(url, "SELECT to_regclass('prediction_log_unpartitioned') AS t") == [{"t": None}]
    kept = {
        r["id"]: r
        for r in sql(
            url,
            "SELECT prediction_id AS id, created_at, features, label FROM prediction_log",
        )
    }
    assert len(kept) == len(rows)
    for pid, created_at, features, label in rows:
        row = kept[pid]
        assert row["created_at"] == created_at
        assert json.loads(bytes(row["features"])) == features
        assert row["label"] == label
    days = {partition_day(n) for n in _partitions(url)} - {None}
    assert {(now - timedelta(days=d)).date() for d in range(3)} <= days
    by_name = sql(
        url, "SELECT count(*) AS n FROM prediction_log_features WHERE features->>'x' = '7'"
    )
    assert by_name == [{"n": 1}]


def _scanned(url: str, query: str, *args: Any) -> set[str]:
    """The relations a query reads, from EXPLAIN ANALYZE (partitions pruned at executor start
    do not appear)."""
    plan = sql(url, "EXPLAIN (ANALYZE, FORMAT JSON) " + query, *args)[0]["QUERY PLAN"]
    found: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if "Relation Name" in node:
            found.add(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(json.loads(plan)[0]["Plan"])
    return found


def test_monitoring_queries_read_only_the_partitions_of_their_window(url: str) -> None:
    today = datetime.now(UTC).date()
    asyncio.run(_maintain(url, today, 0))
    for back in range(1, 8):
        day = today - timedelta(days=back)
        sql(url, "SELECT porto_log_partition($1)", day)
        sql(url, INSERT_SQL, [_midday(day)] * 5)
    sql(url, INSERT_SQL, [datetime.now(UTC)] * 5)
    old = {_day_name(today - timedelta(days=back)) for back in range(2, 8)}
    since = datetime.now(UTC) - timedelta(hours=1)
    checks = [
        (queries.RECENT_SQL.format(features=", features"), ("porto", 60, None, 100)),
        (queries.THROUGHPUT_SQL, ("porto", 60, None)),
        (queries.SCORE_HISTOGRAM_SQL, ("porto", since, 5, 10, None, 1.0)),
        (queries.SCORE_SUMMARY_SQL, ("porto", since, 5, None)),
        (queries.DRIFT_SQL, ("porto", "v1", 60, 100)),
    ]
    for query, args in checks:
        scanned = _scanned(url, query, *args)
        assert _day_name(today) in scanned, query
        assert not scanned & old, (query, sorted(scanned & old))


def _insert_vacuum_off(url: str) -> set[str]:
    """The partitions whose insert-triggered autovacuum is off."""
    rows = sql(
        url,
        "SELECT c.relname AS name FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'prediction_log'::regclass "
        "AND c.reloptions @> ARRAY['autovacuum_vacuum_insert_threshold=-1']",
    )
    return {r["name"] for r in rows}


def test_insert_vacuums_are_off_while_a_day_is_written_and_back_once_it_closes(url: str) -> None:
    today = datetime.now(UTC).date()
    asyncio.run(_maintain(url, today, 0))
    open_days = {_day_name(today + timedelta(days=d)) for d in range(DAYS_AHEAD + 1)}
    assert _insert_vacuum_off(url) == open_days
    yesterday = today - timedelta(days=1)
    sql(url, "SELECT porto_log_partition($1)", yesterday)
    # as maintenance left it while yesterday was today:
    sql(url, f"ALTER TABLE {_day_name(yesterday)} SET (autovacuum_vacuum_insert_threshold = -1)")
    assert _day_name(yesterday) in _insert_vacuum_off(url)

    asyncio.run(_maintain(url, today, 0))
    assert _insert_vacuum_off(url) == open_days  # yesterday closed
    options = sql(url, "SELECT reloptions FROM pg_class WHERE relname = $1", _day_name(yesterday))
    assert options == [{"reloptions": None}]

    asyncio.run(_maintain(url, today + timedelta(days=1), 0))  # a day later
    assert _day_name(today) not in _insert_vacuum_off(url)
    assert _day_name(today + timedelta(days=1)) in _insert_vacuum_off(url)
    assert "prediction_log_default" not in _insert_vacuum_off(url)


def test_maintenance_marks_partitions_that_existed_before(url: str) -> None:
    """Partitions made before porto paced vacuums (or by the conversion of migration 0004):
    the first maintenance turns the option off on the open days and leaves the closed ones."""
    today = datetime.now(UTC).date()
    earlier = today - timedelta(days=3)
    asyncio.run(_maintain(url, today, 0))
    sql(url, "SELECT porto_log_partition($1)", earlier)
    for offset in range(DAYS_AHEAD + 1):
        name = _day_name(today + timedelta(days=offset))
        sql(url, f"ALTER TABLE {name} RESET (autovacuum_vacuum_insert_threshold)")
    assert _insert_vacuum_off(url) == set()
    asyncio.run(_maintain(url, today, 0))
    assert _day_name(earlier) not in _insert_vacuum_off(url)
    assert _day_name(today) in _insert_vacuum_off(url)
