"""POST /monitoring/replay: the HTTP side of :mod:`porto_inference.scoring.replay`.

Behind the API key like the other /monitoring routes (the log holds customers' records). The
body is validated by its contract (422 naming the field), the window and the limit by the
replay (422, 413 over ``REPLAY_MAX_ROWS``); an unknown version is a 404, a log that is off or
down a 503. Scoring runs in a thread, chunk by chunk, so /predict keeps answering meanwhile.
"""

from __future__ import annotations

from fastapi import APIRouter
from porto.contracts.replay import ReplayReport, ReplayRequest

from porto_inference.api.deps import ApiKeyDep, ServiceDep
from porto_inference.api.schemas import ERRORS
from porto_inference.scoring.replay import replay_request

router = APIRouter(prefix="/monitoring", tags=["monitoring"], dependencies=[ApiKeyDep])


@router.post(
    "/replay",
    summary="Score a window of logged requests with any version",
    response_model=ReplayReport,
    response_model_by_alias=True,
    responses=ERRORS,
)
async def create_replay(service: ServiceDep, body: ReplayRequest) -> ReplayReport:
    """Replay the logged requests of [from, to) (oldest first, at most ``limit``) with
    ``version``: agreement with the served scores and classes, per served version, rows the
    version could not score by reason, and on labelled rows both sides' ROC-AUC, Gini, F1 and
    calibration. ``record: true`` also writes the scores to ``challenger_predictions``."""
    return await replay_request(service, body)
