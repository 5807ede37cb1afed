"""The FastAPI application: ``create_app(settings)``.

Nothing happens at import time. The factory wires routers, middleware and error handlers; the
lifespan opens the artifact store, loads the model, connects the prediction log and starts the
background tasks, and on shutdown stops them in reverse order — the prediction log last, so the
queue is flushed after the last request.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from porto.schema import typical_record
from porto.store import open_store

from porto_inference import __version__
from porto_inference.api.docs import install_docs
from porto_inference.api.errors import install_error_handlers
from porto_inference.api.middleware import RequestMiddleware
from porto_inference.api.routes import (
    feedback,
    health,
    models,
    monitoring,
    predict,
    promotion,
    replay,
    reports,
    v2,
)
from porto_inference.api.routes import metrics as metrics_route
from porto_inference.api.schemas import batch_body, predict_body
from porto_inference.log.database import database_url, stop_embedded
from porto_inference.log.store import PredictionLog
from porto_inference.logs import AccessLog, configure_logging
from porto_inference.monitoring.challengers import ChallengerMonitor
from porto_inference.monitoring.drift import DriftMonitor
from porto_inference.monitoring.metrics import DriftCollector, Metrics, ModelInfoCollector
from porto_inference.monitoring.quality import QualityMonitor
from porto_inference.scoring.model_manager import ModelManager
from porto_inference.scoring.service import InferenceService
from porto_inference.settings import Settings, load_settings

log = logging.getLogger("porto_inference")

DESCRIPTION = """Scores records with the champion model of the configured name, logs every
prediction to PostgreSQL, takes ground-truth feedback, and exports Prometheus metrics.

Send the API key (when one is configured) as `Authorization: Bearer <key>` or `X-API-Key`."""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the model manager, prediction log and monitors; stop them on shutdown."""
    settings: Settings = app.state.settings
    metrics: Metrics = app.state.metrics
    store = open_store(
        settings.resolved_store_uri,
        settings.s3_options() if settings.resolved_store_uri.startswith("s3://") else None,
    )
    manager = ModelManager(settings, metrics, store)
    # Without gunicorn (tests, `uvicorn --factory`) this process owns the embedded database.
    embedded = settings.prediction_log and settings.database_url is None
    url = await asyncio.to_thread(database_url, settings)
    prediction_log = PredictionLog(settings, metrics, url)
    drift = DriftMonitor(settings, metrics)
    quality = QualityMonitor(settings, metrics, prediction_log)
    manager.on_swap(drift.reset)
    metrics.add_collector(ModelInfoCollector(manager))
    metrics.add_collector(DriftCollector(drift))
    service = InferenceService(settings, metrics, manager, prediction_log, drift, quality)
    app.state.service = service
    await prediction_log.start()
    await manager.start()
    drift.start()
    quality.start()
    service.challengers.start()
    comparison = ChallengerMonitor(settings, metrics, prediction_log)
    comparison.start()
    # Everything loaded so far (libraries, the model) lives as long as the process: keep it out
    # of the garbage collector's way, so a full collection scans only per-request garbage
    # instead of stalling requests for tens of milliseconds.
    gc.collect()
    gc.freeze()
    thresholds = gc.get_threshold()
    if settings.gc_young_threshold:
        gc.set_threshold(settings.gc_young_threshold, *thresholds[1:])
    served = manager.describe()["served"]
    log.info(
        "porto inference ready",
        extra={
            "model": served.model_dump() if served is not None else None,
            "store": store.uri,
            "prediction_log": prediction_log.state,
        },
    )
    try:
        yield
    finally:
        await comparison.stop()
        await service.challengers.stop()
        await quality.stop()
        await drift.stop()
        await manager.stop()
        await prediction_log.stop()
        if embedded:
            await asyncio.to_thread(stop_embedded, settings)
        if app.state.access_log is not None:
            app.state.access_log.flush()
        gc.set_threshold(*thresholds)  # the process may outlive the app (tests, embedding)
        log.info("porto inference stopped", extra={"prediction_log": prediction_log.status()})


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application for ``settings`` (default: from the environment)."""
    settings = settings or load_settings()
    configure_logging(settings)
    app = FastAPI(
        title="porto inference",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        telemetry=None if settings.otel else {"tracing": False, "metrics": False, "logs": False},
        # Served by porto_inference.api.docs from the package, not from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    install_error_handlers(app)
    install_docs(app, title=app.title)
    # Routes are matched in this order, router by router: the scoring routes first (the V2
    # infer routes, the Open Inference Protocol's, right after /predict's: matching a request
    # against every route before them would cost as much as a tenth of scoring it).
    for router in (
        predict.router,
        v2.infer_router,
        feedback.router,
        models.router,
        health.router,
        metrics_route.router,
        v2.router,
    ):
        app.include_router(router)
    for router in (promotion.router, monitoring.router, reports.router):
        app.include_router(router)
    app.include_router(replay.router)

    @app.get("/", include_in_schema=False)
    async def get_root() -> dict[str, str]:
        return {"name": "porto inference", "docs": "/docs", "ready": "/ready"}

    app.state.access_log = AccessLog() if settings.log_requests else None
    app.add_middleware(
        RequestMiddleware,
        metrics=app.state.metrics,
        access_log=app.state.access_log,
        max_body_bytes=settings.max_body_bytes,
    )
    _examples_from_served_model(app)
    return app


def _examples_from_served_model(app: FastAPI) -> None:
    """Make /docs show a typical record of the model actually served (rebuilt on swaps)."""
    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        service: InferenceService | None = getattr(app.state, "service", None)
        current = service.models.current if service is not None else None
        record = None if current is None else typical_record(current.manifest.feature_schema)
        key = current.version if current is not None else ""
        if key in cache:
            return dict(cache[key])
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        if record is not None:
            paths = schema.get("paths", {})
            if "/predict" in paths:
                paths["/predict"]["post"]["requestBody"] = predict_body(record)
            if "/predict/batch" in paths:
                paths["/predict/batch"]["post"]["requestBody"] = batch_body(record)
        cache.clear()
        cache[key] = schema
        return dict(schema)

    app.openapi = openapi  # type: ignore[method-assign]
