"""GET /models/{version}/report: a version's report and model card, as JSON or one
self-contained HTML file.

Behind the API key like /monitoring: the log sections summarise customers' records. Every
parameter is bounded and validated here (422 naming it); without a prediction log, or with its
database down, the answer is still 200, its log sections marked unavailable with the reason.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from porto.contracts.report import VersionReport
from starlette.responses import HTMLResponse, Response

from porto_inference.api.deps import ApiKeyDep, ServiceDep
from porto_inference.api.routes.models import VersionPath
from porto_inference.api.schemas import ERRORS
from porto_inference.monitoring.report_html import render_html
from porto_inference.monitoring.version_report import build_report, report_options

router = APIRouter(tags=["models"], dependencies=[ApiKeyDep])


@router.get(
    "/models/{version}/report",
    summary="Report and model card of a version (JSON or HTML)",
    response_model=VersionReport,
    responses={200: {"content": {"text/html": {}}}, **ERRORS},
)
async def get_model_report(
    version: VersionPath,
    service: ServiceDep,
    format: Annotated[
        Literal["json", "html"], Query(description="`json` (the contract) or `html` (one file).")
    ] = "json",
    days: Annotated[int, Query(ge=1, le=90, description="Log window: the last N days.")] = 7,
    bucket_hours: Annotated[
        int, Query(ge=1, le=168, description="Width of a drift and quality bucket in hours.")
    ] = 24,
    sample: Annotated[
        int,
        Query(
            ge=10,
            le=20_000,
            description="Most served rows sampled per bucket (drift, data quality).",
        ),
    ] = 2000,
    download: Annotated[
        bool, Query(description="Answer as an attachment named porto-<name>-<version>-report.*")
    ] = False,
) -> Response:
    """The model card (data source and fingerprint, features, intended use, limits, holdout
    metrics, threshold), training metrics and plots, mutual information as a bar chart, and from
    the prediction log: PSI per feature per bucket against the training reference, realized
    quality (AUC, Gini, F1, calibration, labels per bucket) and data-quality counts (missing
    values, unseen categories)."""
    options = report_options(days, bucket_hours, sample)
    resolved = await service.models.resolve(version)
    built = await build_report(
        service.models.store, service.models.registry, resolved, service.prediction_log, options
    )
    report = built.report
    filename = f"porto-{report.model_name}-{report.model_version}-report.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'} if download else {}
    if format == "html":
        return HTMLResponse(render_html(report, built.images), headers=headers)
    # pydantic's own JSON: a NaN a bundle might hold becomes null instead of failing the answer.
    return Response(report.model_dump_json(), media_type="application/json", headers=headers)
