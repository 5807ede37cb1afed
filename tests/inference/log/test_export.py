"""The prediction log's closed days exported as Parquet, against a real PostgreSQL and a real
MinIO: every row read back with pyarrow and equal to the table, a hive-partitioned table that
DuckDB queries, a verified day skipped, an interrupted export redone, retention that waits for
the export, and the command line's errors."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import json
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import duckdb
import porto_inference.log.export as export_module
import pyarrow.parquet as pq
import pytest
from harness.minio import MinioServer
from harness.ports import free_port
from inference.pg import sql
from porto.store import ArtifactStore, FileStore, S3Options, open_store
from porto_inference.cli import main
from porto_inference.log.database import migrate
from porto_inference.log.export import (
    COLUMNS,
    DayExport,
    ExportError,
    LogExporter,
    data_key,
    export_days,
    manifest_key,
)
from porto_inference.log.partitions import Partitions
from porto_inference.log.pool import LogPool
from porto_inference.monitoring.metrics import LogMetrics
from porto_inference.settings import Settings
from prometheus_client import CollectorRegistry

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()
#: Three closed days and today, with these many rows each.
DAYS = {
    TODAY - timedelta(days=3): 1_500,
    TODAY - timedelta(days=2): 1_200,
    TODAY - timedelta(days=1): 900,
}

# Rows as the API writes them: UUIDv7-like ids, features as bytea (non-ASCII text and a NUL
# escape among them), a request id and record id on some, latency on most, a label on every 7th.
# Version v1's rows hold JSON objects (logged before migration 0005), v2's arrays of values with
# the names in prediction_log_schemas, v3's arrays whose names were never recorded.
POPULATE_SQL = """
INSERT INTO prediction_log (prediction_id, created_at, model_name, model_version, endpoint,
    request_id, record_id, features, score, predicted_class, threshold, latency_ms, label,
    label_time)
SELECT gen_random_uuid(),
       $1::timestamptz + make_interval(secs => i * 86399.0 / $2),
       'porto', version,
       CASE WHEN i % 2 = 0 THEN '/predict' ELSE '/predict/batch' END,
       CASE WHEN i % 4 = 0 THEN NULL ELSE 'req-' || i END,
       CASE WHEN i % 5 = 0 THEN NULL ELSE (i * 7)::text END,
       convert_to(CASE WHEN version = 'v1'
           THEN '{"ps_car_13": ' || (i / 10.0)::text || ', "ps_ind_01": ' || (i % 8)::text
                || ', "city": "Zürich ☃", "nul": "a\\u0000b"}'
           ELSE '[' || (i / 10.0)::text || ',' || (i % 8)::text || ',"Zürich ☃","a\\u0000b"]'
       END, 'UTF8'),
       (i % 1000) / 1000.0, (i % 2)::smallint, 0.31,
       CASE WHEN i % 10 = 0 THEN NULL ELSE (i % 50) / 3.0 END,
       CASE WHEN i % 7 = 0 THEN (i % 2)::smallint END,
       CASE WHEN i % 7 = 0 THEN $1::timestamptz + interval '2 days' END
FROM generate_series(0, $2 - 1) AS i,
     LATERAL (SELECT CASE WHEN i % 11 = 0 THEN 'v3' WHEN i % 3 = 0 THEN 'v2' ELSE 'v1' END)
         AS v(version)
"""
SCHEMAS_SQL = """
INSERT INTO prediction_log_schemas (model_name, model_version, feature_names)
VALUES ('porto', 'v2', ARRAY['ps_car_13', 'ps_ind_01', 'city', 'nul']) ON CONFLICT DO NOTHING
"""

#: The table as the export should hold it: features by name, as the view gives them.
TABLE_SQL = """
SELECT prediction_id::text AS prediction_id, created_at, p.model_name, p.model_version, endpoint,
       request_id, record_id, porto_log_features(features, s.feature_names)::text AS features,
       score, predicted_class, threshold, latency_ms, label, label_time
