"""The model store failing under the production server (gunicorn, two workers, a real MinIO),
each scenario with its figure of failed requests (in pytest's terminal summary, "inference fault
and fuzz figures"). The traffic is a few clients in a loop, far below the server's queue capacity,
so every failure counted is one the fault caused.

- MinIO down at startup: the workers report not-ready, naming the unreachable endpoint (their
  503s are the design: a pod that is not ready gets no traffic), and become ready on their own
  when MinIO returns. Failed after it returned: 0.
- MinIO down during a swap (a worker half-way through downloading the new champion's model):
  the workers keep answering with the model they hold, say they are on a fallback, and swap to
  the new champion once MinIO is back. Failed: 0.
- The served bundle deleted from the bucket: the workers keep serving it from memory; a worker
  restarted afterwards serves the newest version that still verifies. Failed: 0.
"""

from __future__ import annotations

import dataclasses
import secrets
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness.minio import MinioServer
from harness.ports import free_port, wait_until
from harness.process import await_child
from harness.timing import DEADLINE
from inference.bundles import TrainedModel, publish
from inference.load import Load, kill_worker, post, report
from inference.servers import total
from inference.stall_proxy import StallProxy
from porto.bundle import version_prefix
from porto.registry import Registry
from porto.store import ArtifactStore, S3Options, open_store
from porto_inference.server import ServerProcess, start_server

pytestmark = pytest.mark.integration


@pytest.fixture
def faults_store(
    minio_server: MinioServer, s3_options: S3Options
) -> Iterator[tuple[str, ArtifactStore]]:
    """A fresh prefix of a bucket on the session's MinIO, and a store writing there; MinIO is
    running again when the test ends, whatever it did to it."""
    minio_server.start()
    uri = f"s3://porto-faults/{secrets.token_hex(4)}"
    yield uri, open_store(uri, dataclasses.replace(s3_options, create_bucket=True))
    minio_server.start()


@contextmanager
def _server(
    tmp_path: Path,
    minio: MinioServer,
    uri: str,
    *,
    wait_ready: bool = True,
    endpoint: str | None = None,
) -> Iterator[ServerProcess]:
    """``porto-inference serve`` (2 workers) on ``uri`` (through ``endpoint`` instead of
    MinIO's own when given); waits for /ready, or only for the process to answer (/health)
    when ``wait_ready`` is false."""
    env = {
        "PORTO_HOME": str(tmp_path / "home"),
        "PORTO_INFERENCE_LOG_REQUESTS": "false",
        "PORTO_INFERENCE_PREDICTION_LOG": "false",
        "PORTO_INFERENCE_POLL_INTERVAL_S": "0.2",
        "PORTO_INFERENCE_METRICS_DIR": str(tmp_path / "multiproc"),
        "PORTO_INFERENCE_STORE_URI": uri,
        "PORTO_INFERENCE_S3_ENDPOINT_URL": endpoint or minio.endpoint,
        "PORTO_INFERENCE_S3_ACCESS_KEY": minio.access_key,
        "PORTO_INFERENCE_S3_SECRET_KEY": minio.secret_key,
    }
    log = tmp_path / "server.log"
    server = start_server(port=free_port(), workers=2, env=env, log_file=log)
    try:
        await_child(server, log, None if wait_ready else "/health")
        yield server
    finally:
        server.stop()


def _metrics(url: str) -> str:
    return httpx.get(url + "/metrics", timeout=30).text


def _ready(url: str, count: int = 6) -> list[httpx.Response]:
    """/ready over fresh connections (so from both workers, most likely)."""
    answers = []
    for _ in range(count):
        with httpx.Client(base_url=url, timeout=30, headers={"Connection": "close"}) as c:
            answers.append(c.get("/ready"))
    return answers


def test_minio_down_at_startup(
    tmp_path: Path,
    minio_server: MinioServer,
    faults_store: tuple[str, ArtifactStore],
    trained: TrainedModel,
    records: list[dict[str, Any]],
) -> None:
    uri, store = faults_store
    v1 = publish(store, trained, promote=True).version
    minio_server.stop()
    with _server(tmp_path, minio_server, uri, wait_ready=False) as server:
        try:
            answers = _ready(server.url)
            assert {a.status_code for a in answers} == {503}
            for answer in answers:
                body = answer.json()
                assert body["status"] == "not_ready" and body["model"] is None
                assert body["model_error"]["reason"] == "store"
                assert (
                    f"cannot reach S3 endpoint {minio_server.endpoint}"
                    in (body["model_error"]["error"])
                )
            outage = [post(server.url, records[i]) for i in range(20)]
            report("MinIO down at startup, while down (not ready)", outage)
            assert {o.status for o in outage} == {503}  # by design: not ready, no traffic
        finally:
            minio_server.start()
        # Both workers load the model on their own: no restart, no reload.
        wait_until(
            lambda: total(_metrics(server.url), "model_loaded") == 1,
            DEADLINE,
            "every worker ready once MinIO is back",
        )
        after = [post(server.url, records[i % len(records)]) for i in range(40)]
        failed = report("MinIO down at startup, after it returned", after)
        assert failed == 0
        assert {o.version for o in after} == {v1}
        assert {a.status_code for a in _ready(server.url)} == {200}


