"""Versioned migrations under an advisory lock, from the app and from the CLI."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from inference.pg import sql
from porto.errors import ConfigError
from porto_inference.log.database import EMBEDDED_DB_MISSING, load_migrations, migrate, redact

pytestmark = pytest.mark.integration


def test_migrations_are_numbered_sql_files() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert migrations[0].name == "prediction_log"
    assert "CREATE TABLE IF NOT EXISTS prediction_log" in migrations[0].sql


def test_concurrent_migrations_apply_once(url: str) -> None:
    async def run() -> list[list[str]]:
        conns = [await asyncpg.connect(url) for _ in range(6)]
        try:
            return list(await asyncio.gather(*(migrate(c) for c in conns)))
        finally:
            for c in conns:
                await c.close()

    results = asyncio.run(run())
    assert sorted(len(r) for r in results) == [0, 0, 0, 0, 0, len(load_migrations())]
    applied = sql(url, "SELECT version, name FROM porto_schema_migrations")
    assert len(applied) == len(load_migrations())
    indexes = {r["indexname"] for r in sql(url, "SELECT indexname FROM pg_indexes")}
    assert {
        "prediction_log_time_brin",
        "prediction_log_id_brin",
        "prediction_log_labelled_idx",
    } <= indexes
    assert "prediction_log_created_at_idx" not in indexes  # replaced by 0002


def test_an_edited_migration_is_refused(url: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
            await conn.execute("UPDATE porto_schema_migrations SET checksum = 'x'")
            with pytest.raises(ConfigError, match="changed after it was applied"):
                await migrate(conn)
        finally:
            await conn.close()

    asyncio.run(run())


def test_cli_migrate(url: str) -> None:
    cmd = [sys.executable, "-m", "porto_inference", "migrate", "--database-url", url]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
    assert f"applied {len(load_migrations())} migration(s)" in first.stdout
    assert "0001_prediction_log" in first.stdout
    assert url.split("@")[0].split(":")[-1] not in first.stdout  # the password is redacted
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
    assert "is up to date" in second.stdout


def test_redact() -> None:
    assert redact("postgresql://u:pw@h:5/d") == "postgresql://u:***@h:5/d"
    assert redact("postgresql://u@h/d") == "postgresql://u@h/d"


#: `porto-inference` with pgserver not importable, as in the image (which leaves the
#: `embedded-db` extra out): None in sys.modules makes `import pgserver...` fail.
WITHOUT_PGSERVER = (
    "import sys; sys.modules['pgserver'] = None\n"
    "from porto_inference.cli import main\n"
    "sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_without_pgserver_the_cli_says_how_to_get_a_database(command: str, tmp_path: Path) -> None:
    """Local mode with no DATABASE_URL needs the embedded PostgreSQL: without pgserver, one
    `error:` line naming the ways out, exit 1, no traceback."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PORTO_INFERENCE_HOME": str(tmp_path / "home"),
        "PORTO_INFERENCE_METRICS_DIR": str(tmp_path / "metrics"),
    }
    out = subprocess.run(
        [sys.executable, "-c", WITHOUT_PGSERVER, command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stderr.strip() == f"error: {EMBEDDED_DB_MISSING}", out.stderr
    assert "DATABASE_URL" in EMBEDDED_DB_MISSING
    assert "porto-inference[embedded-db]" in EMBEDDED_DB_MISSING
