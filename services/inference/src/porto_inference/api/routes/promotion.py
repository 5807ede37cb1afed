"""POST /models/{version}/promote."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from porto.contracts.serving import PromoteResponse

from porto_inference.api.deps import ApiKeyDep, ServiceDep
from porto_inference.api.promotion import promote
from porto_inference.api.schemas import ERRORS

router = APIRouter(tags=["models"])


@router.post(
    "/models/{version}/promote",
    summary="Make a version the champion",
    dependencies=[ApiKeyDep],
    response_model=PromoteResponse,
    responses=ERRORS,
)
async def promote_model(
    version: Annotated[
        str, Path(description="A version id or an alias such as `latest`.", max_length=128)
    ],
    service: ServiceDep,
) -> PromoteResponse:
    """Verify the version loads and every file of its stored bundle matches the manifest's
    checksum (else 502 `integrity_error` naming the file; the alias does not move), point the
    `champion` alias at it and swap this worker to it; the other workers and replicas follow
    within `poll_interval_s` (in the answer as `propagation_s`). A version refused before is
    tried afresh, so a repaired bundle can be promoted. Behind the API key when one is set."""
    return await promote(service, version)
