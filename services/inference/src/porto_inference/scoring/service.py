"""The parts of one running inference service, built once in the app's lifespan.

The routes reach what they need through it (``service.scorer`` for /predict, ``service.feedback``,
``service.catalog``, ``service.models`` and ``service.prediction_log`` for readiness); the
monitoring queries read its model manager and prediction log. It holds no request logic itself:
that lives in :mod:`~porto_inference.scoring.predict`, :mod:`~porto_inference.scoring.feedback`
and :mod:`~porto_inference.scoring.catalog`.
"""

from __future__ import annotations

from porto_inference.log.store import PredictionLog
from porto_inference.monitoring.drift import DriftMonitor
from porto_inference.monitoring.metrics import Metrics
from porto_inference.monitoring.quality import QualityMonitor
from porto_inference.scoring.catalog import Catalog
from porto_inference.scoring.challengers import Challengers
from porto_inference.scoring.feedback import FeedbackRecorder
from porto_inference.scoring.model_manager import ModelManager
from porto_inference.scoring.predict import Scorer
from porto_inference.settings import Settings


class InferenceService:
    """Settings, metrics, model manager, prediction log and monitors, the challengers, and the
    three request handlers built on them."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        models: ModelManager,
        prediction_log: PredictionLog,
        drift: DriftMonitor,
        quality: QualityMonitor,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.models = models
        self.prediction_log = prediction_log
        self.drift = drift
        self.quality = quality
        self.challengers = Challengers(settings, metrics, models, prediction_log)
        self.scorer = Scorer(
            models,
            metrics,
            drift,
            prediction_log,
            micro_batch_max=settings.micro_batch_max,
            batch_max_rows=settings.batch_max_rows,
            explain_max_rows=settings.explain_max_rows,
            challengers=self.challengers,
        )
        self.feedback = FeedbackRecorder(
            models, prediction_log, batch_max_rows=settings.batch_max_rows
        )
        self.catalog = Catalog(models)
