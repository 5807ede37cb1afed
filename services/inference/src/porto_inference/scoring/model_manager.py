"""Which model versions this worker has loaded, and keeping the served one current.

The served model is the version the configured alias (``champion``, falling back to ``latest``)
names. A watcher re-reads the alias every ``poll_interval_s``; a new version is loaded and
verified in a thread while the old one keeps answering, then swapped in with one reference
assignment: a request holds the model object it started with, so no request ever fails because
of a swap.

A version that fails to load or verify is reported (log line, metric, /ready detail) and the
worker serves a **fallback** instead of nothing: the version it already had, or, when it has none
(a fresh or respawned worker), the version of the fallback alias (``latest``) and then the newest
version that verifies. While it does, /ready says so (``model.fallback``: which version the alias
wanted and why it was refused), ``model_serving_fallback`` is 1 and the alert
``PortoModelServingFallback`` fires. A refused version is not reloaded at every poll: it is
retried when its bundle changes in the store (a repaired or re-uploaded file; one listing per
poll tells), at ``POST /models/reload`` and at an explicit promotion.

Other versions, requested per call with ``model_version=``, live in a small LRU.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypedDict

from porto.bundle import Manifest, read_manifest, version_prefix
from porto.contracts import serving
from porto.errors import (
    ConfigError,
    IntegrityError,
    NotFoundError,
    PortoError,
    StoreError,
)
from porto.registry import ALIASES_DIR, Registry
from porto.store import ArtifactStore

from porto_inference.errors import ModelNotReadyError
from porto_inference.monitoring.metrics import Metrics
from porto_inference.periodic import PeriodicTask
from porto_inference.scoring.model import ServedModel
from porto_inference.settings import Settings

log = logging.getLogger("porto_inference.models")


#: ``fallback.source`` of a worker that keeps the version it served before the alias moved.
KEPT = "previously served"
#: ``fallback.source`` of a worker that found no usable alias and took the newest good version.
NEWEST = "newest verified version"


@dataclass
class Failure:
    """A version that could not be loaded, and the state of its bundle when it failed."""

    reason: str
    message: str
    #: :meth:`ArtifactStore.stamp` of the version's files before the failed load (None: the
    #: store could not say; retried at the next check).
    stamp: str | None
    #: ``time.monotonic()`` of the last check of the stamp.
    checked: float

    def error(self, version: str) -> PortoError:
        """The error a request for this version gets while it stays refused."""
        message = f"version {version} cannot be used: {self.message}"
        if self.reason == "not_found":
            return NotFoundError(message)
        return IntegrityError(message)


def failure_reason(exc: BaseException) -> str:
    """A short label for a load failure (the metric's ``reason``)."""
    if isinstance(exc, IntegrityError):
        return "integrity"
    if isinstance(exc, NotFoundError):
        return "not_found"
    if isinstance(exc, StoreError):
        return "store"
    return "error"


class ServingState(TypedDict):
    """What a worker serves and the last version it refused (``GET /ready``, ``GET /models``)."""

    served: serving.ServedModel | None
    last_error: serving.LoadError | None


class ModelManager:
    """The served model, the LRU of other versions, and the alias watcher."""

    def __init__(self, settings: Settings, metrics: Metrics, store: ArtifactStore) -> None:
        self.settings = settings
        self.metrics = metrics
        self.store = store
        self.registry = Registry(store, settings.model_name)
        self.current: ServedModel | None = None
        self.current_alias: str | None = None
        self.last_error: serving.LoadError | None = None
        #: Set while this worker serves another version than its alias names: the alias, the
        #: version it names, why that version was refused, and where the served one came from.
        self.fallback: serving.Fallback | None = None
        self._failed: dict[str, Failure] = {}
        self._cache: OrderedDict[str, ServedModel] = OrderedDict()
        self._aliases: dict[str, tuple[float, str]] = {}
        self._loading: dict[str, asyncio.Future[ServedModel]] = {}
        self._refresh_lock = asyncio.Lock()
        self._listeners: list[Callable[[ServedModel], None]] = []
        # refresh() reports its own errors; the loop survives anything else.
        self._watcher = PeriodicTask(
            "model-watcher",
            lambda: settings.poll_interval_s,
            self.refresh,
            what="model watcher",
            logger=log,
        )
        metrics.model_serving_fallback.set(0)

    def on_swap(self, listener: Callable[[ServedModel], None]) -> None:
        """Call ``listener(model)`` whenever a new version becomes the served one."""
        self._listeners.append(listener)

    async def start(self) -> None:
        """Load the served version (a failure is reported, not raised) and start watching."""
        await self.refresh()
        self._watcher.start()

    async def stop(self) -> None:
        """Stop watching."""
        await self._watcher.stop()

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

    async def refresh(self, *, force: bool = False) -> serving.ReloadResponse:
        """Re-read the alias and swap to its version if it changed. A version refused before
        is retried when its bundle changed in the store, or always with ``force``. Whatever
        cannot be loaded, the worker keeps (or finds) a fallback. Return what happened (for
        ``POST /models/reload``)."""
        async with self._refresh_lock:
            try:
                version, alias = await asyncio.to_thread(self._resolve_served)
            except PortoError as exc:
                self._report(None, exc)
                return serving.ReloadResponse(changed=False, error=exc.message, **self.describe())
            current = self.current
            if current is not None and current.version == version:
                self.current_alias = alias
                if self.last_error and self.last_error.version in (None, version):
                    self.last_error = None
                self._end_fallback()
                return serving.ReloadResponse(changed=False, **self.describe())
            failure = self._failed.get(version)
            if failure is not None and not force and not await self._changed(version, failure):
                await self._fall_back(alias, version, failure.reason, failure.message)
                return serving.ReloadResponse(
                    changed=False, error=failure.message, **self.describe()
                )
            try:
                model = await self._load_verified(version)
            except PortoError as exc:
                await self._fall_back(alias, version, failure_reason(exc), exc.message)
                return serving.ReloadResponse(changed=False, error=exc.message, **self.describe())
            self._swap(model, alias)
            return serving.ReloadResponse(changed=True, **self.describe())

    async def _changed(self, version: str, failure: Failure, *, throttle: bool = False) -> bool:
        """Whether the bundle of a refused ``version`` changed since it failed (worth a retry).
        ``throttle``: look at most once per poll interval (per-request callers)."""
        now = time.monotonic()
        if throttle and now - failure.checked < self.settings.poll_interval_s:
            return False
        failure.checked = now
        stamp = await asyncio.to_thread(self._stamp, version)
        return stamp is not None and stamp != failure.stamp

    def _stamp(self, version: str) -> str | None:
        try:
            return self.store.stamp(version_prefix(self.settings.model_name, version))
        except PortoError:
            return None

    async def _fall_back(self, alias: str, version: str, reason: str, error: str) -> None:
        """``alias``'s ``version`` cannot be served: keep the served model, or load the fallback
        alias's version, or else the newest version that verifies; say so either way."""
        if self.current is None:
            refused = self.last_error
            candidates = await asyncio.to_thread(self._fallback_candidates, version)
            for source, candidate in candidates:
                failure = self._failed.get(candidate)
                if failure is not None and not await self._changed(candidate, failure):
                    continue
                try:
                    model = await self._load_verified(candidate)
                except PortoError:
                    continue
                finally:
                    self.last_error = refused  # /ready reports the alias's version, not these
                self._swap(model, source if source != NEWEST else None, keep_fallback=True)
                self._begin_fallback(alias, version, reason, error, source)
                return
            log.error(
                "no fallback for %s %s: no other version of %r loads",
                alias,
                version,
                self.settings.model_name,
                extra={"model_version": version, "reason": reason},
            )
            return
        if self.fallback is not None and self.fallback.version == version:
            self.fallback = self.fallback.model_copy(update={"reason": reason, "error": error})
            return
        source = KEPT if self.fallback is None else self.fallback.source
        self._begin_fallback(alias, version, reason, error, source)

    def _fallback_candidates(self, refused: str) -> list[tuple[str, str]]:
        """(source, version) to try in order: the fallback alias, then every other version,
        newest first. Unreadable manifests are skipped (blocking: call it from a thread)."""
        out: list[tuple[str, str]] = []
        fallback_alias = self.settings.fallback_alias
        with contextlib.suppress(PortoError):
            version = self.registry.resolve(fallback_alias)
            if version != refused:
                out.append((fallback_alias, version))
        manifests: list[Manifest] = []
        with contextlib.suppress(PortoError):
            for child in self.store.list_children(self.registry.root):
                if child == ALIASES_DIR:
                    continue
                with contextlib.suppress(PortoError):
                    manifests.append(read_manifest(self.store, self.registry.name, child))
        manifests.sort(key=lambda m: (m.created_at, m.version), reverse=True)
        seen = {refused, *(v for _, v in out)}
        out.extend((NEWEST, m.version) for m in manifests if m.version not in seen)
        return out

    def _begin_fallback(
        self, alias: str, version: str, reason: str, error: str, source: str
    ) -> None:
        served = self.current
        if served is None:
            return
        self.fallback = serving.Fallback(
            alias=alias,
            version=version,
            reason=reason,
            error=error,
            source=source,
            since=datetime.now(UTC).isoformat(),
        )
        self.metrics.model_serving_fallback.set(1)
        self.metrics.model_fallbacks.labels(reason).inc()
        log.error(
            "serving fallback %s/%s (%s) because %s %s cannot be loaded: %s",
            served.name,
            served.version,
            source,
            alias,
            version,
            error,
            extra={"model_version": served.version, "refused_version": version, "reason": reason},
        )

    def _end_fallback(self) -> None:
        if self.fallback is None:
            return
        log.info(
            "no longer on a fallback: %s serves %s",
            self.current_alias,
            self.current.version if self.current else "(none)",
        )
        self.fallback = None
        self.metrics.model_serving_fallback.set(0)

    def _swap(self, model: ServedModel, alias: str | None, *, keep_fallback: bool = False) -> None:
        old = self.current
        self.current = model
        self.current_alias = alias
        self._failed.pop(model.version, None)
        if not keep_fallback:
            self.last_error = None
            self._end_fallback()
        self.metrics.model_loaded.set(1)
        if old is not None:
            self.metrics.model_swaps.inc()
            self._remember(old)
        log.info(
            "serving %s/%s (%s)%s",
            model.name,
            model.version,
            alias or "fallback",
            f", replacing {old.version}" if old is not None else "",
            extra={"model_version": model.version, "load_seconds": round(model.load_seconds, 3)},
        )
        for listener in self._listeners:
            try:
                listener(model)
            except Exception:
                log.exception("model swap listener failed")

    def _report(self, version: str | None, exc: PortoError, stamp: str | None = None) -> None:
        reason = failure_reason(exc)
        if version is not None:
            self.metrics.model_load_failures.labels(version, reason).inc()
            if reason in ("integrity", "not_found"):
                self._failed[version] = Failure(reason, exc.message, stamp, time.monotonic())
        self.last_error = serving.LoadError(
            version=version, reason=reason, error=exc.message, at=datetime.now(UTC).isoformat()
        )
        if self.current is None:
            self.metrics.model_loaded.set(0)
        log.error(
            "cannot load model version %s: %s%s",
            version or "(none)",
            exc.message,
            f"; still serving {self.current.version}" if self.current else "",
            extra={"reason": reason},
        )

    async def _load_verified(self, version: str) -> ServedModel:
        """Load ``version``; on failure report it, remembering its bundle's stamp from before
        the attempt (so a repair made while it loaded is not missed), and re-raise."""
        stamp = await asyncio.to_thread(self._stamp, version)
        try:
            model = await self._load(version)
        except PortoError as exc:
            self._report(version, exc, stamp)
            raise
        self._failed.pop(version, None)
        return model

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
        took = time.perf_counter() - began
        self.metrics.model_load_seconds.observe(took)
        self.metrics.model_load_last_seconds.labels(version).set(took)
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
            detail = f": {self.last_error.error}" if self.last_error else ""
            raise ModelNotReadyError(f"no model is loaded yet{detail}")
        return model

    async def get(self, ref: str | None, *, force: bool = False) -> ServedModel:
        """The model for a request: the served one, or the version or alias ``ref`` names.
        ``force`` retries a version refused before even if its bundle looks unchanged."""
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
            failure = self._failed.get(version)
            if (
                failure is not None
                and not force
                and not await self._changed(version, failure, throttle=True)
            ):
                raise failure.error(version)
            cached = await self._load_verified(version)
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

    def describe(self) -> ServingState:
        """The served model in a few fields (for /ready, /models, reload answers); its
        ``fallback`` is None unless it stands in for a version that could not be loaded."""
        model = self.current
        served = None
        if model is not None:
            # Fallback and LoadError are replaced, never changed in place: sharing them is safe.
            served = serving.ServedModel(
                name=model.name,
                version=model.version,
                alias=self.current_alias,
                loaded_at=model.loaded_at.isoformat(),
                load_seconds=round(model.load_seconds, 4),
                fallback=self.fallback,
            )
        return {"served": served, "last_error": self.last_error}
