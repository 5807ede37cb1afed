"""The production server: gunicorn with two uvicorn workers, metrics in multiprocess mode.

After a known number of requests spread over both workers, every counter and histogram sum on
/metrics must match exactly; live quality from feedback must not be counted once per worker;
SIGTERM must flush the prediction log.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness.postgres import PostgresServer
from harness.timing import DEADLINE
from inference.pg import count, reset
from inference.servers import running_server, total
from porto.bundle import Manifest
from porto_inference.monitoring.quality import quality
from porto_inference.server import ServerProcess

pytestmark = pytest.mark.integration

SINGLES = 60
BATCHES = [7, 1, 13]
INVALID = 5


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("multiproc")


@pytest.fixture(scope="module")
def server(
    home: Path,
    postgres_server: PostgresServer,
    tmp_path_factory: pytest.TempPathFactory,
    metrics_dir: Path,
) -> Iterator[ServerProcess]:
    reset(postgres_server.dsn)
    with running_server(
        home,
        tmp_path_factory.mktemp("server"),
        database_url=postgres_server.dsn,
        metrics_dir=metrics_dir,
        quality_interval_s=0.3,
    ) as running:
        yield running
    reset(postgres_server.dsn)


def _post(url: str, path: str, payload: Any) -> httpx.Response:
    # A new connection per request: the kernel spreads connections over the workers.
    with httpx.Client(base_url=url, timeout=30, headers={"Connection": "close"}) as c:
        return c.post(path, json=payload)


def test_counts_add_up_across_workers(
    server: ServerProcess,
    records: list[dict[str, Any]],
    metrics_dir: Path,
    champion: Manifest,
    postgres_server: PostgresServer,
) -> None:
    with ThreadPoolExecutor(8) as pool:
        singles = list(
            pool.map(lambda i: _post(server.url, "/predict", records[i]), range(SINGLES))
        )
        batches = list(
            pool.map(
                lambda n: _post(server.url, "/predict/batch", records[:n]),
                BATCHES,
            )
        )
        invalid = list(
            pool.map(lambda i: _post(server.url, "/predict", {"nope": i}), range(INVALID))
        )
    assert {r.status_code for r in singles + batches} == {200}
    assert {r.status_code for r in invalid} == {422}
    pids = {p.name.split("_")[-1] for p in metrics_dir.glob("counter_*.db")}
    assert len(pids) >= 2, "both workers should have answered"

    text = httpx.get(server.url + "/metrics").text
    version = champion.version
    probabilities = [r.json()["probability"] for r in singles] + [
        p["probability"] for r in batches for p in r.json()["predictions"]
    ]
    rows = SINGLES + sum(BATCHES)
    assert len(probabilities) == rows

    ok = {"endpoint": "/predict", "status": "200"}
    assert total(text, "inference_requests_total", **ok, model=version) == SINGLES
    assert total(text, "inference_requests_total", endpoint="/predict/batch") == len(BATCHES)
    assert total(text, "inference_errors_total", endpoint="/predict", status="422") == INVALID
    assert total(text, "http_requests_total", handler="/predict", status="200") == SINGLES
    assert total(text, "inference_latency_seconds_count", endpoint="/predict") == SINGLES + INVALID
    assert total(text, "predictions_total", model_version=version) == rows
    assert total(text, "prediction_score_distribution_count") == rows
    assert total(text, "inference_prediction_value_count", model=version) == rows
    assert total(text, "inference_prediction_value_sum") == pytest.approx(sum(probabilities))
    assert total(text, "prediction_score_distribution_sum") == pytest.approx(sum(probabilities))
    assert total(text, "inference_prediction_value_bucket", le="+Inf") == rows
    assert total(text, "batch_size_count", endpoint="/predict/batch") == len(BATCHES)
    assert total(text, "batch_size_sum", endpoint="/predict/batch") == sum(BATCHES)
    assert total(text, "batch_size_sum", endpoint="/predict") == SINGLES
    positives = sum(
        [r.json()["class"] for r in singles]
        + [p["class"] for r in batches for p in r.json()["predictions"]]
    )
    assert total(text, "predictions_total", **{"class": "1"}) == positives
    assert total(text, "model_loaded") == 1.0  # livemin over the live workers
    assert total(text, "model_info", version=version) == 1.0

    deadline = time.monotonic() + DEADLINE
    while count(postgres_server.dsn) < rows and time.monotonic() < deadline:
        time.sleep(0.2)
    assert count(postgres_server.dsn) == rows


def test_live_quality_is_not_counted_per_worker(
    server: ServerProcess, records: list[dict[str, Any]], champion: Manifest
) -> None:
    answers = [_post(server.url, "/predict", records[i]).json() for i in range(20, 60)]
    labels = [1 if i % 3 == 0 else 0 for i in range(len(answers))]
    feedback = [
        {"prediction_id": a["prediction_id"], "label": y}
        for a, y in zip(answers, labels, strict=True)
    ]
    # Half through each worker (a flush first makes this worker's own rows visible).
    for part in (feedback[:20], feedback[20:]):
        r = _post(server.url, "/feedback", part)
        assert r.status_code == 200, r.text
    import numpy as np

    expected = quality(
        np.array([a["probability"] for a in answers]),
        np.array([a["class"] for a in answers]),
        np.array(labels),
    )
    deadline = time.monotonic() + DEADLINE
    while True:
        text = httpx.get(server.url + "/metrics").text
        samples = total(text, "model_feedback_samples", model_version=champion.version)
        if samples == len(answers) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert samples == len(answers)
    assert total(text, "model_f1_score", model_version=champion.version) == pytest.approx(
        expected.f1
    )
    assert total(text, "model_roc_auc", model_version=champion.version) == pytest.approx(
        expected.roc_auc
    )
    assert total(text, "feedback_total", outcome="applied") + total(
        text, "feedback_total", outcome="pending"
    ) == len(answers)


def test_sigterm_flushes_the_log(
    home: Path,
    postgres_server: PostgresServer,
    tmp_path: Path,
    records: list[dict[str, Any]],
) -> None:
    reset(postgres_server.dsn)
    with running_server(
        home,
        tmp_path,
        database_url=postgres_server.dsn,
        log_flush_interval_s=3600,
        log_flush_rows=100_000,
    ) as srv:
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda r: _post(srv.url, "/predict", r), records[:40]))
        assert {a.status_code for a in answers} == {200}
        text = httpx.get(srv.url + "/metrics").text
        assert total(text, "prediction_log_queue_depth") == 40  # livesum over both workers
        assert count(postgres_server.dsn) == 0
        assert srv.stop() == 0
    assert count(postgres_server.dsn) == 40


def test_run_server_for_the_demo(home: Path, tmp_path: Path, records: list[dict[str, Any]]) -> None:
    """What `make demo` runs: `run_server` in the foreground with local defaults (the embedded
    PostgreSQL); Ctrl-C stops the API gracefully, the prediction log is flushed, and the
    embedded database stops with it."""
    import os
    import signal
    import subprocess
    import sys

    from harness.ports import free_port

    port = free_port()
    script = (
        "import sys\n"
        "from porto_inference.server import run_server\n"
        f"sys.exit(run_server(port={port}, workers=2, on_ready=lambda url: print('READY', url,"
        " flush=True)))\n"
    )
    env = {
        **os.environ,
        "PORTO_HOME": str(tmp_path),
        "PORTO_INFERENCE_STORE_URI": str(home / "artifacts"),
        "PORTO_INFERENCE_LOG_FLUSH_INTERVAL_S": "3600",
    }
    env.pop("DATABASE_URL", None)
    env.pop("PORTO_INFERENCE_DATABASE_URL", None)
    # Started as a background job of a shell without job control starts it (CI runners do):
    # SIGINT arrives ignored. Ctrl-C must still stop the demo (it once hung here for that).
    demo = subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        assert demo.stdout is not None
        line = ""
        while not line.startswith("READY"):  # the server's own JSON log lines come first
            line = demo.stdout.readline()
            assert line, "run_server exited before the API was ready"
        url = line.split()[1]
        assert url == f"http://127.0.0.1:{port}"
        for record in records[:5]:
            assert _post(url, "/predict", record).status_code == 200
        assert (tmp_path / "pgdata" / "postmaster.pid").exists()
        demo.send_signal(signal.SIGINT)  # Ctrl-C
        assert demo.wait(60) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists()  # the database stopped too
    # Everything scored was flushed on the way down; the data outlives the server.
    from porto_inference.log.database import start_embedded, stop_embedded
    from porto_inference.settings import Settings

    settings = Settings(home=tmp_path)
    url = start_embedded(settings)
    try:
        assert count(url) == 5
    finally:
        stop_embedded(settings)


def test_a_connection_accepted_just_before_sigterm_is_answered(
    home: Path, tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    """A worker told to stop (SIGTERM: a restart, a scale-down) may have accepted a connection
    whose request has not arrived yet; uvicorn alone closes it unanswered as idle. The draining
    server answers it (found by the fault suite: 1 request in ~200 lost on a worker restart)."""
    import json
    import os
    import signal
    import socket

    import psutil

    with running_server(home, tmp_path, workers=1, prediction_log="false") as srv:
        (worker,) = psutil.Process(srv.process.pid).children()
        host, port = srv.url.removeprefix("http://").split(":")
        body = json.dumps(records[0]).encode()
        request = (
            f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body
        with socket.create_connection((host, int(port)), timeout=30) as conn:
            # Accepted (the worker's loop is idle, so at once); no request sent yet.
            time.sleep(0.2)
            os.kill(worker.pid, signal.SIGTERM)
            # uvicorn notices the signal within 0.1 s, then closes idle connections at once.
            time.sleep(0.2)
            conn.sendall(request)
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
