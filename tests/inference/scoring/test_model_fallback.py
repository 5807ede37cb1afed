"""A champion that cannot be loaded: the fallback a worker serves instead, what /ready and the
metrics say about it, promotion refusing a corrupt bundle, and a repaired bundle picked up
without a restart (issue "hardening", defects 2 and 3)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from harness.ports import wait_until
from harness.timing import DEADLINE
from inference.bundles import TrainedModel, publish
from inference.servers import total
from porto.bundle import version_prefix
from porto.registry import CHAMPION, LATEST, Registry
from porto.store import open_store


def _wait(predicate: Callable[[], bool], what: str = "the model manager's next state") -> None:
    wait_until(predicate, DEADLINE, what)


def _path(home: Path, version: str, rel: str = "model.cbm") -> Path:
    return home / "artifacts" / version_prefix("porto", version) / rel


def _corrupt(home: Path, version: str, rel: str = "model.cbm") -> bytes:
    """Flip one byte of a file after its manifest was written; return the original bytes."""
    path = _path(home, version, rel)
    original = path.read_bytes()
    data = bytearray(original)
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return original


def _fallback(client: TestClient) -> dict[str, Any] | None:
    model = client.get("/ready").json()["model"] or {}
    found: dict[str, Any] | None = model.get("fallback")
    return found


def test_a_worker_starting_on_a_corrupt_champion_serves_the_fallback_alias(
    make_client: Callable[..., TestClient],
    tmp_path: Path,
    trained: TrainedModel,
    trained_other: TrainedModel,
    records: list[dict[str, Any]],
) -> None:
    store = open_store(str(tmp_path / "artifacts"))
    registry = Registry(store, "porto")
    good = publish(store, trained, promote=True).version
    bad = publish(store, trained_other).version
    _corrupt(tmp_path, bad)
    # What `models promote` did before it verified (or bit rot after a verified promotion).
    registry.set_alias(CHAMPION, bad)
    registry.set_alias(LATEST, good)

    client = make_client(home=tmp_path)
    ready = client.get("/ready")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert body["model"]["version"] == good
    fallback = body["model"]["fallback"]
    assert fallback["alias"] == CHAMPION
    assert fallback["version"] == bad
    assert fallback["reason"] == "integrity"
    assert "checksum mismatch" in fallback["error"]
    assert fallback["source"] == LATEST
    answer = client.post("/predict", json=records[0])
    assert answer.status_code == 200
    assert answer.json()["model_version"] == good
    text = client.get("/metrics").text
    assert total(text, "model_serving_fallback") == 1
    assert total(text, "model_fallbacks_total", reason="integrity") == 1
    assert total(text, "model_loaded") == 1


def test_without_a_good_fallback_alias_the_newest_verified_version_serves(
    make_client: Callable[..., TestClient],
    tmp_path: Path,
    trained: TrainedModel,
    trained_other: TrainedModel,
) -> None:
    store = open_store(str(tmp_path / "artifacts"))
    registry = Registry(store, "porto")
    publish(store, trained, promote=True)
    newest_good = publish(store, trained_other).version
    bad = publish(store, trained).version  # `latest` now
    _corrupt(tmp_path, bad)
    registry.set_alias(CHAMPION, bad)
    assert registry.resolve(LATEST) == bad

    client = make_client(home=tmp_path)
    body = client.get("/ready").json()
    assert body["model"]["version"] == newest_good
    assert body["model"]["fallback"]["source"] == "newest verified version"
    assert body["model"]["fallback"]["version"] == bad


def test_a_repaired_champion_is_picked_up_without_reload_or_restart(
    make_client: Callable[..., TestClient],
    tmp_path: Path,
    trained: TrainedModel,
    trained_other: TrainedModel,
) -> None:
    store = open_store(str(tmp_path / "artifacts"))
    registry = Registry(store, "porto")
    v1 = publish(store, trained, promote=True).version
    client = make_client(home=tmp_path, poll_interval_s=0.1)
    v2 = publish(store, trained_other).version
    original = _corrupt(tmp_path, v2)
    registry.set_alias(CHAMPION, v2)
    _wait(lambda: (_fallback(client) or {}).get("version") == v2, "v2 refused")
    # Still refused at the next polls while nothing changed (counted once).
    failures = total(client.get("/metrics").text, "model_load_failures_total", version=v2)
    assert failures == 1
    assert client.get("/ready").json()["model"]["version"] == v1

    _path(tmp_path, v2).write_bytes(original)  # the operator restores the file
    _wait(lambda: client.get("/ready").json()["model"]["version"] == v2, "the repaired v2 served")
    body = client.get("/ready").json()
    assert body["model"]["fallback"] is None
    assert body["model_error"] is None
    text = client.get("/metrics").text
    assert total(text, "model_serving_fallback") == 0


def test_api_promote_refuses_a_corrupt_bundle_then_accepts_it_repaired(
    make_client: Callable[..., TestClient],
    tmp_path: Path,
    trained: TrainedModel,
    trained_other: TrainedModel,
) -> None:
    store = open_store(str(tmp_path / "artifacts"))
    registry = Registry(store, "porto")
    v1 = publish(store, trained, promote=True).version
    v2 = publish(store, trained_other).version
    client = make_client(home=tmp_path)
    original = _corrupt(tmp_path, v2)

    refused = client.post(f"/models/{v2}/promote")
    assert refused.status_code == 502, refused.text
    error = refused.json()["error"]
    assert error["type"] == "integrity_error"
    assert "checksum mismatch" in error["message"] and "model.cbm" in error["message"]
    assert registry.resolve(CHAMPION) == v1
    again = client.post("/models/reload").json()
    assert again["served"]["version"] == v1

    _path(tmp_path, v2).write_bytes(original)
    promoted = client.post(f"/models/{v2}/promote")
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["changed"] is True
    assert promoted.json()["served"]["version"] == v2
    assert registry.resolve(CHAMPION) == v2


def test_api_promote_verifies_the_stored_bundle_even_when_the_version_is_loaded(
    make_client: Callable[..., TestClient],
    tmp_path: Path,
    trained: TrainedModel,
    trained_other: TrainedModel,
    records: list[dict[str, Any]],
) -> None:
    """A version loaded earlier (``model_version=``) is in memory; its stored bundle may have
    been damaged since, and every other worker would load that copy."""
    store = open_store(str(tmp_path / "artifacts"))
    registry = Registry(store, "porto")
    v1 = publish(store, trained, promote=True).version
    v2 = publish(store, trained_other).version
    client = make_client(home=tmp_path)
    assert client.post("/predict", json=records[0], params={"model_version": v2}).status_code == 200
    _corrupt(tmp_path, v2)

    refused = client.post(f"/models/{v2}/promote")
    assert refused.status_code == 502, refused.text
    assert "checksum mismatch" in refused.json()["error"]["message"]
    assert registry.resolve(CHAMPION) == v1


def test_a_repaired_version_is_retried_for_per_call_requests(
    make_client: Callable[..., TestClient],
    tmp_path: Path,
    trained: TrainedModel,
    trained_other: TrainedModel,
    records: list[dict[str, Any]],
) -> None:
    store = open_store(str(tmp_path / "artifacts"))
    publish(store, trained, promote=True)
    v2 = publish(store, trained_other).version
    original = _corrupt(tmp_path, v2)
    client = make_client(home=tmp_path, poll_interval_s=0.1)
    bad = client.post("/predict", json=records[0], params={"model_version": v2})
    assert bad.status_code == 502
    _path(tmp_path, v2).write_bytes(original)

    def served() -> bool:
        r = client.post("/predict", json=records[0], params={"model_version": v2})
        return r.status_code == 200 and r.json()["model_version"] == v2

    _wait(served, "the repaired v2 served per call")
