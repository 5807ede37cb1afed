"""The model catalogue the API shows: the versions of the served name with their aliases, a
version's manifest and feature schema, and the plots and reports of its bundle."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import PurePosixPath

from porto.bundle import Manifest, read_file
from porto.contracts.api import FeatureInfo, ModelSchemaResponse, ModelsResponse, VersionSummary
from porto.contracts.serving import ReloadResponse
from porto.errors import NotFoundError
from porto.schema import category_value, typical_record, typical_value

from porto_inference.scoring.model_manager import ModelManager

#: Bundle files the API serves to the UI (plots and JSON reports; never the model itself).
ARTIFACT_TYPES = {
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".csv": "text/csv; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
}


@dataclass
class Artifact:
    """A verified bundle file ready to send."""

    content: bytes
    media_type: str
    sha256: str
    immutable: bool


def version_summary(manifest: Manifest, aliases: list[str]) -> VersionSummary:
    """One version as GET /models lists it."""
    return VersionSummary(
        version=manifest.version,
        created_at=manifest.created_at.isoformat(),
        model_type=manifest.model_type,
        threshold=manifest.threshold,
        metrics=manifest.metrics,
        aliases=sorted(aliases),
        features=len(manifest.feature_schema.features),
        dataset_rows=manifest.dataset.rows,
        schema_url=f"/models/{manifest.version}/schema",
    )


def schema_response(manifest: Manifest) -> ModelSchemaResponse:
    """What /predict expects from the version ``manifest`` describes, in model order, with a
    typical record ready to send."""
    schema = manifest.feature_schema
    return ModelSchemaResponse(
        model_name=manifest.name,
        model_version=manifest.version,
        features=[
            FeatureInfo(
                position=i,
                name=spec.name,
                kind=spec.kind,
                dtype=spec.dtype,
                min=spec.min,
                max=spec.max,
                categories=(
                    None
                    if spec.categories is None
                    else [category_value(spec, c) for c in spec.categories]
                ),
                missing_rate=spec.missing_rate,
                typical=typical_value(spec),
            )
            for i, spec in enumerate(schema.features)
        ],
        id_column=schema.id_column,
        missing_value=schema.missing_value,
        ignored=schema.ignored,
        example=typical_record(schema),
    )


class Catalog:
    """Reads the registry and store of the model manager (off the event loop)."""

    def __init__(self, models: ModelManager) -> None:
        self.models = models

    async def list_models(self) -> ModelsResponse:
        """Every version of the configured model with its aliases, and what is served."""

        def versions() -> tuple[dict[str, str], list[VersionSummary]]:
            registry = self.models.registry
            aliases = registry.aliases()
            by_version: dict[str, list[str]] = {}
            for alias, version in aliases.items():
                by_version.setdefault(version, []).append(alias)
            summaries = [
                version_summary(m, by_version.get(m.version, [])) for m in registry.manifests()
            ]
            return aliases, summaries

        aliases, summaries = await asyncio.to_thread(versions)
        described = self.models.describe()
        return ModelsResponse(
            name=self.models.registry.name,
            store=self.models.store.uri,
            aliases=aliases,
            versions=summaries,
            served=described["served"],
            last_error=described["last_error"],
        )

    async def manifest(self, ref: str) -> Manifest:
        """The manifest of the version ``ref`` (a version or an alias) names."""
        version = await self.models.resolve(ref)
        return await asyncio.to_thread(self.models.registry.get, version)

    async def schema(self, ref: str | None) -> ModelSchemaResponse:
        """The feature schema of version ``ref`` (None: the served model), with an example."""
        manifest = self.models.serving().manifest if ref is None else await self.manifest(ref)
        return schema_response(manifest)

    async def artifact(self, ref: str, path: str) -> Artifact:
        """A plot or JSON file of a bundle, verified against its manifest."""
        version = await self.models.resolve(ref)
        manifest = await asyncio.to_thread(self.models.registry.get, version)
        suffix = PurePosixPath(path).suffix.lower()
        entry = manifest.files.get(path)
        if entry is None or suffix not in ARTIFACT_TYPES or path == manifest.model_file:
            raise NotFoundError(f"version {version} has no viewable artifact {path!r}")
        content = await asyncio.to_thread(read_file, self.models.store, manifest, path)
        return Artifact(
            content=content,
            media_type=ARTIFACT_TYPES[suffix],
            sha256=entry.sha256,
            immutable=ref == version,
        )

    async def reload(self) -> ReloadResponse:
        """Re-read the alias now, retrying versions that failed before."""
        return await self.models.refresh(force=True)
