"""GET /models, GET /models/{version}, GET /models/{version}/schema, GET /schema,
GET /models/{version}/artifacts/{file}, POST /models/reload."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Path, Request
from porto.bundle import Manifest
from porto.contracts.api import ModelSchemaResponse, ModelsResponse
from porto.contracts.serving import ReloadResponse
from starlette.responses import Response

from porto_inference.api.deps import ApiKeyDep, ServiceDep, authorize
from porto_inference.api.schemas import ERRORS
from porto_inference.errors import UnauthorizedError

router = APIRouter(tags=["models"])

VersionPath = Annotated[
    str, Path(description="A version id or an alias such as `champion`.", max_length=128)
]


@router.get(
    "/models",
    summary="Versions of the served model name",
    response_model=ModelsResponse,
    responses=ERRORS,
)
async def list_models(request: Request, service: ServiceDep) -> ModelsResponse:
    """Every version with its metrics, aliases and the path of its feature schema, and the
    version this worker serves. `store` is the artifact store's URI without credentials; when
    an API key is set, only requests that carry it see it (null otherwise)."""
    catalogue = await service.catalog.list_models()
    store = catalogue.store
    catalogue.store = public_store_uri(store) if store is not None and _has_key(request) else None
    return catalogue


def _has_key(request: Request) -> bool:
    """Whether the request may see deployment details: it carries the API key, or none is set."""
    try:
        authorize(request)
    except UnauthorizedError:
        return False
    return True


def public_store_uri(uri: str) -> str:
    """``uri`` without what could be a credential: the user and password of its authority, and
    its query and fragment (a presigned URL's signature). A plain path is returned as it is."""
    parts = urlsplit(uri)
    if len(parts.scheme) < 2:  # no scheme: a path (one letter: a Windows drive)
        return uri
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@router.get(
    "/schema",
    summary="Features of the served model, with an example record",
    responses=ERRORS,
)
async def get_served_schema(service: ServiceDep) -> ModelSchemaResponse:
    """What POST /predict expects right now: the served model's features in model order (name,
    kind, seen range or categories) and `example`, a typical record to POST as it is."""
    return await service.catalog.schema(None)


@router.post(
    "/models/reload",
    summary="Re-read the alias now",
    dependencies=[ApiKeyDep],
    responses=ERRORS,
)
async def reload_models(service: ServiceDep) -> ReloadResponse:
    """Check the alias at once (instead of at the next poll) and retry versions that failed;
    answers what this worker serves afterwards and any load error."""
    return await service.catalog.reload()


@router.get("/models/{version}", summary="Manifest of a version", responses=ERRORS)
async def get_model(version: VersionPath, service: ServiceDep) -> Manifest:
    """The bundle manifest: feature schema, metrics, threshold, files and their checksums."""
    return await service.catalog.manifest(version)


@router.get(
    "/models/{version}/schema",
    summary="Features of a version, with an example record",
    responses=ERRORS,
)
async def get_model_schema(version: VersionPath, service: ServiceDep) -> ModelSchemaResponse:
    """The version's features in model order (name, kind, seen range or categories) and
    `example`, a typical record to POST to /predict (with `model_version=` for this version)."""
    return await service.catalog.schema(version)


@router.get(
    "/models/{version}/artifacts/{file:path}",
    summary="A plot or JSON file of a version",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "application/json": {}}}, **ERRORS},
)
async def get_artifact(
    version: VersionPath, file: str, request: Request, service: ServiceDep
) -> Response:
    """A bundle file, verified against the manifest's sha256, so the UI needs no bucket
    credentials. Versions are immutable, so files addressed by version are cached for good."""
    artifact = await service.catalog.artifact(version, file)
    etag = f'"{artifact.sha256}"'
    cache = "public, max-age=31536000, immutable" if artifact.immutable else "no-cache"
    headers = {"ETag": etag, "Cache-Control": cache}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(artifact.content, media_type=artifact.media_type, headers=headers)