FROM prediction_log AS p
LEFT JOIN prediction_log_schemas AS s USING (model_name, model_version)
WHERE created_at >= $1 AND created_at < $2 ORDER BY prediction_id
"""


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


async def _connect(url: str) -> Any:
    conn = await asyncpg.connect(url, timeout=10)
    await migrate(conn)
    return conn


def _populate(url: str, days: dict[date, int]) -> None:
    async def run() -> None:
        conn = await _connect(url)
        try:
            await conn.execute(SCHEMAS_SQL)
            for day, rows in days.items():
                await conn.fetchval("SELECT porto_log_partition($1)", day)
                await conn.execute(POPULATE_SQL, _midnight(day), rows)
            await conn.fetchval("SELECT porto_log_partition($1)", TODAY)
            await conn.execute(POPULATE_SQL, _midnight(TODAY), 10)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture
def populated(pg_url: str) -> str:
    """The harness database with the log of :data:`DAYS` (and a few rows today)."""
    _populate(pg_url, DAYS)
    return pg_url


@pytest.fixture
def s3_uri(minio_server: MinioServer, s3_options: S3Options) -> str:
    """A fresh bucket (and prefix) on the session's MinIO."""
    minio_server.start()
    uri = f"s3://porto-export-{secrets.token_hex(4)}/lake"
    open_store(uri, dataclasses.replace(s3_options, create_bucket=True)).check()
    return uri


def _settings(uri: str, minio: MinioServer | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"log_export_uri": uri, "prediction_log": True}
    if minio is not None:
        values.update(
            s3_endpoint_url=minio.endpoint,
            s3_access_key=minio.access_key,
            s3_secret_key=minio.secret_key,
        )
    values.update(overrides)
    return Settings(**values)


def _store(settings: Settings) -> ArtifactStore:
    uri = settings.resolved_export_uri
    return open_store(uri, settings.s3_options() if uri.startswith("s3://") else None)


def _export(settings: Settings, url: str, **kwargs: Any) -> list[DayExport]:
    return asyncio.run(export_days(settings, url, today=TODAY, **kwargs))


def _table(url: str, day: date) -> list[dict[str, Any]]:
    return sql(url, TABLE_SQL, _midnight(day), _midnight(day + timedelta(days=1)))


def _read(store: ArtifactStore, day: date) -> list[dict[str, Any]]:
    table = pq.read_table(io.BytesIO(store.get_bytes(data_key(day))))
    assert table.column_names == [c.name for c in COLUMNS]
    return sorted(table.to_pylist(), key=lambda r: r["prediction_id"])


def _assert_same_rows(exported: list[dict[str, Any]], table: list[dict[str, Any]]) -> None:
    assert len(exported) == len(table)
    for got, want in zip(exported, table, strict=True):
        latency = want.pop("latency_ms")
        got_latency = got.pop("latency_ms")
        # the same JSON value (PostgreSQL's json text spaces it differently)
        assert json.loads(got.pop("features")) == json.loads(want.pop("features"))
        assert got == want
        # real in PostgreSQL, float32 in Parquet: the same single-precision value
        assert got_latency == latency or got_latency == pytest.approx(latency, rel=1e-7)


def test_a_day_exports_to_s3_row_for_row(
    populated: str, minio_server: MinioServer, s3_uri: str
) -> None:
    day = TODAY - timedelta(days=2)
    settings = _settings(s3_uri, minio_server)
    (done,) = _export(settings, populated, day=day)
    assert not done.skipped and done.rows == DAYS[day]
    store = _store(settings)
    _assert_same_rows(_read(store, day), _table(populated, day))

    data = store.get_bytes(data_key(day))
    manifest = json.loads(store.get_bytes(manifest_key(day)))
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest() == done.sha256
    assert manifest["bytes"] == len(data)
    assert manifest["rows"] == DAYS[day] and manifest["schema_version"] == 1
    assert manifest["labelled"] == len([i for i in range(DAYS[day]) if i % 7 == 0])
    first, last = sql(
        populated,
        "SELECT min(created_at) AS a, max(created_at) AS b FROM prediction_log "
        "WHERE created_at >= $1 AND created_at < $2",
        _midnight(day),
        _midnight(day + timedelta(days=1)),
    )[0].values()
    assert datetime.fromisoformat(manifest["min_created_at"]) == first
    assert datetime.fromisoformat(manifest["max_created_at"]) == last
    (record,) = sql(populated, "SELECT * FROM prediction_log_exports")
    assert record["day"] == day and record["rows"] == DAYS[day]
    assert record["uri"] == f"{s3_uri}/prediction-log/day={day}/part-0000.parquet"
    assert record["sha256"] == done.sha256
    # statistics an engine prunes row groups with
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    stats = meta.row_group(0).column(1).statistics
    assert stats.min == first and stats.max == last


