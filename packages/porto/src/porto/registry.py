"""The model registry: versions of a named model in an artifact store, and their aliases.

Aliases (``latest``, ``champion``) are small JSON objects at ``models/<name>/aliases/<alias>.json``
that name a version; moving one is a single atomic object write, which is what lets the
inference service watch the champion and hot-swap safely.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from porto.bundle import (
    MANIFEST,
    MODELS_ROOT,
    Manifest,
    read_manifest,
    validate_name,
    verify_bundle,
    version_prefix,
)
from porto.errors import ConfigError, IntegrityError, NotFoundError
from porto.store import ArtifactStore

LATEST = "latest"
CHAMPION = "champion"
ALIASES_DIR = "aliases"


def list_models(store: ArtifactStore) -> list[str]:
    """Return the names of the models in ``store``."""
    return store.list_children(MODELS_ROOT)


class Registry:
    """Versions and aliases of one model name."""

    def __init__(self, store: ArtifactStore, name: str) -> None:
        self.store = store
        self.name = validate_name(name)
        self.root = f"{MODELS_ROOT}/{self.name}"

    def versions(self) -> list[str]:
        """Return the complete versions (those with a manifest), oldest first."""
        children = self.store.list_children(self.root)
        return [
            v
            for v in children
            if v != ALIASES_DIR and self.store.exists(f"{self.root}/{v}/{MANIFEST}")
        ]

    def manifests(self) -> list[Manifest]:
        """Return the manifests of every complete version, oldest first."""
        found = [read_manifest(self.store, self.name, v) for v in self.versions()]
        return sorted(found, key=lambda m: (m.created_at, m.version))

    def aliases(self) -> dict[str, str]:
        """Return alias → version."""
        out: dict[str, str] = {}
        for child in self.store.list_children(f"{self.root}/{ALIASES_DIR}"):
            if child.endswith(".json"):
                alias = child.removesuffix(".json")
                version = self._read_alias(alias)
                if version:
                    out[alias] = version
        return out

    def _read_alias(self, alias: str) -> str | None:
        try:
            raw = self.store.get_bytes(f"{self.root}/{ALIASES_DIR}/{alias}.json")
        except NotFoundError:
            return None
        version = json.loads(raw).get("version")
        return str(version) if version else None

    def resolve(self, ref: str) -> str:
        """Return the version that ``ref`` (a version or an alias) names."""
        validate_name(ref, "version or alias")
        aliased = self._read_alias(ref)
        if aliased is not None:
            return aliased
        if self.store.exists(f"{version_prefix(self.name, ref)}/{MANIFEST}"):
            return ref
        raise NotFoundError(f"model {self.name!r} has no version or alias {ref!r}")

    def get(self, ref: str) -> Manifest:
        """Return the manifest of the version that ``ref`` names."""
        return read_manifest(self.store, self.name, self.resolve(ref))

    def set_alias(self, alias: str, version: str) -> None:
        """Point ``alias`` at ``version`` (which must exist)."""
        validate_name(alias, "alias")
        if not self.store.exists(f"{version_prefix(self.name, version)}/{MANIFEST}"):
            raise NotFoundError(f"model {self.name!r} has no version {version!r}")
        body = {"version": version, "updated_at": datetime.now(UTC).isoformat()}
        self.store.put_bytes(
            f"{self.root}/{ALIASES_DIR}/{alias}.json",
            json.dumps(body).encode(),
            "application/json",
        )

    def remove_alias(self, alias: str) -> None:
        """Delete ``alias`` if it exists."""
        self.store.delete(f"{self.root}/{ALIASES_DIR}/{validate_name(alias, 'alias')}.json")

    def register(self, manifest: Manifest, *, promote: bool = False) -> bool:
        """Record a freshly written version: it becomes ``latest``, and ``champion`` when asked
        or when there is no champion yet. Return whether it became champion."""
        self.set_alias(LATEST, manifest.version)
        if promote or self._read_alias(CHAMPION) is None:
            self.set_alias(CHAMPION, manifest.version)
            return True
        return False

    def verify(self, ref: str) -> Manifest:
        """Check every file of the version ``ref`` names against its manifest; return the
        manifest. IntegrityError (naming the file) when one is missing or differs."""
        manifest = self.get(ref)
        verify_bundle(self.store, manifest)
        return manifest

    def promote(self, ref: str) -> str:
        """Make the version that ``ref`` names the champion; return that version.

        The bundle is verified first (every file against its manifest checksum): a version that
        readers would refuse never becomes the champion. IntegrityError says which file.
        """
        version = self.resolve(ref)
        try:
            self.verify(version)
        except IntegrityError as exc:
            raise IntegrityError(f"version {version} cannot be promoted: {exc.message}") from exc
        self.set_alias(CHAMPION, version)
        return version

    def delete(self, ref: str, *, force: bool = False) -> str:
        """Delete a version; refuse to delete the champion unless ``force``.

        ``latest`` moves to the newest remaining version; a forced champion deletion leaves no
        champion (readers fall back to ``latest``).
        """
        version = self.resolve(ref)
        aliases = self.aliases()
        if aliases.get(CHAMPION) == version and not force:
            raise ConfigError(
                f"version {version} is the champion of {self.name!r}: promote another version "
                "first or pass --force"
            )
        prefix = version_prefix(self.name, version)
        # The manifest goes first, so the version disappears for readers at once.
        self.store.delete(f"{prefix}/{MANIFEST}")
        self.store.delete_prefix(prefix)
        for alias, target in aliases.items():
            if target == version:
                self.remove_alias(alias)
        remaining = self.manifests()
        if aliases.get(LATEST) == version and remaining:
            self.set_alias(LATEST, remaining[-1].version)
        return version
