"""What one model version learned: metadata, metric cards, charts from the bundle's JSON, config.

Every chart is drawn from a JSON file of the bundle fetched through the API
(``GET /models/{version}/artifacts/{file}``); a file a version lacks (the baseline has no
learning curve, an older bundle may have no plots) is said so instead of failing the page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import pandas as pd
import streamlit as st
from porto.bundle import FileEntry, Manifest
from porto.contracts.insights import (
    IMPORTANCE_FILE,
    LEARNING_CURVE_FILE,
    MUTUAL_INFO_FILE,
    SHAP_FILE,
    FeatureRanking,
    LearningCurve,
)
from porto.contracts.plots import (
    CalibrationPlot,
    ConfusionPlot,
    PlotData,
    PrecisionRecallPlot,
    RocPlot,
    ScoreDistributionPlot,
    plot_file,
)
from porto.contracts.run import ClassificationMetrics, RunMetrics
from pydantic import BaseModel

from porto_ui import charts
from porto_ui.client import cached_artifact
from porto_ui.layout import fmt

Data = TypeVar("Data", bound=BaseModel)


@dataclass(frozen=True)
class Headline:
    """A headline metric of a version."""

    label: str
    value: Callable[[ClassificationMetrics], float]
    higher_is_better: bool = True


#: The headline metrics of a version (its test holdout's).
HEADLINE = [
    Headline("ROC-AUC", lambda m: m.roc_auc),
    Headline("Gini", lambda m: m.gini_normalized),
    Headline("PR-AUC", lambda m: m.pr_auc),
    Headline("F1 @ threshold", lambda m: m.f1),
    Headline("Log-loss", lambda m: m.log_loss, higher_is_better=False),
]


@dataclass(frozen=True)
class ChartTab:
    """A chart drawn from one JSON file of the bundle: ``draw(api_url, version)`` returns the
    chart and the plot's own title, if the file has one."""

    title: str
    file: str
    draw: Callable[[str, str], tuple[charts.Chart, str | None]]


def _tab(
    title: str, file: str, contract: type[Data], draw: Callable[[Data], charts.Chart]
) -> ChartTab:
    def render(api_url: str, version: str) -> tuple[charts.Chart, str | None]:
        data = cached_artifact(api_url, version, file, contract)
        return draw(data), data.title if isinstance(data, PlotData) else None

    return ChartTab(title, file, render)


def _ranking(default: str) -> Callable[[FeatureRanking], charts.Chart]:
    return lambda d: charts.bar_chart(d.values, title=d.method or default)


#: Chart tabs, in the order shown.
CHARTS = [
    _tab("ROC", plot_file("roc"), RocPlot, lambda d: charts.roc_chart([("test", d)])),
    _tab("Precision-recall", plot_file("precision_recall"), PrecisionRecallPlot, charts.pr_chart),
    _tab("Confusion matrix", plot_file("confusion_matrix"), ConfusionPlot, charts.confusion_chart),
    _tab("Feature importance", IMPORTANCE_FILE, FeatureRanking, _ranking("importance")),
    _tab("Mean |SHAP|", SHAP_FILE, FeatureRanking, _ranking("mean |SHAP|")),
    _tab("Calibration", plot_file("calibration"), CalibrationPlot, charts.calibration_chart),
    _tab(
        "Score distribution",
        plot_file("score_distribution"),
        ScoreDistributionPlot,
        charts.score_distribution_chart,
    ),
    _tab("Learning curve", LEARNING_CURVE_FILE, LearningCurve, charts.learning_curve_chart),
    _tab("Mutual information", MUTUAL_INFO_FILE, FeatureRanking, _ranking("mutual information")),
]


def metric_cards(metrics: RunMetrics, champion: RunMetrics | None) -> None:
    """The headline metrics, with the difference to the champion when this is not it."""
    columns = st.columns(len(HEADLINE))
    for column, headline in zip(columns, HEADLINE, strict=True):
        value = headline.value(metrics)
        delta = None
        if champion is not None:
            delta = f"{value - headline.value(champion):+.4f} vs champion"
        column.metric(
            headline.label,
            fmt(value),
            delta=delta,
            delta_color="normal" if headline.higher_is_better else "inverse",
        )


def metadata(manifest: Manifest, metrics: RunMetrics, aliases: list[str]) -> None:
    """Who, when, from what data, with which schema."""
    dataset = manifest.dataset
    kinds = metrics.features_by_kind.model_dump()
    rows = {
        "version": manifest.version,
        "aliases": ", ".join(aliases) or "—",
        "created": manifest.created_at.isoformat()[:19].replace("T", " ") + " UTC",
        "model type": manifest.model_type,
        "code version": manifest.code_version,
        "dataset": dataset.source,
        "synthetic data": "yes" if dataset.synthetic else "no",
        "rows (positives)": f"{dataset.rows:,} ({dataset.positives:,})",
        "features": f"{len(manifest.feature_schema.features)} "
        + f"({', '.join(f'{n} {k}' for k, n in kinds.items())})",
        "threshold": fmt(manifest.threshold),
        "iterations": fmt(metrics.iterations),
        "training time": f"{metrics.training_seconds:.1f} s",
        "holdout": f"{metrics.holdout} · {fmt(metrics.rows)} rows",
    }
    frame = pd.DataFrame({"": list(rows), "value": [str(v) for v in rows.values()]})
    st.dataframe(frame, hide_index=True, width="stretch", height="content")
    if metrics.champion_comparison.reason:
        st.caption(f"champion decision at training time: {metrics.champion_comparison.reason}")


def chart_tabs(api_url: str, version: str, files: Mapping[str, FileEntry]) -> None:
    """One tab per chart the bundle has data for."""
    available = [c for c in CHARTS if c.file in files]
    missing = [c.title for c in CHARTS if c.file not in files]
    if not available:
        st.info("This version has no chart data (no plots/*.json or insights/*.json).")
        return
    tabs = st.tabs([c.title for c in available])
    for tab, chart in zip(tabs, available, strict=True):
        with tab:
            drawn, title = chart.draw(api_url, version)
            st.altair_chart(drawn, width="stretch")
            st.caption(f"from `{chart.file}`" + (f" · {title}" if title else ""))
    if missing:
        st.caption("not in this bundle: " + ", ".join(missing))


def schema_table(manifest: Manifest) -> pd.DataFrame:
    """The feature schema as a table (kind, type, seen range or categories, missing rate)."""
    rows = []
    for f in manifest.feature_schema.features:
        seen = (
            f"{len(f.categories)} categories"
            if f.categories is not None
            else f"{fmt(f.min, 3)} … {fmt(f.max, 3)}"
        )
        rows.append(
            {
                "feature": f.name,
                "kind": f.kind.value,
                "type": f.dtype,
                "seen": seen,
                "typical": str(f.typical),
                "missing": f.missing_rate,
                "distinct": f.n_unique,
            }
        )
    return pd.DataFrame(rows)
