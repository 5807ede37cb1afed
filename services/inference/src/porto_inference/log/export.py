"""Closed days of the prediction log exported as Parquet to the object store, for a lakehouse
query engine (DuckDB, Trino, Spark, Athena) once one PostgreSQL is not enough (docs/SCALING.md).

A closed day is a UTC day before today: today's partition is still written. Its rows go to

    <store>/prediction-log/day=YYYY-MM-DD/part-0000.parquet   the rows (hive-style partition)
    <store>/prediction-log/day=YYYY-MM-DD/_manifest.json      written after the file

so an engine reads ``prediction-log/`` as one table partitioned by ``day`` (files starting with
``_`` or ``.`` are hidden to them). Columns, in :data:`COLUMNS`: ``prediction_id`` as its
canonical text (36 characters: what the API answers and ``/feedback`` takes, and a type every
engine reads, where Parquet's UUID annotation is not), timestamps in microseconds adjusted to
UTC, ``features`` as a JSON object by feature name, as ``prediction_log_features`` gives it
(query it with the engine's JSON functions, e.g. DuckDB's ``features->>'ps_car_13'``): a row
logged as its values alone (migration 0005) gets its version's names back here, from
``prediction_log_schemas``, so the lake needs no side table; classes and labels as 16-bit
integers. Every column of ``prediction_log`` is there: once retention drops the day, the file
is the log.

Streaming and bounded: the rows are read with a server-side cursor in a repeatable-read,
read-only transaction (one consistent snapshot), :data:`FETCH_ROWS` at a time, written by
:class:`~porto_inference.log.parquet.ParquetWriter` in row groups of at most
``row_group_rows`` rows, and streamed to the store (:meth:`porto.store.ArtifactStore.upload`:
a temporary file renamed into place, an S3 multipart upload completed at the end): memory holds
one fetch and one row group's compressed pages, never the day.

Idempotent and resumable. The file appears whole or not at all; the manifest (rows, sha256 and
size of the file, first and last ``created_at``, schema version) is written after it, and the
``prediction_log_exports`` row after the manifest. A day counts as exported only when all three
agree (:meth:`LogExporter.verified`): a run that died anywhere before leaves a day that the next
run exports again, over whatever it left. A verified day is skipped unless ``force``. One export
of a day at a time (an advisory lock per day).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from porto.errors import NotFoundError, PortoError
from porto.store import ArtifactStore, Upload, open_store
from pydantic import BaseModel, ValidationError

from porto_inference.log.database import command_connection
from porto_inference.log.features import NAMES_SQL, decode_features
from porto_inference.log.parquet import Column, ParquetWriter
from porto_inference.log.partitions import PARTITIONS_SQL, partition_day
from porto_inference.settings import Settings

#: Version of the file layout below; bumped when a column changes.
SCHEMA_VERSION = 1
#: The table's folder in the store.
PREFIX = "prediction-log"
DATA_FILE = "part-0000.parquet"
MANIFEST_FILE = "_manifest.json"
#: Rows per cursor fetch (and per Parquet page).
FETCH_ROWS = 10_000
#: Rows per Parquet row group (the unit engines read and skip by statistics).
ROW_GROUP_ROWS = 100_000
#: pg_try_advisory_lock(class, day) class for exports (ASCII "pe").
EXPORT_LOCK_CLASS = 0x7065

COLUMNS: tuple[Column, ...] = (
    Column("prediction_id", "string"),
    Column("created_at", "timestamp_us"),
    Column("model_name", "string"),
    Column("model_version", "string"),
    Column("endpoint", "string"),
    Column("request_id", "string", nullable=True),
    Column("record_id", "string", nullable=True),
    Column("features", "string"),
    Column("score", "float64"),
    Column("predicted_class", "int16"),
    Column("threshold", "float64"),
    Column("latency_ms", "float32", nullable=True),
    Column("label", "int16", nullable=True),
    Column("label_time", "timestamp_us", nullable=True),
)

# Timestamps leave PostgreSQL as microseconds since the epoch (extract is exact numeric since
# PostgreSQL 14), text as text: the columns need no per-value conversion in Python but encode().
EXPORT_SQL = """
SELECT prediction_id::text,
       (extract(epoch FROM created_at) * 1000000)::bigint,
       model_name, model_version, endpoint, request_id, record_id, features, score, predicted_class,
       threshold, latency_ms, label,
       (extract(epoch FROM label_time) * 1000000)::bigint