def test_large_days_stream_in_row_groups(pg_url: str, tmp_path: Path) -> None:
    """More rows than a fetch and a row group: several row groups, every row there once."""
    day = TODAY - timedelta(days=1)
    _populate(pg_url, {day: 25_000})
    store = FileStore(tmp_path)

    async def run() -> DayExport:
        conn = await _connect(pg_url)
        try:
            exporter = LogExporter(conn, store, fetch_rows=3_000, row_group_rows=10_000)
            return await exporter.export(day, today=TODAY)
        finally:
            await conn.close()

    done = asyncio.run(run())
    meta = pq.ParquetFile(tmp_path / data_key(day)).metadata
    assert (meta.num_rows, meta.num_row_groups) == (25_000, 3)
    assert done.rows == 25_000
    _assert_same_rows(_read(store, day), _table(pg_url, day))


def test_duckdb_reads_the_export_as_a_day_partitioned_table(populated: str, tmp_path: Path) -> None:
    settings = _settings(f"file://{tmp_path}")
    done = _export(settings, populated)
    assert [d.day for d in done] == sorted(DAYS) and not any(d.skipped for d in done)
    lake = duckdb.connect()
    glob = f"{tmp_path}/prediction-log/*/*.parquet"
    counted = lake.sql(
        f"SELECT day, count(*), count(label), sum(predicted_class), "
        f"count(*) FILTER (WHERE features->>'city' = 'Zürich ☃') "
        f"FROM read_parquet('{glob}', hive_partitioning = true) GROUP BY day ORDER BY day"
    ).fetchall()
    expected = sql(
        populated,
        "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n, count(label) AS l, "
        "sum(predicted_class) AS c, count(*) FILTER (WHERE model_version <> 'v3') AS z "
        "FROM prediction_log "
        "WHERE created_at < $1 GROUP BY 1 ORDER BY 1",
        _midnight(TODAY),
    )
    assert counted == [tuple(r.values()) for r in expected]
    # A query on the partition column reads that day only (the engine prunes by folder).
    one = lake.sql(
        f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning = true) "
        f"WHERE day = DATE '{min(DAYS)}'"
    ).fetchall()
    assert one == [(DAYS[min(DAYS)],)]


def test_a_verified_day_is_skipped_and_force_redoes_it(populated: str, tmp_path: Path) -> None:
    settings = _settings(str(tmp_path))
    day = TODAY - timedelta(days=1)
    (first,) = _export(settings, populated, day=day)
    (again,) = _export(settings, populated, day=day)
    assert again.skipped and (again.rows, again.sha256) == (first.rows, first.sha256)
    (forced,) = _export(settings, populated, day=day, force=True)
    assert not forced.skipped and forced.rows == first.rows
    # --before exports the days before it only, and skips the one already there
    done = _export(settings, populated, before=day + timedelta(days=1))
    assert [(d.day, d.skipped) for d in done] == [(d, d == day) for d in sorted(DAYS) if d <= day]


