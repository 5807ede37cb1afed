"""Promotion verifies the bundle: a version whose files no longer match their manifest checksums
never becomes the champion, and the same version promotes once it is repaired."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from porto.bundle import Manifest, version_prefix, write_bundle
from porto.errors import IntegrityError
from porto.registry import CHAMPION, Registry
from porto.store import ArtifactStore

MakeManifest = Callable[..., Manifest]
FILES = {"model.cbm": b"the model bytes", "plots/roc.png": b"\x89PNG roc"}


def test_promote_refuses_a_corrupt_bundle_and_accepts_it_repaired(
    store: ArtifactStore, make_manifest: MakeManifest
) -> None:
    registry = Registry(store, "porto")
    for version in ("v1", "v2"):
        registry.register(write_bundle(store, make_manifest(version), FILES))
    key = f"{version_prefix('porto', 'v2')}/model.cbm"
    store.put_bytes(key, b"the model bytez")  # same size, other content

    refused = r"version v2 cannot be promoted: checksum mismatch .*model\.cbm"
    with pytest.raises(IntegrityError, match=refused):
        registry.promote("v2")
    with pytest.raises(IntegrityError, match="checksum mismatch"):
        registry.promote("latest")
    assert registry.resolve(CHAMPION) == "v1"

    store.put_bytes(key, FILES["model.cbm"])
    assert registry.promote("v2") == "v2"
    assert registry.resolve(CHAMPION) == "v2"


def test_verify_bundle_names_a_missing_file(
    store: ArtifactStore, make_manifest: MakeManifest
) -> None:
    from porto.bundle import verify_bundle

    manifest = write_bundle(store, make_manifest("v1"), FILES)
    verify_bundle(store, manifest)
    store.delete(f"{version_prefix('porto', 'v1')}/plots/roc.png")
    with pytest.raises(IntegrityError, match=r"plots/roc\.png.* missing"):
        verify_bundle(store, manifest)
