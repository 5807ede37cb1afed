"""The registry: which versions exist, where ``latest`` and ``champion`` point, and the rules
that keep the champion from disappearing by accident."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from porto.bundle import Manifest, write_bundle
from porto.errors import ConfigError, NotFoundError
from porto.registry import CHAMPION, LATEST, Registry, list_models
from porto.store import ArtifactStore

MakeManifest = Callable[..., Manifest]
FILES = {"model.cbm": b"m"}


def _publish(
    store: ArtifactStore, make: MakeManifest, version: str, *, promote: bool = False
) -> tuple[Manifest, bool]:
    manifest = write_bundle(store, make(version), FILES)
    return manifest, Registry(store, "porto").register(manifest, promote=promote)


def test_empty_registry(store: ArtifactStore) -> None:
    store.check()  # an existing, empty bucket or directory
    registry = Registry(store, "porto")
    assert registry.versions() == []
    assert registry.aliases() == {}
    assert list_models(store) == []
    with pytest.raises(NotFoundError, match="no version or alias 'champion'"):
        registry.resolve(CHAMPION)


def test_first_version_becomes_champion_later_ones_only_latest(
    store: ArtifactStore, make_manifest: MakeManifest
) -> None:
    registry = Registry(store, "porto")
    _, first_is_champion = _publish(store, make_manifest, "v1")
    assert first_is_champion
    assert registry.aliases() == {CHAMPION: "v1", LATEST: "v1"}
    _, second_is_champion = _publish(store, make_manifest, "v2")
    assert not second_is_champion
    assert registry.aliases() == {CHAMPION: "v1", LATEST: "v2"}
    assert registry.versions() == ["v1", "v2"]
    assert list_models(store) == ["porto"]


def test_register_with_promote_makes_champion(
    store: ArtifactStore, make_manifest: MakeManifest
) -> None:
    _publish(store, make_manifest, "v1")
    _, promoted = _publish(store, make_manifest, "v2", promote=True)
    assert promoted
    assert Registry(store, "porto").resolve(CHAMPION) == "v2"


def test_resolve_and_get_by_alias_or_version(
    store: ArtifactStore, make_manifest: MakeManifest
) -> None:
    registry = Registry(store, "porto")
    m1, _ = _publish(store, make_manifest, "v1")
    m2, _ = _publish(store, make_manifest, "v2")
    assert registry.resolve(CHAMPION) == "v1"
    assert registry.resolve(LATEST) == "v2"
    assert registry.resolve("v2") == "v2"
    assert registry.get(CHAMPION) == m1
    assert registry.get("v2") == m2
    with pytest.raises(NotFoundError):
        registry.resolve("v3")
    with pytest.raises(ConfigError):
        registry.resolve("../v1")


def test_promote_moves_only_the_champion(store: ArtifactStore, make_manifest: MakeManifest) -> None:
    registry = Registry(store, "porto")
    for v in ("v1", "v2", "v3"):
        _publish(store, make_manifest, v)
    assert registry.promote("v2") == "v2"
    assert registry.aliases() == {CHAMPION: "v2", LATEST: "v3"}
    assert registry.promote(LATEST) == "v3"
    assert registry.resolve(CHAMPION) == "v3"
    with pytest.raises(NotFoundError):
        registry.promote("v9")
    assert registry.resolve(CHAMPION) == "v3"


def test_alias_must_name_an_existing_version(
    store: ArtifactStore, make_manifest: MakeManifest
) -> None:
    registry = Registry(store, "porto")
    _publish(store, make_manifest, "v1")
    with pytest.raises(NotFoundError):
        registry.set_alias("staging", "v7")
    registry.set_alias("staging", "v1")
    assert registry.aliases()["staging"] == "v1"
    registry.remove_alias("staging")
    assert "staging" not in registry.aliases()


def test_deleting_the_champion_needs_force(
    store: ArtifactStore, make_manifest: MakeManifest
) -> None:
    registry = Registry(store, "porto")
    _publish(store, make_manifest, "v1")
    _publish(store, make_manifest, "v2")
    with pytest.raises(ConfigError, match="champion"):
        registry.delete(CHAMPION)
    with pytest.raises(ConfigError, match="--force"):
        registry.delete("v1")
    assert registry.versions() == ["v1", "v2"]
    assert registry.get("v1").version == "v1"

    assert registry.delete("v1", force=True) == "v1"
    assert registry.versions() == ["v2"]
    assert registry.aliases() == {LATEST: "v2"}
    assert store.list_keys("models/porto/v1") == []


def test_deleting_latest_moves_it_to_the_newest_remaining(
    store: ArtifactStore, make_manifest: MakeManifest
) -> None:
    registry = Registry(store, "porto")
    for v in ("v1", "v2", "v3"):
        _publish(store, make_manifest, v)
    assert registry.delete(LATEST) == "v3"
    assert registry.aliases() == {CHAMPION: "v1", LATEST: "v2"}
    registry.delete("v2")
    assert registry.aliases() == {CHAMPION: "v1", LATEST: "v1"}


def test_newest_is_by_creation_time_not_by_name(
    store: ArtifactStore, make_manifest: MakeManifest
) -> None:
    registry = Registry(store, "porto")
    for v in ("b-first", "a-second", "c-third"):  # make_manifest stamps them in call order
        _publish(store, make_manifest, v)
    assert [m.version for m in registry.manifests()] == ["b-first", "a-second", "c-third"]
    registry.delete("c-third")
    assert registry.resolve(LATEST) == "a-second"


def test_deleting_the_last_version_leaves_no_aliases(
    store: ArtifactStore, make_manifest: MakeManifest
) -> None:
    registry = Registry(store, "porto")
    _publish(store, make_manifest, "v1")
    registry.delete("v1", force=True)
    assert registry.versions() == []
    assert registry.aliases() == {}


def test_incomplete_versions_are_invisible(
    store: ArtifactStore, make_manifest: MakeManifest
) -> None:
    registry = Registry(store, "porto")
    _publish(store, make_manifest, "v1")
    store.put_bytes("models/porto/v2/model.cbm", b"upload died before the manifest")
    assert registry.versions() == ["v1"]
    assert [m.version for m in registry.manifests()] == ["v1"]
    with pytest.raises(NotFoundError):
        registry.resolve("v2")
    with pytest.raises(NotFoundError):
        registry.set_alias(CHAMPION, "v2")


def test_models_are_independent(store: ArtifactStore, make_manifest: MakeManifest) -> None:
    write_bundle(store, make_manifest("v1", name="alpha"), FILES)
    Registry(store, "alpha").register(make_manifest("v1", name="alpha"))
    write_bundle(store, make_manifest("v1", name="beta"), FILES)
    assert list_models(store) == ["alpha", "beta"]
    assert Registry(store, "beta").aliases() == {}
    assert Registry(store, "alpha").resolve(CHAMPION) == "v1"


def test_invalid_model_name_is_refused(store: ArtifactStore) -> None:
    with pytest.raises(ConfigError, match="invalid model name"):
        Registry(store, "../etc")