@pytest.mark.parametrize(
    "leftover",
    ["temp file", "file without manifest", "manifest of another file", "no record", "no file"],
)
def test_an_interrupted_export_is_redone(populated: str, tmp_path: Path, leftover: str) -> None:
    """Whatever a run that died left, the next one exports the day again, whole."""
    settings = _settings(str(tmp_path))
    store = _store(settings)
    day = TODAY - timedelta(days=3)
    folder = tmp_path / "prediction-log" / f"day={day}"
    if leftover == "temp file":
        folder.mkdir(parents=True)
        (folder / ".part-0000.parquet.x1y2.tmp").write_bytes(b"PAR1 half a file")
    elif leftover == "file without manifest":
        folder.mkdir(parents=True)
        (folder / "part-0000.parquet").write_bytes(b"PAR1 half a file")
    else:
        _export(settings, populated, day=day)
        if leftover == "manifest of another file":
            (folder / "part-0000.parquet").write_bytes(b"PAR1 another file")
            manifest = json.loads((folder / "_manifest.json").read_text())
            manifest["sha256"] = hashlib.sha256(b"PAR1 another file").hexdigest()
            (folder / "_manifest.json").write_text(json.dumps(manifest))
        elif leftover == "no record":
            sql(populated, "DELETE FROM prediction_log_exports")
        else:
            (folder / "part-0000.parquet").unlink()
    (done,) = _export(settings, populated, day=day)
    assert not done.skipped
    _assert_same_rows(_read(store, day), _table(populated, day))
    assert json.loads((folder / "_manifest.json").read_text())["sha256"] == done.sha256


@pytest.mark.parametrize("where", ["file", "s3"])
def test_an_export_that_fails_midway_leaves_nothing_that_looks_exported(
    populated: str, tmp_path: Path, where: str, request: pytest.FixtureRequest
) -> None:
    """A failure after some row groups were written (here: the progress line raises, as a
    kill would stop the loop) publishes no file, no manifest and no record; S3's multipart
    upload is aborted, a local temporary file removed. (Parts of 16 MiB: the rows here make a
    small file, so the S3 case goes through the single PUT path; tests/porto/test_store.py
    fails a 17 MiB multipart upload.)"""
    if where == "s3":
        minio: MinioServer = request.getfixturevalue("minio_server")
        settings = _settings(request.getfixturevalue("s3_uri"), minio)
    else:
        settings = _settings(str(tmp_path))
    store = _store(settings)
    day = TODAY - timedelta(days=3)

    def die(line: str) -> None:
        if "1,000 rows" in line:
            raise RuntimeError("killed")

    async def run() -> None:
        conn = await _connect(populated)
        try:
            exporter = LogExporter(conn, store, fetch_rows=100, row_group_rows=200, progress=die)
            with pytest.raises(RuntimeError, match="killed"):
                await exporter.export(day, today=TODAY)
        finally:
            await conn.close()

    asyncio.run(run())
    assert store.list_keys("prediction-log") == []
    assert sql(populated, "SELECT * FROM prediction_log_exports") == []
    if where == "file":
        assert not any(p.is_file() for p in tmp_path.rglob("*"))
    else:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=minio.endpoint,
            aws_access_key_id=minio.access_key,
            aws_secret_access_key=minio.secret_key,
            region_name="us-east-1",
        )
        bucket = settings.resolved_export_uri.removeprefix("s3://").split("/")[0]
        assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    (done,) = _export(settings, populated, day=day)
    assert done.rows == DAYS[day] and not done.skipped


def test_a_day_without_rows_is_an_empty_table(pg_url: str, tmp_path: Path) -> None:
    """A quiet day is exported too (0 rows), so retention that requires an export drops it."""
    day = TODAY - timedelta(days=2)
    _populate(pg_url, {day: 0})
    settings = _settings(str(tmp_path))
    (done,) = _export(settings, pg_url, day=day)
    assert done.rows == 0
    table = pq.read_table(tmp_path / data_key(day))
    assert table.num_rows == 0 and table.column_names == [c.name for c in COLUMNS]
    manifest = json.loads((tmp_path / manifest_key(day)).read_text())
    assert manifest["rows"] == 0 and manifest["min_created_at"] is None
    assert day in _day_partitions(pg_url)
    _maintain(pg_url, log_retention_days=1, log_retention_require_export=True)
    assert day not in _day_partitions(pg_url)


