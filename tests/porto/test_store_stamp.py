"""``ArtifactStore.stamp``: what tells the inference service that a refused bundle changed (and
is worth loading again) without reading it. Both stores, same contract."""

from __future__ import annotations

from porto.store import ArtifactStore


def test_stamp_changes_with_any_write_and_only_then(store: ArtifactStore) -> None:
    store.put_bytes("models/porto/v1/model.cbm", b"good bytes")
    store.put_bytes("models/porto/v1/manifest.json", b"{}")
    store.put_bytes("models/porto/v2/model.cbm", b"other")
    first = store.stamp("models/porto/v1")
    assert store.stamp("models/porto/v1") == first  # nothing changed

    store.put_bytes("models/porto/v2/model.cbm", b"another")  # another version: not ours
    assert store.stamp("models/porto/v1") == first

    store.put_bytes("models/porto/v1/model.cbm", b"bad! bytes")  # same size, other content
    damaged = store.stamp("models/porto/v1")
    assert damaged != first
    store.put_bytes("models/porto/v1/model.cbm", b"good bytes")  # repaired
    repaired = store.stamp("models/porto/v1")
    assert repaired != damaged

    store.delete("models/porto/v1/manifest.json")
    assert store.stamp("models/porto/v1") != repaired
    assert store.stamp("models/porto/none") == store.stamp("models/porto/none-either")