FROM prediction_log
WHERE created_at >= $1 AND created_at < $2
"""
#: Which of EXPORT_SQL's columns are text (encoded to UTF-8 for the writer).
_TEXT = frozenset({0, 2, 3, 4, 5, 6})
_MODEL, _VERSION, _FEATURES, _LABEL = 2, 3, 7, 12

RECORD_SQL = "SELECT uri, rows, labelled, bytes, sha256 FROM prediction_log_exports WHERE day = $1"
UPSERT_SQL = """
INSERT INTO prediction_log_exports (day, uri, rows, labelled, bytes, sha256, exported_at)
VALUES ($1, $2, $3, $4, $5, $6, now())
ON CONFLICT (day) DO UPDATE SET uri = excluded.uri, rows = excluded.rows,
    labelled = excluded.labelled, bytes = excluded.bytes, sha256 = excluded.sha256,
    exported_at = excluded.exported_at
"""


def utc_today() -> date:
    """Today's UTC date: the first day that is not closed (one place, so tests can pin it)."""
    return datetime.now(UTC).date()


class ExportError(PortoError):
    """A day that cannot be exported as asked (today's, no partition, already running)."""

    status_code = 409


class ExportManifest(BaseModel):
    """``_manifest.json``: what the file beside it holds, written after it."""

    schema_version: int
    day: date
    file: str
    rows: int
    labelled: int
    bytes: int
    sha256: str
    min_created_at: datetime | None
    max_created_at: datetime | None
    exported_at: datetime
    columns: list[dict[str, Any]]


@dataclass(frozen=True)
class DayExport:
    """What exporting one day did (``skipped``: it was already exported and verified)."""

    day: date
    uri: str
    rows: int
    labelled: int
    bytes: int
    sha256: str
    seconds: float
    skipped: bool = False


def data_key(day: date) -> str:
    """The Parquet file's key in the store."""
    return f"{PREFIX}/day={day.isoformat()}/{DATA_FILE}"


def manifest_key(day: date) -> str:
    """The manifest's key in the store."""
    return f"{PREFIX}/day={day.isoformat()}/{MANIFEST_FILE}"


