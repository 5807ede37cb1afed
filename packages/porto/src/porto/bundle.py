"""The versioned model bundle: ``models/<name>/<version>/{model, plots, stats, manifest.json}``.

The manifest lists every other file with its sha256 and is written last: a version without a
manifest does not exist for readers, so a failed upload never shows a half-written version.
Readers verify each file against the manifest before using it.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from porto.errors import ConfigError, IntegrityError, NotFoundError, PortoError
from porto.hashing import sha256_bytes
from porto.labels import DEFAULT_LABELS, LabelMapping
from porto.schema import FeatureSchema
from porto.store import ArtifactStore

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MODELS_ROOT = "models"


class FileEntry(BaseModel):
    """A file of the bundle: its checksum and size."""

    sha256: str
    size: int


class DatasetInfo(BaseModel):
    """Where the training data came from and what it held."""

    source: str
    fingerprint: str = Field(description="sha256 over the raw dataset bytes (or generator spec).")
    rows: int
    columns: int
    positives: int
    synthetic: bool = False


class Manifest(BaseModel):
    """Everything a reader needs to trust and use a model version."""

    format_version: int = FORMAT_VERSION
    name: str
    version: str
    created_at: datetime
    code_version: str
    model_type: str = Field(description="'catboost' or 'sklearn'.")
    model_file: str
    threshold: float
    feature_schema: FeatureSchema
    dataset: DatasetInfo
    labels: LabelMapping | None = Field(
        default=None,
        description="Which target values are class 1 and class 0 (e.g. 'Yes' / 'No'); absent "
        "in bundles from before it was recorded, whose target was 0/1.",
    )
    config: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, FileEntry] = Field(default_factory=dict)

    @property
    def label_mapping(self) -> LabelMapping:
        """The recorded label mapping, or 1/0 for a bundle that records none."""
        return self.labels or DEFAULT_LABELS


def validate_name(name: str, what: str = "model name") -> str:
    """Return ``name`` if it is a safe path component, else raise ConfigError."""
    ok = name and all(c.isalnum() or c in "-_." for c in name) and not name.startswith(".")
    if not ok:
        raise ConfigError(f"invalid {what} {name!r}: use letters, digits, '-', '_' and '.'")
    return name


def new_version(now: datetime | None = None) -> str:
    """Return a new sortable, unique version id such as ``20261125-140512-3f2a``."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def version_prefix(name: str, version: str) -> str:
    """Return the store prefix that holds one version."""
    return f"{MODELS_ROOT}/{validate_name(name)}/{validate_name(version, 'version')}"


def write_bundle(store: ArtifactStore, manifest: Manifest, files: dict[str, bytes]) -> Manifest:
    """Upload ``files`` then the manifest (with their checksums); return the final manifest.

    On any failure the files already uploaded are removed (best effort) and the error re-raised;
    without a manifest they are invisible to readers either way.
    """
    if MANIFEST in files:
        raise ConfigError("a bundle file may not be called manifest.json")
    prefix = version_prefix(manifest.name, manifest.version)
    store.check()
    if store.exists(f"{prefix}/{MANIFEST}"):
        raise ConfigError(f"version {manifest.version} of {manifest.name} already exists")
    entries: dict[str, FileEntry] = {}
    try:
        for rel, data in sorted(files.items()):
            store.put_bytes(f"{prefix}/{rel}", data, _content_type(rel))
            entries[rel] = FileEntry(sha256=sha256_bytes(data), size=len(data))
        final = manifest.model_copy(update={"files": entries})
        store.put_bytes(
            f"{prefix}/{MANIFEST}", final.model_dump_json(indent=2).encode(), "application/json"
        )
    except BaseException:
        with contextlib.suppress(PortoError):
            store.delete_prefix(prefix)
        raise
    return final


def read_manifest(store: ArtifactStore, name: str, version: str) -> Manifest:
    """Return the manifest of ``name``/``version``; NotFoundError if the version does not exist."""
    try:
        raw = store.get_bytes(f"{version_prefix(name, version)}/{MANIFEST}")
    except NotFoundError as exc:
        raise NotFoundError(f"model {name!r} has no version {version!r}") from exc
    try:
        return Manifest.model_validate_json(raw)
    except ValueError as exc:
        raise IntegrityError(f"manifest of {name}/{version} is not valid: {exc}") from exc


def read_file(store: ArtifactStore, manifest: Manifest, rel: str) -> bytes:
    """Return one bundle file after checking its sha256 against the manifest."""
    entry = manifest.files.get(rel)
    if entry is None:
        raise NotFoundError(f"version {manifest.version} of {manifest.name} has no file {rel!r}")
    data = store.get_bytes(f"{version_prefix(manifest.name, manifest.version)}/{rel}")
    digest = sha256_bytes(data)
    if digest != entry.sha256:
        raise IntegrityError(
            f"checksum mismatch for {manifest.name}/{manifest.version}/{rel}: "
            f"manifest {entry.sha256[:12]}…, stored {digest[:12]}…"
        )
    return data


def verify_bundle(store: ArtifactStore, manifest: Manifest) -> None:
    """Check every file the manifest lists against its sha256 (reading each once); raise
    IntegrityError naming the first file that is missing or differs."""
    for rel in sorted(manifest.files):
        try:
            read_file(store, manifest, rel)
        except NotFoundError as exc:
            raise IntegrityError(
                f"{manifest.name}/{manifest.version}/{rel} is listed in the manifest but missing "
                "from the store"
            ) from exc


def read_json(store: ArtifactStore, manifest: Manifest, rel: str) -> Any:
    """Return a verified JSON file of the bundle, parsed."""
    return json.loads(read_file(store, manifest, rel))


def _content_type(rel: str) -> str | None:
    if rel.endswith(".json"):
        return "application/json"
    if rel.endswith(".png"):
        return "image/png"
    return "application/octet-stream"
