"""POST /models/{version}/promote: verified first, behind the API key, swaps this worker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from inference.bundles import MODEL_NAME, TrainedModel, publish
from porto.bundle import version_prefix
from porto.registry import Registry
from porto.store import FileStore


@pytest.fixture
def two_versions(
    tmp_path: Path, trained: TrainedModel, trained_other: TrainedModel
) -> tuple[Path, str, str]:
    """A PORTO_HOME of its own (promotion changes aliases): champion A, then a newer B."""
    store = FileStore(tmp_path / "artifacts")
    first = publish(store, trained, promote=True, version="20260101-000000-aaaa")
    second = publish(store, trained_other, version="20260102-000000-bbbb")
    return tmp_path, first.version, second.version


def test_promote_moves_the_champion_and_swaps(
    make_client: Callable[..., TestClient], two_versions: tuple[Path, str, str]
) -> None:
    home, first, second = two_versions
    client = make_client(home=home, api_key="promote-key")
    assert client.get("/ready").json()["model"]["version"] == first

    refused = client.post(f"/models/{second}/promote")
    assert refused.status_code == 401
    assert Registry(FileStore(home / "artifacts"), MODEL_NAME).aliases()["champion"] == first

    headers = {"X-API-Key": "promote-key"}
    response = client.post(f"/models/{second}/promote", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["version"], body["previous"], body["changed"]) == (second, first, True)
    assert body["served"]["version"] == second
    assert client.get("/ready").json()["model"]["version"] == second
    catalogue = client.get("/models").json()
    assert catalogue["aliases"]["champion"] == second
    assert "champion" in next(v for v in catalogue["versions"] if v["version"] == second)["aliases"]

    again = client.post(f"/models/{second}/promote", headers=headers).json()
    assert again["changed"] is False

    by_alias = client.post("/models/latest/promote", headers=headers)
    assert by_alias.status_code == 200
    assert client.post("/models/nope/promote", headers=headers).status_code == 404


def test_a_bundle_that_fails_verification_is_not_promoted(
    make_client: Callable[..., TestClient], two_versions: tuple[Path, str, str]
) -> None:
    home, first, second = two_versions
    model_file = home / "artifacts" / version_prefix(MODEL_NAME, second) / "model.cbm"
    model_file.write_bytes(model_file.read_bytes()[:-10] + b"tampered!!")
    client = make_client(home=home)
    response = client.post(f"/models/{second}/promote")
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "integrity_error"
    assert Registry(FileStore(home / "artifacts"), MODEL_NAME).aliases()["champion"] == first
    assert client.get("/ready").json()["model"]["version"] == first
