"""The one background loop: runs its job each interval, survives the job's failures, stops
cleanly."""

from __future__ import annotations

import asyncio
import logging

import pytest
from porto_inference.periodic import PeriodicTask


def test_runs_survives_failures_and_stops(caplog: pytest.LogCaptureFixture) -> None:
    turns: list[int] = []

    async def job() -> None:
        turns.append(len(turns))
        if len(turns) == 2:
            raise RuntimeError("boom")

    async def scenario() -> None:
        task = PeriodicTask("t", lambda: 0.01, job, what="the test job")
        task.start()
        while len(turns) < 5:
            await asyncio.sleep(0.01)
        await task.stop()
        stopped_at = len(turns)
        await asyncio.sleep(0.05)
        assert len(turns) == stopped_at  # nothing runs after stop
        await task.stop()  # twice is harmless

    with caplog.at_level(logging.WARNING):
        asyncio.run(scenario())
    assert "the test job failed" in caplog.text
    assert "boom" in caplog.text


def test_quiet_failures_log_one_line(caplog: pytest.LogCaptureFixture) -> None:
    async def job() -> None:
        raise OSError("database away")

    async def scenario() -> None:
        task = PeriodicTask("t", lambda: 0.01, job, what="not refreshed", with_traceback=False)
        task.start()
        await asyncio.sleep(0.05)
        await task.stop()

    with caplog.at_level(logging.WARNING):
        asyncio.run(scenario())
    assert "not refreshed: database away" in caplog.text
    assert "Traceback" not in caplog.text
