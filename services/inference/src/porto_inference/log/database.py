"""PostgreSQL plumbing: where the database is, and its versioned schema migrations.

Migrations are the ``NNNN_name.sql`` files of :mod:`porto_inference.log.migrations`, applied in
order, each in its own transaction, under a PostgreSQL advisory lock: every worker of every pod runs
them at startup and exactly one does the work while the others wait and then find nothing to do.
An applied migration whose file later changed is refused (its checksum is recorded).

In local mode, with no database URL configured, an embedded PostgreSQL (the ``pgserver``
package) runs from ``<home>/pgdata``. pgserver is the optional ``embedded-db`` extra: the dev
environment and ``make demo`` have it, the image does not (it has no linux/arm64 wheel).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any

from porto.errors import ConfigError

from porto_inference.errors import DatabaseUnavailableError
from porto_inference.settings import Settings

log = logging.getLogger("porto_inference.database")

MIGRATIONS_PACKAGE = "porto_inference.log.migrations"
#: pg_advisory_lock key for migrations (ASCII "porto_mg"): one key for every porto deployment.
MIGRATION_LOCK_KEY = 0x706F72746F5F6D67
_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
EMBEDDED_DB_MISSING = (
    "no database URL and no embedded PostgreSQL: this installation lacks pgserver (the image "
    "leaves it out). Set DATABASE_URL (or PORTO_INFERENCE_DATABASE_URL) to a postgresql:// URL, "
    "or PORTO_INFERENCE_PREDICTION_LOG=false, or install 'porto-inference[embedded-db]'"
)


@dataclass(frozen=True)
class Migration:
    """One schema migration file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """sha256 of the SQL text, recorded when applied."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    """Return the packaged migrations in version order."""
    found = []
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ConfigError(f"duplicate migration versions in {MIGRATIONS_PACKAGE}")
    return found


async def migrate(conn: Any) -> list[str]:
    """Apply pending migrations on ``conn`` (an asyncpg connection); return their names."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS porto_schema_migrations (
                version     integer PRIMARY KEY,
                name        text NOT NULL,
                checksum    text NOT NULL,
                applied_at  timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        rows = await conn.fetch("SELECT version, name, checksum FROM porto_schema_migrations")
        applied = {int(r["version"]): (str(r["name"]), str(r["checksum"])) for r in rows}
        for migration in load_migrations():
            done = applied.get(migration.version)
            if done is not None:
                if done[1] != migration.checksum:
                    raise ConfigError(
                        f"migration {migration.version:04d}_{migration.name} changed after it "
                        "was applied: add a new migration instead of editing an applied one"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO porto_schema_migrations (version, name, checksum) "
                    "VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            applied_now.append(f"{migration.version:04d}_{migration.name}")
            log.info("applied migration %04d_%s", migration.version, migration.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    return applied_now


async def migrate_url(url: str, timeout: float = 10.0) -> list[str]:
    """Connect to ``url``, apply pending migrations, disconnect; return what was applied."""
    import asyncpg

    conn = await asyncpg.connect(url, timeout=timeout)
    try:
        return await migrate(conn)
    finally:
        await conn.close()


@asynccontextmanager
async def command_connection(settings: Settings, url: str, during: str) -> AsyncIterator[Any]:
    """A migrated connection for a one-shot command (``log-export``, ``replay``).

    DatabaseUnavailableError (one line, the URL without its password) when the database cannot
    be reached, or when it fails ``during`` the command's work."""
    import asyncpg

    failures = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
    try:
        conn = await asyncpg.connect(url, timeout=settings.db_connect_timeout_s)
    except failures as exc:
        raise DatabaseUnavailableError(
            f"cannot reach the prediction log's database at {redact(url)}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    try:
        await migrate(conn)
        yield conn
    except failures as exc:
        raise DatabaseUnavailableError(
            f"the prediction log's database failed during {during}: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        await conn.close()


def start_embedded(settings: Settings) -> str:
    """Start (or join) the embedded PostgreSQL under ``<home>/pgdata``; return its URL.

    The server outlives nothing: it stops when the last process that started it exits.
    ConfigError when pgserver is not installed (the image), naming the settings that avoid it.
    """
    import warnings

    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver copes.
        warnings.simplefilter("ignore")
        try:
            from pgserver.postgres_server import get_server
        except ImportError as exc:
            raise ConfigError(EMBEDDED_DB_MISSING) from exc

    pgdata = settings.embedded_pgdata.resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode="stop")
    return str(server.get_uri())


def stop_embedded(settings: Settings) -> None:
    """Stop the embedded PostgreSQL this process started (no-op if it did not)."""
    from pgserver.postgres_server import PostgresServer

    server = PostgresServer._instances.get(settings.embedded_pgdata.resolve())
    if server is not None:
        server.cleanup()


def database_url(settings: Settings) -> str | None:
    """The URL the prediction log writes to: the configured one, the embedded server's in local
    mode, or None when the prediction log is off."""
    if not settings.prediction_log:
        return None
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return start_embedded(settings)


def redact(url: str) -> str:
    """``url`` without its password, for logs and /ready."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)
