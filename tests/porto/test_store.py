"""The artifact store contract, run against every implementation (local directory and MinIO):
bundles and the registry rely on exactly these semantics, whichever store holds them."""

from __future__ import annotations

import pytest
from porto.errors import ConfigError, NotFoundError
from porto.store import ArtifactStore


def test_put_then_get_returns_the_same_bytes(store: ArtifactStore) -> None:
    payload = bytes(range(256)) * 4
    store.put_bytes("a/b/blob.bin", payload)
    assert store.get_bytes("a/b/blob.bin") == payload


def test_put_replaces_the_previous_object(store: ArtifactStore) -> None:
    store.put_bytes("k.json", b'{"v": 1}', "application/json")
    store.put_bytes("k.json", b'{"v": 2}', "application/json")
    assert store.get_bytes("k.json") == b'{"v": 2}'
    assert store.list_keys("") == ["k.json"]


def test_empty_object_is_an_object(store: ArtifactStore) -> None:
    store.put_bytes("empty", b"")
    assert store.exists("empty")
    assert store.get_bytes("empty") == b""


def test_missing_object_is_not_found(store: ArtifactStore) -> None:
    store.put_bytes("x/present", b"1")
    assert not store.exists("x/absent")
    with pytest.raises(NotFoundError):
        store.get_bytes("x/absent")


def test_a_prefix_is_not_an_object(store: ArtifactStore) -> None:
    store.put_bytes("dir/file", b"1")
    assert not store.exists("dir")


def test_list_keys_is_recursive_sorted_and_scoped(store: ArtifactStore) -> None:
    for key in ["m/b/2", "m/a/1", "m/a/sub/3", "m2/other", "top"]:
        store.put_bytes(key, key.encode())
    assert store.list_keys("m") == ["m/a/1", "m/a/sub/3", "m/b/2"]
    assert store.list_keys("m/a/") == ["m/a/1", "m/a/sub/3"]
    assert store.list_keys("") == ["m/a/1", "m/a/sub/3", "m/b/2", "m2/other", "top"]
    assert store.list_keys("nothing/here") == []


def test_list_children_is_one_level(store: ArtifactStore) -> None:
    for key in [
        "models/m/v1/manifest.json",
        "models/m/v2/model.cbm",
        "models/m/readme",
        "models/n/x",
    ]:
        store.put_bytes(key, b"1")
    assert store.list_children("models") == ["m", "n"]
    assert store.list_children("models/m") == ["readme", "v1", "v2"]
    assert store.list_children("/models/m/") == ["readme", "v1", "v2"]
    assert store.list_children("") == ["models"]
    assert store.list_children("models/zzz") == []


def test_delete_is_idempotent(store: ArtifactStore) -> None:
    store.put_bytes("gone", b"1")
    store.delete("gone")
    assert not store.exists("gone")
    store.delete("gone")
    store.delete("never/existed")


def test_delete_prefix_removes_only_that_prefix(store: ArtifactStore) -> None:
    for key in ["v/1/a", "v/1/b/c", "v/10/a", "v/1x"]:
        store.put_bytes(key, b"1")
    assert store.delete_prefix("v/1") == 2
    assert store.list_keys("") == ["v/10/a", "v/1x"]
    assert store.list_children("v") == ["10", "1x"]


def test_keys_are_normalised(store: ArtifactStore) -> None:
    store.put_bytes("/a//b/", b"1")
    assert store.get_bytes("a/b") == b"1"
    assert store.list_keys("a") == ["a/b"]


@pytest.mark.parametrize("key", ["", "/", "../escape", "a/../../b", "a/./b"])
def test_unsafe_keys_are_refused(store: ArtifactStore, key: str) -> None:
    with pytest.raises(ConfigError, match="invalid artifact key"):
        store.put_bytes(key, b"1")
    with pytest.raises(ConfigError):
        store.get_bytes(key)


def test_check_accepts_a_fresh_store(store: ArtifactStore) -> None:
    store.check()
    store.check()


def test_upload_streams_pieces_into_one_object(store: ArtifactStore) -> None:
    """More than one S3 part (a multipart upload) and a small object (one PUT) alike."""
    from porto.store import S3_PART_BYTES

    piece = bytes(range(256)) * 4096  # 1 MiB
    pieces = S3_PART_BYTES // len(piece) + 2
    with store.upload("big/file.bin") as upload:
        for _ in range(pieces):
            upload.write(piece)
    assert store.get_bytes("big/file.bin") == piece * pieces
    with store.upload("small.bin") as upload:
        upload.write(b"a")
        upload.write(b"b")
    assert store.get_bytes("small.bin") == b"ab"
    assert store.list_keys("") == ["big/file.bin", "small.bin"]


@pytest.mark.parametrize("size", [10, 17 * 1024 * 1024])
def test_a_failed_upload_publishes_nothing_and_keeps_the_old_object(
    store: ArtifactStore, size: int
) -> None:
    store.put_bytes("day/part.bin", b"old")
    with pytest.raises(RuntimeError, match="killed"), store.upload("day/part.bin") as upload:
        upload.write(b"x" * size)
        raise RuntimeError("killed")
    assert store.get_bytes("day/part.bin") == b"old"
    assert store.list_keys("day") == ["day/part.bin"]
    with pytest.raises(RuntimeError), store.upload("day/new.bin") as upload:
        upload.write(b"x" * size)
        raise RuntimeError("killed")
    assert not store.exists("day/new.bin")
