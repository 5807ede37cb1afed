"""Drift under gunicorn: one figure per model version whichever worker answers the scrape, and
every row of a large batch counted in the window (the report: `drift_window_rows` alternated
257/770 between scrapes, and a 1,000-row batch added at most 256 rows)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from harness.timing import DEADLINE
from inference.servers import running_server, samples, total
from porto.bundle import Manifest
from porto.synthetic import generate
from porto_inference.server import ServerProcess

pytestmark = pytest.mark.integration

BATCH = 500
BATCHES = 24


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("multiproc-drift")


@pytest.fixture(scope="module")
def server(
    home: Path, tmp_path_factory: pytest.TempPathFactory, metrics_dir: Path
) -> Iterator[ServerProcess]:
    with running_server(
        home,
        tmp_path_factory.mktemp("server"),
        workers=3,
        prediction_log="false",
        metrics_dir=metrics_dir,
        drift_interval_s=0.2,
        drift_window_rows=100_000,
    ) as running:
        yield running


def _batch(url: str, rows: list[dict[str, Any]]) -> int:
    # A new connection per request: the kernel spreads connections over the workers.
    with httpx.Client(base_url=url, timeout=60, headers={"Connection": "close"}) as client:
        return client.post("/predict/batch", json=rows).status_code


def _drift(url: str) -> tuple[float, dict[str, float]]:
    text = httpx.get(url + "/metrics", headers={"Connection": "close"}, timeout=30).text
    psi = {
        labels["feature"]: value
        for name, labels, value in samples(text)
        if name == "feature_drift_psi"
    }
    return total(text, "drift_window_rows"), psi


def _settled(url: str, rows: float) -> bool:
    return _drift(url)[0] == pytest.approx(rows)


def test_every_worker_reports_the_same_window_of_every_row(
    server: ServerProcess, metrics_dir: Path, champion: Manifest
) -> None:
    frame = generate(BATCH * BATCHES, seed=31).frame.drop(columns=["target"])
    rows: list[dict[str, Any]] = frame.to_dict(orient="records")
    chunks = [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]
    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda chunk: _batch(server.url, chunk), chunks))
    assert set(codes) == {200}

    deadline = time.monotonic() + DEADLINE
    while not _settled(server.url, BATCH * BATCHES) and time.monotonic() < deadline:
        time.sleep(0.3)
    # Ten scrapes, answered by whichever worker accepts each connection: one figure.
    scrapes = [_drift(server.url) for _ in range(10)]
    assert [window for window, _ in scrapes] == [pytest.approx(BATCH * BATCHES)] * 10
    first = scrapes[0][1]
    assert len(first) == len(champion.feature_schema.names)
    for _, psi in scrapes[1:]:
        assert psi == pytest.approx(first)
    text = httpx.get(server.url + "/metrics").text
    assert {
        labels["model_version"] for n, labels, _ in samples(text) if n == "drift_window_rows"
    } == {champion.version}

    # A worker that dies takes its window with it; the others still agree.
    # Every worker keeps a file, an empty one if the kernel gave it no batch: the victim must be
    # one that holds rows, or killing it would not shrink the window.
    windows = [
        path
        for path in metrics_dir.glob("drift_*.json")
        if orjson.loads(path.read_bytes()).get("rows")
    ]
    assert len(windows) >= 2, "the batches should have reached several workers"
    victim = int(windows[0].stem.removeprefix("drift_"))
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + DEADLINE
    while windows[0].exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not windows[0].exists()
    after = {_drift(server.url)[0] for _ in range(6)}
    assert len(after) == 1
    assert 0 < after.pop() < BATCH * BATCHES
