"""Promoting a model version to champion from the API (the UI's comparison page uses it).

The version is loaded and verified here first, so a bundle this service cannot serve is refused
(the alias never points at it); then :meth:`porto.registry.Registry.promote` moves the alias, and
this worker swaps at once. Other workers and replicas follow through their alias watcher within
``poll_interval_s``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from porto.registry import CHAMPION

from porto_inference.service import InferenceService


async def promote(service: InferenceService, ref: str) -> dict[str, Any]:
    """Make the version ``ref`` names the champion; return what changed and what is served."""
    manager = service.models
    registry = manager.registry
    version = await manager.resolve(ref)
    aliases = await asyncio.to_thread(registry.aliases)
    previous = aliases.get(CHAMPION)
    await manager.get(version)  # loads and verifies every file: NotFound / Integrity otherwise
    if previous != version:
        await asyncio.to_thread(registry.promote, version)
    reloaded = await service.reload()
    return {
        "name": registry.name,
        "version": version,
        "alias": CHAMPION,
        "previous": previous,
        "changed": previous != version,
        "served": reloaded.get("served"),
        "error": reloaded.get("error"),
        "propagation_s": service.settings.poll_interval_s,
    }