def test_minio_down_during_a_swap(
    tmp_path: Path,
    minio_server: MinioServer,
    faults_store: tuple[str, ArtifactStore],
    trained: TrainedModel,
    trained_other: TrainedModel,
    records: list[dict[str, Any]],
) -> None:
    uri, store = faults_store
    v1 = publish(store, trained, promote=True).version
    proxy = StallProxy(minio_server.port)
    try:
        with (
            _server(tmp_path, minio_server, uri, endpoint=proxy.endpoint) as server,
            Load(server.url, records) as load,
        ):
            alive = lambda: server.process.poll() is None  # noqa: E731
            load.more(20, "traffic before the swap", alive=alive)
            v2 = publish(store, trained_other).version
            proxy.trigger = f"/models/porto/{v2}/model.cbm HTTP".encode()
            Registry(store, "porto").promote(v2)
            wait_until(proxy.stalled.is_set, DEADLINE, "a worker half-way through loading v2")
            minio_server.stop()
            proxy.cut()  # the download in progress breaks off
            try:
                wait_until(
                    lambda: (
                        total(_metrics(server.url), "model_fallbacks_total", reason="store") >= 1
                    ),
                    DEADLINE,
                    "the broken swap reported",
                )
                answers = [a.json() for a in _ready(server.url)]
                assert all(a["model"]["version"] == v1 for a in answers), answers
                mark = len(load.outcomes)
                load.more(40, "traffic while MinIO is down", alive=alive)
                during = load.outcomes[mark:]
            finally:
                minio_server.start()
            wait_until(
                lambda: (
                    total(text := _metrics(server.url), "model_swaps_total") == 2
                    and total(text, "model_serving_fallback") == 0
                ),
                DEADLINE,
                "both workers on v2",
            )
            load.more(30, "traffic after the swap", alive=alive)
            load.stop()
    finally:
        proxy.close()
    report("MinIO down during a swap, while down", during)
    failed = report("MinIO down during a swap, whole run", load.outcomes)
    assert failed == 0, load.failed()[:3]
    assert {o.version for o in during} <= {v1, v2}
    assert load.outcomes[-1].version == v2


def test_bundle_deleted_under_serving_workers(
    tmp_path: Path,
    minio_server: MinioServer,
    faults_store: tuple[str, ArtifactStore],
    trained: TrainedModel,
    trained_other: TrainedModel,
    records: list[dict[str, Any]],
) -> None:
    uri, store = faults_store
    v0 = publish(store, trained).version
    v1 = publish(store, trained_other, promote=True).version
    with _server(tmp_path, minio_server, uri) as server, Load(server.url, records) as load:
        alive = lambda: server.process.poll() is None  # noqa: E731
        load.more(20, "traffic before the deletion", alive=alive)
        # Gone from the bucket (a lifecycle rule, a wrong `mc rm --recursive`); aliases remain.
        assert store.delete_prefix(version_prefix("porto", v1)) > 0
        mark = len(load.outcomes)
        load.more(40, "traffic after the deletion", alive=alive)
        served_from_memory = load.outcomes[mark:]
        respawn_mark = len(load.outcomes)
        kill_worker(server.process.pid, tmp_path / "server.log", signal.SIGTERM)
        wait_until(  # v0 is what only the restarted worker can answer with (or a failure)
            lambda: any(o.version in (v0, None) for o in load.outcomes[respawn_mark:]),
            DEADLINE,
            "the restarted worker answering",
            alive=alive,
        )
        load.more(30, "traffic after the restart", alive=alive)
        load.stop()
        report("bundle deleted, served from memory", served_from_memory)
        report("bundle deleted, worker restarted", load.outcomes[respawn_mark:])
        failed = report("bundle deleted, whole run", load.outcomes)
        assert failed == 0, load.failed()[:3]
        restarted: dict[str, Any] = {}

        def restarted_ready() -> bool:
            for answer in _ready(server.url, 4):
                if answer.json()["model"]["version"] == v0:
                    restarted.update(answer.json())
                    return True
            return False

        wait_until(restarted_ready, DEADLINE, "/ready from the restarted worker")
    assert {o.version for o in served_from_memory} == {v1}
    assert {o.version for o in load.outcomes[respawn_mark:]} <= {v0, v1}
    fallback = restarted["model"]["fallback"]
    assert (fallback["version"], fallback["reason"]) == (v1, "not_found")
    assert fallback["source"] == "newest verified version"
