"""FileStore specifics: writes are atomic (temp file + rename), failures leave nothing behind,
errors are StoreError with the path, and URIs pick the right store."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from porto.errors import ConfigError, StoreError
from porto.store import FileStore, S3Store, open_store, split_s3_uri


def _all_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_writes_land_under_the_root_and_leave_no_temp_files(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.put_bytes("models/m/v1/model.cbm", b"abc")
    store.put_bytes("models/m/v1/model.cbm", b"abcd")
    assert (tmp_path / "models/m/v1/model.cbm").read_bytes() == b"abcd"
    assert _all_files(tmp_path) == ["models/m/v1/model.cbm"]


def test_a_failed_write_keeps_the_old_object_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path)
    store.put_bytes("a/alias.json", b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(StoreError, match="No space left"):
        store.put_bytes("a/alias.json", b"new")
    assert store.get_bytes("a/alias.json") == b"old"
    assert _all_files(tmp_path) == ["a/alias.json"]


def test_readers_never_see_a_partial_object(tmp_path: Path) -> None:
    """Aliases are rewritten while inference reads them: every read must be one whole version."""
    store = FileStore(tmp_path)
    versions = [bytes([i]) * 200_000 for i in (1, 2)]
    store.put_bytes("alias", versions[0])
    stop = threading.Event()
    seen: list[bytes] = []

    def read() -> None:
        while not stop.is_set():
            seen.append(store.get_bytes("alias"))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        # Writes go on until the reader has read during them: on a busy machine the reader
        # thread may get no turn during a fixed number of writes.
        writes = 0
        while (writes < 60 or len(seen) < 20) and reader.is_alive():
            store.put_bytes("alias", versions[writes % 2])
            writes += 1
    finally:
        stop.set()
        reader.join()
    assert len(seen) >= 20
    assert all(s in versions for s in seen)


def test_in_flight_temp_files_are_not_listed_but_real_tmp_keys_are(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.put_bytes("d/notes.tmp", b"a real object")
    (tmp_path / "d" / ".model.cbm.abc123.tmp").write_bytes(b"half written")
    assert store.list_keys("d") == ["d/notes.tmp"]
    assert store.list_children("d") == ["notes.tmp"]


def test_delete_prefix_removes_the_directory(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.put_bytes("models/m/v1/a", b"1")
    store.put_bytes("models/m/v1/b/c", b"1")
    store.delete_prefix("models/m/v1")
    assert not (tmp_path / "models/m/v1").exists()
    assert store.list_children("models/m") == []


def test_check_creates_the_root(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "new" / "artifacts")
    store.check()
    assert (tmp_path / "new" / "artifacts").is_dir()


def test_a_root_that_cannot_exist_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = FileStore(blocker / "artifacts")
    with pytest.raises(StoreError, match="cannot create artifact directory"):
        store.check()
    with pytest.raises(StoreError, match="cannot write"):
        store.put_bytes("k", b"1")


def test_reading_a_directory_is_a_store_error(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.put_bytes("d/k", b"1")
    with pytest.raises(StoreError, match="cannot read"):
        store.get_bytes("d")


def test_root_is_resolved_and_shown_as_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = FileStore("rel/dir")
    assert store.root == tmp_path.resolve() / "rel" / "dir"
    assert store.uri == f"file://{tmp_path.resolve()}/rel/dir"


def test_open_store_picks_the_implementation(tmp_path: Path) -> None:
    local = open_store(f"file://{tmp_path}")
    assert isinstance(local, FileStore) and local.root == tmp_path.resolve()
    plain = open_store(str(tmp_path / "plain"))
    assert isinstance(plain, FileStore) and plain.root == (tmp_path / "plain").resolve()
    s3 = open_store("s3://bucket/some/prefix/")
    assert isinstance(s3, S3Store)
    assert (s3.bucket, s3.prefix, s3.uri) == ("bucket", "some/prefix", "s3://bucket/some/prefix")
    with pytest.raises(ConfigError, match="no bucket"):
        open_store("s3:///path")
    with pytest.raises(ConfigError, match="unsupported"):
        open_store("http://example.invalid/x")


def test_split_s3_uri() -> None:
    assert split_s3_uri("s3://data/porto/train.csv") == ("data", "porto/train.csv")
    for bad in ["s3://data", "s3://data/", "file:///x", "data/x"]:
        with pytest.raises(ConfigError):
            split_s3_uri(bad)
