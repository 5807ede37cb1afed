"""Which model versions this worker has loaded, and keeping the served one current.

The served model is the version the configured alias (``champion``, falling back to ``latest``)
names. A watcher re-reads the alias every ``poll_interval_s``; a new version is loaded and
verified in a thread while the old one keeps answering, then swapped in with one reference
assignment: a request holds the model object it started with, so no request ever fails because
of a swap. A version that fails to load or verify is reported (log line, metric, /ready detail)
and not retried until ``POST /models/reload``; the working version keeps serving.

Other versions, requested per call with ``model_version=``, live in a small LRU.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from porto.errors import (
    ConfigError,
    IntegrityError,
    NotFoundError,
    PortoError,
    StoreError,
)
from porto.registry import Registry
from porto.store import ArtifactStore

from porto_inference.errors import ModelNotReadyError
from porto_inference.metrics import Metrics
from porto_inference.model import ServedModel
from porto_inference.settings import Settings

log = logging.getLogger("porto_inference.models")


def failure_reason(exc: BaseException) -> str:
    """A short label for a load failure (the metric's ``reason``)."""
    if isinstance(exc, IntegrityError):
        return "integrity"
    if isinstance(exc, NotFoundError):
        return "not_found"
    if isinstance(exc, StoreError):
        return "store"
    return "error"


class ModelManager:
    """The served model, the LRU of other versions, and the alias watcher."""

    def __init__(self, settings: Settings, metrics: Metrics, store: ArtifactStore) -> None:
        self.settings = settings
        self.metrics = metrics
        self.store = store
        self.registry = Registry(store, settings.model_name)
        self.current: ServedModel | None = None
        self.current_alias: str | None = None
        self.last_error: dict[str, Any] | None = None
        self._failed: dict[str, str] = {}
        self._cache: OrderedDict[str, ServedModel] = OrderedDict()
        self._aliases: dict[str, tuple[float, str]] = {}
        self._loading: dict[str, asyncio.Future[ServedModel]] = {}
        self._refresh_lock = asyncio.Lock()
        self._listeners: list[Callable[[ServedModel], None]] = []
        self._task: asyncio.Task[None] | None = None

    def on_swap(self, listener: Callable[[ServedModel], None]) -> None:
        """Call ``listener(model)`` whenever a new version becomes the served one."""
        self._listeners.append(listener)

    async def start(self) -> None:
        """Load the served version (a failure is reported, not raised) and start watching."""
        await self.refresh()
        self._task = asyncio.create_task(self._watch(), name="model-watcher")

    async def stop(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.settings.poll_interval_s)
            try:
                await self.refresh()
            except Exception:  # the watcher must survive anything; refresh reports its errors
                log.exception("model watcher failed")

    def _resolve_served(self) -> tuple[str, str]:
        """(version, alias) of what should be served; NotFoundError if neither alias exists."""
        for alias in (self.settings.model_alias, self.settings.fallback_alias):
            try:
                return self.registry.resolve(alias), alias
            except NotFoundError:
                continue
        raise NotFoundError(
            f"model {self.settings.model_name!r} has no {self.settings.model_alias!r} or "
            f"{self.settings.fallback_alias!r} version in {self.store.uri} (train one first)"
        )

    async def refresh(self, *, force: bool = False) -> dict[str, Any]:
        """Re-read the alias and swap to its version if it changed. ``force`` retries versions
        that failed before. Return what happened (for ``POST /models/reload``)."""
        async with self._refresh_lock:
            try:
                version, alias = await asyncio.to_thread(self._resolve_served)
            except PortoError as exc:
                self._report(None, exc)
                return {"changed": False, "error": exc.message, **self.describe()}
            current = self.current
            if current is not None and current.version == version:
                self.current_alias = alias
                if self.last_error and self.last_error.get("version") in (None, version):
                    self.last_error = None
                return {"changed": False, **self.describe()}
            if version in self._failed and not force:
                return {"changed": False, "error": self._failed[version], **self.describe()}
            try:
                model = await self._load(version)
            except PortoError as exc:
                self._report(version, exc)
                return {"changed": False, "error": exc.message, **self.describe()}
            self._swap(model, alias)
            return {"changed": True, **self.describe()}

    def _swap(self, model: ServedModel, alias: str) -> None:
        old = self.current
        self.current = model
        self.current_alias = alias
        self._failed.pop(model.version, None)
        self.last_error = None
        self.metrics.model_loaded.set(1)
        if old is not None:
            self.metrics.model_swaps.inc()
            self._remember(old)
        log.info(
            "serving %s/%s (%s)%s",
            model.name,
            model.version,
            alias,
            f", replacing {old.version}" if old is not None else "",
            extra={"model_version": model.version, "load_seconds": round(model.load_seconds, 3)},
        )
        for listener in self._listeners:
            try:
                listener(model)
            except Exception:
                log.exception("model swap listener failed")

    def _report(self, version: str | None, exc: PortoError) -> None:
        reason = failure_reason(exc)
        if version is not None:
            self.metrics.model_load_failures.labels(version, reason).inc()
            if reason in ("integrity", "not_found"):
                self._failed[version] = exc.message
        self.last_error = {
            "version": version,
            "reason": reason,
            "error": exc.message,
            "at": datetime.now(UTC).isoformat(),
        }
        if self.current is None:
            self.metrics.model_loaded.set(0)
        log.error(
            "cannot load model version %s: %s%s",
            version or "(none)",
            exc.message,
            f"; still serving {self.current.version}" if self.current else "",
            extra={"reason": reason},
        )

    async def _load(self, version: str) -> ServedModel:
        """Load ``version`` once even when several requests ask for it at the same time."""
        pending = self._loading.get(version)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[ServedModel] = asyncio.get_running_loop().create_future()
        self._loading[version] = future
        began = time.perf_counter()
        try:
            model = await asyncio.to_thread(
                ServedModel.load,
                self.store,
                self.settings.model_name,
                version,
                allow_missing=self.settings.allow_missing_features,
                threads=self.settings.model_threads,
            )
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            self._loading.pop(version, None)
        self.metrics.model_load_seconds.observe(time.perf_counter() - began)
        future.set_result(model)
        return model

    def _remember(self, model: ServedModel) -> None:
        self._cache[model.version] = model
        self._cache.move_to_end(model.version)
        while len(self._cache) > self.settings.model_cache_size:
            self._cache.popitem(last=False)

    def serving(self) -> ServedModel:
        """The served model; ModelNotReadyError while none could be loaded."""
        model = self.current
        if model is None:
            detail = f": {self.last_error['error']}" if self.last_error else ""
            raise ModelNotReadyError(f"no model is loaded yet{detail}")
        return model

    async def get(self, ref: str | None) -> ServedModel:
        """The model for a request: the served one, or the version or alias ``ref`` names."""
        current = self.current
        if ref is None or (current is not None and ref == current.version):
            return self.serving()
        cached = self._cache.get(ref)
        if cached is not None:
            self._cache.move_to_end(ref)
            return cached
        version = await self.resolve(ref)
        if current is not None and version == current.version:
            return current
        cached = self._cache.get(version)
        if cached is None:
            if version in self._failed:
                raise IntegrityError(f"version {version} cannot be used: {self._failed[version]}")
            try:
                cached = await self._load(version)
            except PortoError as exc:
                self._report(version, exc)
                raise
            self._remember(cached)
        return cached

    async def resolve(self, ref: str) -> str:
        """The version ``ref`` (a version or an alias) names; cached for one poll interval."""
        hit = self._aliases.get(ref)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            version = await asyncio.to_thread(self.registry.resolve, ref)
        except ConfigError as exc:  # not even a valid name: it cannot exist
            raise NotFoundError(
                f"model {self.settings.model_name!r} has no version or alias {ref!r}"
            ) from exc
        self._aliases[ref] = (now + self.settings.poll_interval_s, version)
        return version

    def describe(self) -> dict[str, Any]:
        """The served model in a few fields (for /ready, /models, reload answers)."""
        model = self.current
        served = None
        if model is not None:
            served = {
                "name": model.name,
                "version": model.version,
                "alias": self.current_alias,
                "loaded_at": model.loaded_at.isoformat(),
                "load_seconds": round(model.load_seconds, 4),
            }
        return {"served": served, "last_error": self.last_error}
