"""Small synchronous helpers to look into PostgreSQL from tests."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from fastapi.testclient import TestClient
from harness.timing import DEADLINE


def sql(url: str, query: str, *args: Any) -> list[dict[str, Any]]:
    """Run one statement and return its rows as dicts."""

    async def run() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            return [dict(r) for r in await conn.fetch(query, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())


def reset(url: str) -> None:
    """Drop porto's tables so a test starts from an empty database."""
    sql(
        url,
        "DROP TABLE IF EXISTS prediction_log, pending_feedback, prediction_log_rejected, "
        "prediction_log_writes, prediction_log_unpartitioned, prediction_log_exports, "
        "prediction_log_schemas, challenger_predictions, "
        "porto_schema_migrations CASCADE",
    )


def count(url: str) -> int:
    """Rows in prediction_log."""
    return int(sql(url, "SELECT count(*) AS n FROM prediction_log")[0]["n"])


def flush_log(client: TestClient, timeout: float = DEADLINE) -> bool:
    """Wait until the app's prediction log has written everything queued so far; False on
    timeout."""
    service = client.app.state.service  # type: ignore[attr-defined]
    return bool(client.portal.call(service.prediction_log.flush, timeout))