def utc_bounds(day: date) -> tuple[datetime, datetime]:
    """The day's [start, end) in UTC: its partition's range."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _micros_to_datetime(value: int | None) -> datetime | None:
    if value is None:
        return None
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)


class _HashingSink:
    """Counts and hashes what goes to the upload (the manifest's sha256 and size, without a
    second read of the file)."""

    def __init__(self, upload: Upload) -> None:
        self.upload = upload
        self.digest = hashlib.sha256()
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.bytes += len(data)
        return self.upload.write(data)


class LogExporter:
    """Exports closed days of the prediction log on ``conn`` (an asyncpg connection, migrated)
    to ``store``; ``progress`` receives a line now and then."""

    def __init__(
        self,
        conn: Any,
        store: ArtifactStore,
        *,
        fetch_rows: int = FETCH_ROWS,
        row_group_rows: int = ROW_GROUP_ROWS,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.conn = conn
        self.store = store
        self.fetch_rows = fetch_rows
        self.row_group_rows = row_group_rows
        self.progress = progress or (lambda _line: None)

    def uri(self, day: date) -> str:
        """Where the day's file lives."""
        return f"{self.store.uri}/{data_key(day)}"

    async def closed_days(self, today: date, before: date | None = None) -> list[date]:
        """The days that have a partition and are before ``today`` (and ``before``), oldest
        first."""
        limit = min(today, before) if before is not None else today
        days = {partition_day(row["name"]) for row in await self.conn.fetch(PARTITIONS_SQL)}
        return sorted(d for d in days if d is not None and d < limit)

    def read_manifest(self, day: date) -> ExportManifest | None:
        """The day's manifest, or None when there is none or it does not parse."""
        try:
            return ExportManifest.model_validate_json(self.store.get_bytes(manifest_key(day)))
        except NotFoundError:
            return None
        except ValidationError:
            return None

    async def verified(self, day: date) -> bool:
        """Whether the day is exported here: its recorded export names this store's file, the
        manifest matches the record (rows, sha256, size) and the file exists."""
        record = await self.conn.fetchrow(RECORD_SQL, day)
        if record is None or record["uri"] != self.uri(day):
            return False
        manifest = self.read_manifest(day)
        return (
            manifest is not None
            and manifest.schema_version == SCHEMA_VERSION
            and manifest.rows == record["rows"]
            and manifest.labelled == record["labelled"]
            and manifest.sha256 == record["sha256"]
            and manifest.bytes == record["bytes"]
            and self.store.exists(data_key(day))
        )

    async def export(self, day: date, *, today: date, force: bool = False) -> DayExport:
        """Export ``day`` (skipped when already verified, unless ``force``); ExportError for
        today's or a later day, a day without a partition, or one another run is exporting."""
        if day >= today:
            raise ExportError(
                f"{day} is {'today' if day == today else 'in the future'} (UTC): its partition "
                f"is still written; export days before {today}"
            )
        name = f"prediction_log_p{day:%Y%m%d}"
        if await self.conn.fetchval("SELECT to_regclass($1)", name) is None:
            raise ExportError(
                f"no partition {name} for {day}: dropped past retention, or never written"
            )
        lock = (EXPORT_LOCK_CLASS, day.toordinal())
        if not await self.conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", *lock):
            raise ExportError(f"another export of {day} is running")
        try:
            if not force and await self.verified(day):
                record = await self.conn.fetchrow(RECORD_SQL, day)
                self.progress(f"{day}: already exported and verified ({record['rows']:,} rows)")
                return DayExport(
                    day,
                    self.uri(day),
                    int(record["rows"]),
                    int(record["labelled"]),
                    int(record["bytes"]),
                    str(record["sha256"]),
                    0.0,
                    skipped=True,
                )
            return await self._export(day)
        finally:
            await self.conn.execute("SELECT pg_advisory_unlock($1, $2)", *lock)

    async def _export(self, day: date) -> DayExport:
        started = time.monotonic()
        uri = self.uri(day)
        self.progress(f"{day}: exporting to {uri}")
        start, end = utc_bounds(day)
        rows = labelled = 0
        names: dict[tuple[str, str], list[str] | None] = {}
        low: int | None = None
        high: int | None = None
        with self.store.upload(data_key(day), "application/vnd.apache.parquet") as upload:
            sink = _HashingSink(upload)
            writer = ParquetWriter(
                sink,
                COLUMNS,
                row_group_rows=self.row_group_rows,
                metadata={
                    "porto.schema_version": str(SCHEMA_VERSION),
                    "porto.day": day.isoformat(),
                },
            )
            async with self.conn.transaction(isolation="repeatable_read", readonly=True):
                cursor = await self.conn.cursor(EXPORT_SQL, start, end)
                while True:
                    batch = await cursor.fetch(self.fetch_rows)
                    if not batch:
                        break
                    await self._learn_names(batch, names)
                    columns = _columns(batch, names)
                    writer.write_rows(columns)
                    rows += len(batch)
                    labelled += sum(1 for v in columns[_LABEL] if v is not None)
                    low = min(columns[1]) if low is None else min(low, min(columns[1]))
                    high = max(columns[1]) if high is None else max(high, max(columns[1]))
                    if rows % (self.fetch_rows * 10) == 0:
                        self.progress(f"{day}: {rows:,} rows")
            writer.close()
        manifest = ExportManifest(
            schema_version=SCHEMA_VERSION,
            day=day,
            file=DATA_FILE,
            rows=rows,
            labelled=labelled,
            bytes=sink.bytes,
            sha256=sink.digest.hexdigest(),
            min_created_at=_micros_to_datetime(low),
            max_created_at=_micros_to_datetime(high),
            exported_at=datetime.now(UTC),
            columns=[{"name": c.name, "type": c.kind, "nullable": c.nullable} for c in COLUMNS],
        )
        self.store.put_bytes(
            manifest_key(day), manifest.model_dump_json(indent=2).encode(), "application/json"
        )
        await self.conn.execute(
            UPSERT_SQL, day, uri, rows, labelled, manifest.bytes, manifest.sha256
        )
        seconds = time.monotonic() - started
        self.progress(
            f"{day}: {rows:,} rows ({labelled:,} labelled), {manifest.bytes / 1e6:,.1f} MB, "
            f"{seconds:.1f} s ({rows / max(seconds, 1e-9):,.0f} rows/s)"
        )
        return DayExport(day, uri, rows, labelled, manifest.bytes, manifest.sha256, seconds)

    async def _learn_names(
        self, batch: Sequence[Any], names: dict[tuple[str, str], list[str] | None]
    ) -> None:
        """Add the feature names of the batch's model versions not seen yet to ``names`` (None
        for a version without recorded names: its rows keep what they hold)."""
        missing: dict[str, set[str]] = {}
        for row in batch:
            if (row[_MODEL], row[_VERSION]) not in names:
                missing.setdefault(row[_MODEL], set()).add(row[_VERSION])
        for model, versions in missing.items():
            found = await self.conn.fetch(NAMES_SQL, model, sorted(versions))
            for version in versions:
                names[(model, version)] = None
            for record in found:
                names[(model, record["model_version"])] = list(record["feature_names"])


