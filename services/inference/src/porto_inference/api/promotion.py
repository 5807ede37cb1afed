"""Promoting a model version to champion from the API (the UI's comparison page uses it).

The version is loaded and verified here first, so a bundle this service cannot serve is refused
(the alias never points at it): a version refused before is tried afresh (it may have been
repaired), and every file of the *stored* bundle is checked against its manifest checksum even
when this worker already holds the version in memory, because that stored copy is what the
other workers and replicas will load. Then :meth:`porto.registry.Registry.promote` moves the
alias, and this worker swaps at once. Other workers and replicas follow through their alias
watcher within ``poll_interval_s``.
"""

from __future__ import annotations

import asyncio

from porto.contracts.serving import PromoteResponse
from porto.errors import IntegrityError
from porto.registry import CHAMPION

from porto_inference.scoring.service import InferenceService


async def promote(service: InferenceService, ref: str) -> PromoteResponse:
    """Make the version ``ref`` names the champion; return what changed and what is served.

    IntegrityError (502, ``integrity_error``) naming the file and the checksums when the
    version cannot be served; the champion does not move then.
    """
    manager = service.models
    registry = manager.registry
    version = await manager.resolve(ref)
    aliases = await asyncio.to_thread(registry.aliases)
    previous = aliases.get(CHAMPION)
    try:
        # Loads and verifies the model and its reference afresh unless this worker holds it.
        await manager.get(version, force=True)
    except IntegrityError as exc:
        raise IntegrityError(f"version {version} cannot be promoted: {exc.message}") from exc
    if previous != version:
        await asyncio.to_thread(registry.promote, version)  # verifies every stored file
    else:
        try:
            await asyncio.to_thread(registry.verify, version)
        except IntegrityError as exc:
            raise IntegrityError(f"version {version} cannot be promoted: {exc.message}") from exc
    reloaded = await service.catalog.reload()
    return PromoteResponse(
        name=registry.name,
        version=version,
        alias=CHAMPION,
        previous=previous,
        changed=previous != version,
        served=reloaded.served,
        error=reloaded.error,
        propagation_s=service.settings.poll_interval_s,
    )
