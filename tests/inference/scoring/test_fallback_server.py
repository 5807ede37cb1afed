"""The issue's scenario on the production server (gunicorn, two workers): a corrupt version is
made champion, a worker is killed, and the worker gunicorn starts in its place must serve a
fallback (200), not 503. Then the bundle is repaired and every worker moves to it, no restart.

Before the fix the respawned worker answered 503 to its share of the traffic (21 of 40
requests in the issue) and a new pod would have been down entirely.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness.ports import wait_until
from harness.timing import DEADLINE
from inference.bundles import TrainedModel, publish
from inference.load import Outcome, kill_worker, post, report
from inference.servers import running_server, total
from porto.bundle import version_prefix
from porto.registry import CHAMPION, Registry
from porto.store import open_store

pytestmark = pytest.mark.integration

REQUESTS = 40


def _metrics(url: str) -> str:
    return httpx.get(url + "/metrics", timeout=30).text


def _ready_bodies(url: str, count: int = 12) -> list[dict[str, Any]]:
    """/ready from several fresh connections (so from both workers, most likely)."""
    bodies = []
    for _ in range(count):
        with httpx.Client(base_url=url, timeout=30, headers={"Connection": "close"}) as c:
            bodies.append(c.get("/ready").json())
    return bodies


def test_respawned_worker_serves_a_fallback_when_the_champion_is_corrupt(
    tmp_path: Path,
    trained: TrainedModel,
    trained_other: TrainedModel,
    records: list[dict[str, Any]],
) -> None:
    home = tmp_path / "home"
    store = open_store(str(home / "artifacts"))
    registry = Registry(store, "porto")
    v1 = publish(store, trained, promote=True).version
    v2 = publish(store, trained_other).version  # a good version nobody promoted
    metrics_dir = tmp_path / "multiproc"
    with running_server(
        home,
        tmp_path,
        workers=2,
        poll_interval_s=0.2,
        metrics_dir=metrics_dir,
        prediction_log=False,
    ) as server:
        log = tmp_path / "server.log"
        v3 = publish(store, trained).version  # `latest` now
        model = home / "artifacts" / version_prefix("porto", v3) / "model.cbm"
        original = model.read_bytes()
        damaged = bytearray(original)
        damaged[len(damaged) // 2] ^= 0xFF
        model.write_bytes(bytes(damaged))
        # What `models promote` did before it verified (or bit rot after a verified promotion).
        registry.set_alias(CHAMPION, v3)
        wait_until(
            lambda: total(_metrics(server.url), "model_load_failures_total", version=v3) >= 2,
            DEADLINE,
            "both workers to refuse v3",
        )

        kill_worker(server.process.pid, log, signal.SIGKILL)
        outcomes: list[Outcome] = [post(server.url, records[i]) for i in range(REQUESTS)]
        # Make sure the new worker answered some (the kernel may favour one worker for a while).
        while not any(o.version in (v2, None) for o in outcomes) and len(outcomes) < 2000:
            outcomes.append(post(server.url, records[len(outcomes) % len(records)]))
        failed = report("corrupt champion, worker SIGKILLed", outcomes)
        assert failed == 0, [o for o in outcomes if o.status != 200][:3]
        # The sibling kept v1 (and says it is a fallback), the respawned worker found one.
        # The respawned worker: latest is v3 too, so the newest version that verifies (v2).
        assert {o.version for o in outcomes} <= {v1, v2}
        assert any(o.version == v2 for o in outcomes), "the respawned worker never answered"

        body: dict[str, Any] = {}

        def respawned_ready() -> bool:
            for answer in _ready_bodies(server.url, 4):
                if answer["model"]["version"] == v2:
                    body.update(answer)
                    return True
            return False

        wait_until(respawned_ready, DEADLINE, "/ready from the respawned worker")
        assert body["status"] == "ready"
        fallback = body["model"]["fallback"]
        assert fallback["alias"] == CHAMPION and fallback["version"] == v3
        assert fallback["reason"] == "integrity"
        assert "checksum mismatch" in fallback["error"] and "model.cbm" in fallback["error"]
        assert fallback["source"] == "newest verified version"
        text = _metrics(server.url)
        assert total(text, "model_serving_fallback") == 1  # livemax over the live workers
        assert total(text, "model_fallbacks_total", reason="integrity") >= 2
        assert total(text, "model_loaded") == 1

        # The operator restores the file: every worker moves to v3 without reload or restart.
        model.write_bytes(original)
        wait_until(
            lambda: total(_metrics(server.url), "model_serving_fallback") == 0,
            DEADLINE,
            "every worker off its fallback",
        )
        after = [post(server.url, records[i]) for i in range(REQUESTS)]
        report("corrupt champion, after the repair", after)
        assert {(o.status, o.version) for o in after} == {(200, v3)}
