"""The serving loop's pool of the prediction log against a real PostgreSQL that is down when a
worker starts: reads answer 503 while it is, and once it is up they connect by themselves
(a worker whose first connect failed used to refuse every read until it restarted)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from harness.postgres import PostgresServer
from porto_inference.errors import DatabaseUnavailableError
from porto_inference.log import pool as pool_module
from porto_inference.log.pool import LogPool
from porto_inference.monitoring.metrics import LogMetrics
from porto_inference.settings import Settings
from prometheus_client import CollectorRegistry

pytestmark = pytest.mark.integration


def test_reads_connect_once_the_database_is_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool_module, "RECONNECT_INTERVAL_S", 0.2)
    server = PostgresServer()
    server.start()
    url = server.dsn
    server.stop()  # the worker starts while the database is down
    settings = Settings(home=tmp_path, db_connect_timeout_s=2)
    db = LogPool(settings, LogMetrics(CollectorRegistry()), url)

    async def run() -> None:
        try:
            assert not await db.connect()  # as PredictionLog.start() finds it
            with pytest.raises(DatabaseUnavailableError, match="not reachable"):
                await db.read("SELECT 1 AS one")
            # Within the interval a read does not try again: it fails at once.
            with pytest.raises(DatabaseUnavailableError, match="not reachable"):
                await asyncio.wait_for(db.read("SELECT 1 AS one"), 0.1)
            await asyncio.to_thread(server.start)
            await asyncio.sleep(0.3)
            rows = await db.read("SELECT 1 AS one")
            assert [r["one"] for r in rows] == [1]
            assert db.state == "up" and db.migrated
            # Concurrent reads share the one pool.
            pool = db.pool
            results = await asyncio.gather(*(db.read("SELECT 2 AS two") for _ in range(8)))
            assert all(r[0]["two"] == 2 for r in results) and db.pool is pool
        finally:
            await db.close()

    try:
        asyncio.run(run())
    finally:
        server.close()