def test_today_and_missing_days_are_refused(populated: str, tmp_path: Path) -> None:
    settings = _settings(str(tmp_path))
    with pytest.raises(ExportError, match=r"is today .*export days before"):
        _export(settings, populated, day=TODAY)
    with pytest.raises(ExportError, match="in the future"):
        _export(settings, populated, day=TODAY + timedelta(days=1))
    with pytest.raises(ExportError, match="no partition prediction_log_p"):
        _export(settings, populated, day=TODAY - timedelta(days=40))
    assert list(tmp_path.iterdir()) == []


# --- retention that waits for the export ---------------------------------------------------------


def _maintain(url: str, **settings: Any) -> None:
    async def run() -> None:
        config = Settings(prediction_log=True, **settings)
        metrics = LogMetrics(CollectorRegistry())
        db = LogPool(config, metrics, url)
        assert await db.connect()
        try:
            await Partitions(config, metrics, db).maintain(TODAY)
        finally:
            await db.close()

    asyncio.run(run())


def _day_partitions(url: str) -> set[date]:
    rows = sql(
        url,
        "SELECT inhrelid::regclass::text AS name FROM pg_inherits "
        "WHERE inhparent = 'prediction_log'::regclass",
    )
    return {
        datetime.strptime(r["name"][-8:], "%Y%m%d").date()
        for r in rows
        if r["name"] != "prediction_log_default"
    }


def test_retention_that_requires_an_export_drops_only_exported_days(
    populated: str, tmp_path: Path
) -> None:
    oldest, middle, newest = sorted(DAYS)
    settings = _settings(str(tmp_path))
    _export(settings, populated, day=oldest)
    retention = {"log_retention_days": 1, "log_retention_require_export": True}

    _maintain(populated, **retention)
    days = _day_partitions(populated)
    assert oldest not in days and {middle, newest, TODAY} <= days

    # An export that no longer matches its day (a row written late) is forgotten, not trusted.
    _export(settings, populated, day=middle)
    sql(populated, POPULATE_SQL, _midnight(middle) + timedelta(hours=23), 1)
    _maintain(populated, **retention)
    assert middle in _day_partitions(populated)
    assert [r["day"] for r in sql(populated, "SELECT day FROM prediction_log_exports")] == [oldest]
    # ... so the next export run redoes it, and the next maintenance drops it.
    done = _export(settings, populated)
    assert [(d.day, d.skipped, d.rows) for d in done] == [
        (middle, False, DAYS[middle] + 1),
        (newest, False, DAYS[newest]),
    ]
    _maintain(populated, **retention)
    assert middle not in _day_partitions(populated)
    assert newest in _day_partitions(populated)  # within retention: kept, exported or not


def test_a_label_given_after_the_export_blocks_the_drop_until_exported_again(
    populated: str, tmp_path: Path
) -> None:
    oldest = min(DAYS)
    settings = _settings(str(tmp_path))
    _export(settings, populated, day=oldest)
    sql(
        populated,
        "UPDATE prediction_log SET label = 1, label_time = now() WHERE prediction_id = "
        "(SELECT prediction_id FROM prediction_log WHERE created_at >= $1 AND label IS NULL "
        "ORDER BY created_at LIMIT 1)",
        _midnight(oldest),
    )
    retention = {"log_retention_days": 1, "log_retention_require_export": True}
    _maintain(populated, **retention)
    assert oldest in _day_partitions(populated)
    (again,) = _export(settings, populated, day=oldest)
    assert not again.skipped
    _maintain(populated, **retention)
    assert oldest not in _day_partitions(populated)


def test_retention_without_the_setting_drops_exported_or_not(populated: str) -> None:
    _maintain(populated, log_retention_days=1)
    assert _day_partitions(populated).isdisjoint(
        {TODAY - timedelta(days=3), TODAY - timedelta(days=2)}
    )