def _columns(
    batch: Sequence[Any], names: dict[tuple[str, str], list[str] | None]
) -> list[list[Any]]:
    """The fetched records as one list per column, text encoded to UTF-8, features as JSON
    objects by name."""
    out: list[list[Any]] = []
    for index in range(len(COLUMNS)):
        if index in _TEXT:
            out.append([None if r[index] is None else r[index].encode() for r in batch])
        elif index == _FEATURES:
            out.append([_by_name(r[index], names[(r[_MODEL], r[_VERSION])]) for r in batch])
        else:
            out.append([r[index] for r in batch])
    return out


def _by_name(raw: bytes, names: list[str] | None) -> bytes:
    """A logged features value as a JSON object by feature name: an object (logged before
    migration 0005) as it is, an array of values zipped with its version's names (an array
    whose version has no names stays an array, as in the view)."""
    if raw[:1] == b"{" or names is None:
        return raw
    # A copy: orjson (3.13) returns bytes that keep its whole 16-32 KB output buffer allocated,
    # which a batch of 10,000 rows would hold at once (measured: 100,000 results, 800 MB RSS).
    return memoryview(orjson.dumps(decode_features(raw, names))).tobytes()


async def export_days(
    settings: Settings,
    url: str,
    *,
    today: date,
    day: date | None = None,
    before: date | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[DayExport]:
    """Export ``day``, or every closed day before ``before`` (None: before ``today``), from the
    database at ``url`` to ``settings.resolved_export_uri``; what each day did, oldest first.

    Fails before any work, with one clear error, for today's day, a store that cannot be
    reached and a database that cannot (StoreError, DatabaseUnavailableError)."""
    if day is not None and day >= today:
        raise ExportError(
            f"{day} is {'today' if day == today else 'in the future'} (UTC): its partition is "
            f"still written; export days before {today}"
        )
    uri = settings.resolved_export_uri
    store = open_store(uri, settings.s3_options() if uri.startswith("s3://") else None)
    store.check()
    async with command_connection(settings, url, "the export") as conn:
        exporter = LogExporter(conn, store, progress=progress)
        days = [day] if day is not None else await exporter.closed_days(today, before)
        if not days:
            exporter.progress(f"no closed day to export before {min(today, before or today)}")
        return [await exporter.export(d, today=today, force=force) for d in days]
