"""Small synchronous helpers to look into PostgreSQL from tests."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import numpy as np
from fastapi.testclient import TestClient
from harness.timing import DEADLINE
from porto_inference.ids import new_prediction_ids
from porto_inference.log.entry import LogEntry


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


def log_entry(
    rows: int,
    features: list[bytes],
    *,
    record_ids: list[Any] | None = None,
    request_id: str | None = "r",
    endpoint: str = "/predict/batch",
) -> LogEntry:
    """A prediction log entry of ``rows`` rows scored now (score 0.25, class 0)."""
    from datetime import UTC, datetime

    return LogEntry(
        created_at=datetime.now(UTC),
        model_name="porto",
        model_version="v1",
        endpoint=endpoint,
        request_id=request_id,
        prediction_ids=new_prediction_ids(rows),
        scores=np.full(rows, 0.25),
        classes=np.zeros(rows, dtype=np.int8),
        threshold=0.5,
        latency_ms=1.0,
        record_ids=record_ids,
        features=features,
    )
