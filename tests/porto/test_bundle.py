"""Bundles: files first, manifest last with every file's sha256; readers verify checksums; a
version is written once; a failed upload leaves nothing a reader could mistake for a version."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from porto.bundle import (
    MANIFEST,
    Manifest,
    new_version,
    read_file,
    read_json,
    read_manifest,
    validate_name,
    version_prefix,
    write_bundle,
)
from porto.errors import ConfigError, IntegrityError, NotFoundError, StoreError
from porto.hashing import sha256_bytes
from porto.registry import Registry
from porto.store import ArtifactStore, FileStore

MakeManifest = Callable[..., Manifest]
FILES = {
    "model.cbm": b"\x00model\xff" * 100,
    "reference.json": json.dumps({"rows": 3}).encode(),
    "plots/roc.png": b"\x89PNG fake",
}


class RecordingStore(FileStore):
    """A FileStore that records the order of writes and can fail the n-th one."""

    def __init__(self, root: str, fail_on: int | None = None, exc: BaseException | None = None):
        super().__init__(root)
        self.puts: list[str] = []
        self.fail_on = fail_on
        self.exc = exc or StoreError("disk on fire")

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        if self.fail_on is not None and len(self.puts) + 1 == self.fail_on:
            raise self.exc
        super().put_bytes(key, data, content_type)
        self.puts.append(key)


def test_write_records_checksums_and_sizes(
    store: ArtifactStore, make_manifest: MakeManifest
) -> None:
    written = write_bundle(store, make_manifest("v1"), FILES)
    assert set(written.files) == set(FILES)
    for rel, data in FILES.items():
        assert written.files[rel].sha256 == sha256_bytes(data)
        assert written.files[rel].size == len(data)
        assert read_file(store, written, rel) == data
    assert read_manifest(store, "porto", "v1") == written
    assert read_json(store, written, "reference.json") == {"rows": 3}
    assert store.list_keys(version_prefix("porto", "v1")) == sorted(
        f"models/porto/v1/{rel}" for rel in [*FILES, MANIFEST]
    )


def test_manifest_is_written_last(tmp_path: str, make_manifest: MakeManifest) -> None:
    store = RecordingStore(str(tmp_path))
    write_bundle(store, make_manifest("v1"), FILES)
    assert store.puts[-1] == "models/porto/v1/manifest.json"
    assert sorted(store.puts[:-1]) == sorted(f"models/porto/v1/{rel}" for rel in FILES)


@pytest.mark.parametrize("fail_on", [1, 2, 4])  # first file, a middle file, the manifest
def test_failed_upload_leaves_no_version(
    tmp_path: str, make_manifest: MakeManifest, fail_on: int
) -> None:
    store = RecordingStore(str(tmp_path), fail_on=fail_on)
    with pytest.raises(StoreError, match="disk on fire"):
        write_bundle(store, make_manifest("v1"), FILES)
    assert Registry(store, "porto").versions() == []
    assert store.list_keys("models") == []  # cleaned up, not merely hidden
    with pytest.raises(NotFoundError):
        read_manifest(store, "porto", "v1")


def test_interrupted_upload_is_cleaned_up_too(tmp_path: str, make_manifest: MakeManifest) -> None:
    store = RecordingStore(str(tmp_path), fail_on=3, exc=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        write_bundle(store, make_manifest("v1"), FILES)
    assert store.list_keys("") == []


def test_a_version_is_written_once(store: ArtifactStore, make_manifest: MakeManifest) -> None:
    first = write_bundle(store, make_manifest("v1"), FILES)
    with pytest.raises(ConfigError, match="already exists"):
        write_bundle(store, make_manifest("v1"), {"model.cbm": b"other"})
    assert read_manifest(store, "porto", "v1") == first
    assert read_file(store, first, "model.cbm") == FILES["model.cbm"]


def test_tampered_file_is_an_integrity_error(
    store: ArtifactStore, make_manifest: MakeManifest
) -> None:
    manifest = write_bundle(store, make_manifest("v1"), FILES)
    store.put_bytes("models/porto/v1/model.cbm", FILES["model.cbm"] + b"!")
    with pytest.raises(IntegrityError, match=r"checksum mismatch for porto/v1/model\.cbm"):
        read_file(store, manifest, "model.cbm")
    assert read_file(store, manifest, "reference.json") == FILES["reference.json"]


def test_files_outside_the_manifest_are_not_served(
    store: ArtifactStore, make_manifest: MakeManifest
) -> None:
    manifest = write_bundle(store, make_manifest("v1"), FILES)
    store.put_bytes("models/porto/v1/extra.bin", b"slipped in later")
    with pytest.raises(NotFoundError, match=r"no file 'extra\.bin'"):
        read_file(store, manifest, "extra.bin")


def test_a_deleted_file_is_not_found(store: ArtifactStore, make_manifest: MakeManifest) -> None:
    manifest = write_bundle(store, make_manifest("v1"), FILES)
    store.delete("models/porto/v1/model.cbm")
    with pytest.raises(NotFoundError):
        read_file(store, manifest, "model.cbm")


def test_corrupt_manifest_is_an_integrity_error(
    store: ArtifactStore, make_manifest: MakeManifest
) -> None:
    write_bundle(store, make_manifest("v1"), FILES)
    store.put_bytes("models/porto/v1/manifest.json", b'{"name": "porto"')
    with pytest.raises(IntegrityError, match="manifest of porto/v1 is not valid"):
        read_manifest(store, "porto", "v1")


def test_missing_version_is_not_found(file_store: FileStore) -> None:
    with pytest.raises(NotFoundError, match="model 'porto' has no version 'v9'"):
        read_manifest(file_store, "porto", "v9")


def test_a_file_may_not_be_called_manifest(
    file_store: FileStore, make_manifest: MakeManifest
) -> None:
    with pytest.raises(ConfigError, match=r"manifest\.json"):
        write_bundle(file_store, make_manifest("v1"), {MANIFEST: b"{}"})
    assert file_store.list_keys("") == []


@pytest.mark.parametrize(
    "name", ["", ".", "..", ".hidden", "a/b", "../x", "sp ace", "a\\b", "v1\n"]
)
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigError):
        validate_name(name)
    with pytest.raises(ConfigError):
        version_prefix("porto", name)


def test_unsafe_model_name_in_manifest_is_refused(
    file_store: FileStore, make_manifest: MakeManifest
) -> None:
    with pytest.raises(ConfigError, match="invalid model name"):
        write_bundle(file_store, make_manifest("v1", name="../escape"), FILES)
    assert file_store.list_keys("") == []


def test_new_versions_sort_by_time_and_are_unique() -> None:
    early = new_version(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    late = new_version(datetime(2026, 11, 25, 14, 5, 12, tzinfo=UTC))
    assert early.startswith("20260102-030405-")
    assert early < late
    assert validate_name(late) == late
    assert len({new_version() for _ in range(50)}) > 1


def test_manifest_round_trips_through_json(make_manifest: MakeManifest) -> None:
    manifest = make_manifest("v1", metrics={"auc": 0.71}, config={"seed": 3})
    assert Manifest.model_validate_json(manifest.model_dump_json()) == manifest