def test_a_partition_being_exported_is_dropped_later_not_waited_for(populated: str) -> None:
    """Retention runs in a writer's thread: a day held by a reader is skipped at once."""
    oldest = min(DAYS)

    async def run() -> None:
        reader = await asyncpg.connect(populated, timeout=10)
        try:
            async with reader.transaction(isolation="repeatable_read", readonly=True):
                await reader.fetchval(f"SELECT count(*) FROM prediction_log_p{oldest:%Y%m%d}")
                await asyncio.wait_for(
                    asyncio.to_thread(_maintain, populated, log_retention_days=1), 30
                )
                name = f"prediction_log_p{oldest:%Y%m%d}"
                assert await reader.fetchval("SELECT to_regclass($1)", name) is not None
        finally:
            await reader.close()

    asyncio.run(run())
    _maintain(populated, log_retention_days=1)
    assert oldest not in _day_partitions(populated)


# --- the command line -----------------------------------------------------------------------------


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[int, str, str]]:
    # The command's clock is the module's: a run crossing midnight (UTC) must not turn the
    # populated "today" into a closed day, nor TODAY into yesterday.
    monkeypatch.setattr(export_module, "utc_today", lambda: TODAY)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["log-export", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_cli_exports_and_prints_progress(
    populated: str, tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    code, out, err = cli("--all-closed", "--to", str(tmp_path), "--database-url", populated)
    assert (code, err) == (0, "")
    for day, rows in DAYS.items():
        assert f"{day}: {rows:,} rows" in out
    assert "3 day(s) exported, 0 already there (3,600 rows)" in out
    code, out, _ = cli("--all-closed", "--to", str(tmp_path), "--database-url", populated)
    assert code == 0 and "0 day(s) exported, 3 already there" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--day", "2026-02-30"], "error: --day '2026-02-30' is not a date: give YYYY-MM-DD"),
        (["--before", "yesterday"], "error: --before 'yesterday' is not a date"),
        ([], "error: give exactly one of --day YYYY-MM-DD, --before YYYY-MM-DD, --all-closed"),
        (["--day", "2026-01-01", "--all-closed"], "error: give exactly one of"),
        (["--day", TODAY.isoformat()], f"error: {TODAY} is today (UTC): its partition is still"),
    ],
)
def test_cli_usage_errors(
    pg_url: str,
    tmp_path: Path,
    cli: Callable[..., tuple[int, str, str]],
    args: list[str],
    message: str,
) -> None:
    code, _, err = cli(*args, "--to", str(tmp_path), "--database-url", pg_url)
    assert code == 1 and err.startswith(message), err
    assert len(err.strip().splitlines()) == 1


def test_cli_database_down(tmp_path: Path, cli: Callable[..., tuple[int, str, str]]) -> None:
    url = f"postgresql://porto:secret@127.0.0.1:{free_port()}/porto"
    code, _, err = cli("--all-closed", "--to", str(tmp_path), "--database-url", url)
    assert code == 1
    assert err.startswith("error: cannot reach the prediction log's database at postgresql://")
    assert "secret" not in err and len(err.strip().splitlines()) == 1


def test_cli_bucket_down(
    populated: str,
    minio_server: MinioServer,
    cli: Callable[..., tuple[int, str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PORTO_S3_ACCESS_KEY", minio_server.access_key)
    monkeypatch.setenv("PORTO_S3_SECRET_KEY", minio_server.secret_key)
    monkeypatch.setenv("PORTO_S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    code, _, err = cli("--all-closed", "--to", "s3://porto-lake", "--database-url", populated)
    assert code == 1 and err.startswith("error: cannot reach S3 endpoint http://127.0.0.1:"), err
    monkeypatch.setenv("PORTO_S3_ENDPOINT_URL", minio_server.endpoint)
    bucket = f"porto-missing-{secrets.token_hex(4)}"
    code, _, err = cli("--all-closed", "--to", f"s3://{bucket}", "--database-url", populated)
    assert code == 1 and err.startswith(f"error: bucket '{bucket}' does not exist"), err
    assert sql(populated, "SELECT * FROM prediction_log_exports") == []


@pytest.fixture(autouse=True)
def _no_store_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The export's destination comes from each test, never from the environment."""
    for name in ("PORTO_INFERENCE_LOG_EXPORT_URI", "PORTO_INFERENCE_STORE_URI"):
        monkeypatch.delenv(name, raising=False)
    yield
