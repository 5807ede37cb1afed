"""Hot swaps under load, refused bundles, per-call versions and the LRU."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from harness.ports import wait_until
from harness.timing import DEADLINE
from inference.bundles import TrainedModel, publish
from inference.servers import total
from porto.bundle import version_prefix
from porto.registry import Registry
from porto.store import open_store


def _wait(predicate: Callable[[], bool]) -> None:
    wait_until(predicate, DEADLINE, "the model manager's next state")


def _corrupt(home: Path, version: str, rel: str = "model.cbm") -> None:
    """Tamper with a file after its manifest was written (as a bad upload or bit rot would)."""
    path = home / "artifacts" / version_prefix("porto", version) / rel
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_hot_swap_under_load_and_corrupt_bundle_refused(
    make_client: Callable[..., TestClient],
    tmp_path: Path,
    trained: TrainedModel,
    trained_other: TrainedModel,
    records: list[dict[str, Any]],
) -> None:
    store = open_store(str(tmp_path / "artifacts"))
    v1 = publish(store, trained, promote=True).version
    client = make_client(home=tmp_path, poll_interval_s=0.1)
    seen: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def load() -> None:
        i = 0
        while not stop.is_set():
            if i % 5 == 4:
                r = client.post("/predict/batch", json=records[:20])
            else:
                r = client.post("/predict", json=records[i % len(records)])
            seen.append((r.status_code, r.json().get("model_version")))
            i += 1

    thread = threading.Thread(target=load)
    thread.start()
    try:
        _wait(lambda: len(seen) > 20)
        v2 = publish(store, trained_other, promote=True).version
        _wait(lambda: any(v == v2 for _, v in seen[-5:]))
        # A new champion whose model file was tampered with after the manifest was written.
        v3 = publish(store, trained, promote=False).version
        _corrupt(tmp_path, v3)
        # Bit rot after a verified promotion (promote itself now refuses a corrupt bundle).
        Registry(store, "porto").set_alias("champion", v3)
        _wait(lambda: (client.get("/ready").json()["model_error"] or {}).get("version") == v3)
        count_before = len(seen)
        _wait(lambda: len(seen) > count_before + 30)
    finally:
        stop.set()
        thread.join()

    assert {status for status, _ in seen} == {200}, "no request may fail during swaps"
    versions = [v for _, v in seen]
    first_v2 = versions.index(v2)
    assert set(versions[:first_v2]) == {v1}
    assert set(versions[first_v2:]) == {v2}, "the corrupt version must never serve"
    ready = client.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["model"]["version"] == v2
    assert body["model_error"]["reason"] == "integrity"
    assert "checksum mismatch" in body["model_error"]["error"]
    text = client.get("/metrics").text
    # Refused once, not retried at every poll.
    assert total(text, "model_load_failures_total", version=v3, reason="integrity") == 1
    assert total(text, "model_swaps_total") == 1
    assert total(text, "model_info", version=v2) == 1
    # Each version's latest load time, per version (the refused one has none).
    for loaded in (v1, v2):
        assert total(text, "model_load_last_duration_seconds", model_version=loaded) > 0
    assert total(text, "model_load_last_duration_seconds", model_version=v3) == 0

    # An explicit reload retries (and fails again); still serving v2.
    reload = client.post("/models/reload").json()
    assert reload["changed"] is False
    assert reload["served"]["version"] == v2
    assert "checksum mismatch" in reload["error"]
    text = client.get("/metrics").text
    assert total(text, "model_load_failures_total", version=v3, reason="integrity") == 2

    # Per-call versions: the previous one (kept in the LRU), the corrupt one (refused).
    old = client.post("/predict", json=records[0], params={"model_version": v1})
    assert old.status_code == 200
    assert old.json()["model_version"] == v1
    bad = client.post("/predict", json=records[0], params={"model_version": v3})
    assert bad.status_code == 502
    assert bad.json()["error"]["type"] == "integrity_error"


def test_corrupt_reference_is_refused(
    make_client: Callable[..., TestClient], tmp_path: Path, trained: TrainedModel
) -> None:
    store = open_store(str(tmp_path / "artifacts"))
    v1 = publish(store, trained, promote=True).version
    client = make_client(home=tmp_path, poll_interval_s=0.1)
    v2 = publish(store, trained, promote=False).version
    _corrupt(tmp_path, v2, "reference.json")
    Registry(store, "porto").set_alias("champion", v2)  # as bit rot after promotion would
    _wait(lambda: (client.get("/ready").json()["model_error"] or {}).get("version") == v2)
    assert client.get("/ready").json()["model"]["version"] == v1


def test_falls_back_to_latest_and_picks_up_a_first_model(
    make_client: Callable[..., TestClient], tmp_path: Path, trained: TrainedModel
) -> None:
    client = make_client(home=tmp_path, poll_interval_s=0.1)
    assert client.get("/ready").status_code == 503
    store = open_store(str(tmp_path / "artifacts"))
    manifest = publish(store, trained, promote=True)
    Registry(store, "porto").remove_alias("champion")  # only `latest` exists now
    _wait(lambda: client.get("/ready").status_code == 200)
    body = client.get("/ready").json()
    assert body["model"]["version"] == manifest.version
    assert body["model"]["alias"] == "latest"
    assert body["model_error"] is None


def test_lru_of_per_call_versions(
    make_client: Callable[..., TestClient],
    tmp_path: Path,
    trained: TrainedModel,
    records: list[dict[str, Any]],
) -> None:
    store = open_store(str(tmp_path / "artifacts"))
    versions = [publish(store, trained, promote=i == 0).version for i in range(4)]
    client = make_client(home=tmp_path, model_cache_size=2)
    for version in versions:
        r = client.post("/predict", json=records[0], params={"model_version": version})
        assert r.json()["model_version"] == version
    manager = client.app.state.service.models  # type: ignore[attr-defined]
    assert list(manager._cache) == versions[2:]  # the served one is not in the LRU
    assert manager.current.version == versions[0]
    latest = client.post("/predict", json=records[0], params={"model_version": "latest"})
    assert latest.json()["model_version"] == versions[-1]
