"""What one model version learned: metadata, metric cards, charts from the bundle's JSON, config.

Every chart is drawn from a JSON file of the bundle fetched through the API
(``GET /models/{version}/artifacts/{file}``); a file a version lacks (the baseline has no
learning curve, an older bundle may have no plots) is said so instead of failing the page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from porto_ui import charts
from porto_ui.client import cached_artifact
from porto_ui.layout import HEADLINE, fmt

#: Chart tabs: title, bundle file, how to draw it.
CHARTS: list[tuple[str, str, Callable[[Any], charts.Chart]]] = [
    ("ROC", "plots/roc.json", lambda d: charts.roc_chart([{"label": "test", **d}])),
    ("Precision-recall", "plots/precision_recall.json", charts.pr_chart),
    ("Confusion matrix", "plots/confusion_matrix.json", charts.confusion_chart),
    (
        "Feature importance",
        "insights/feature_importance.json",
        lambda d: charts.bar_chart(d["values"], title=d.get("method", "importance")),
    ),
    (
        "Mean |SHAP|",
        "insights/shap.json",
        lambda d: charts.bar_chart(d["values"], title=d.get("method", "mean |SHAP|")),
    ),
    ("Calibration", "plots/calibration.json", charts.calibration_chart),
    ("Score distribution", "plots/score_distribution.json", charts.score_distribution_chart),
    ("Learning curve", "insights/learning_curve.json", charts.learning_curve_chart),
    (
        "Mutual information",
        "insights/mutual_info.json",
        lambda d: charts.bar_chart(d["values"], title=d.get("method", "mutual information")),
    ),
]


def metric_cards(metrics: dict[str, Any], champion: dict[str, Any] | None) -> None:
    """The headline metrics, with the difference to the champion when this is not it."""
    columns = st.columns(len(HEADLINE))
    for column, (key, label, higher_better) in zip(columns, HEADLINE, strict=True):
        value = metrics.get(key)
        delta = None
        if champion is not None and isinstance(value, (int, float)):
            other = champion.get(key)
            if isinstance(other, (int, float)):
                delta = f"{value - other:+.4f} vs champion"
        column.metric(
            label,
            fmt(value),
            delta=delta,
            delta_color="normal" if higher_better else "inverse",
        )


def metadata(manifest: dict[str, Any], aliases: list[str]) -> None:
    """Who, when, from what data, with which schema."""
    dataset = manifest.get("dataset", {})
    metrics = manifest.get("metrics", {})
    kinds = metrics.get("features_by_kind") or {}
    rows = {
        "version": manifest["version"],
        "aliases": ", ".join(aliases) or "—",
        "created": str(manifest.get("created_at", ""))[:19].replace("T", " ") + " UTC",
        "model type": manifest.get("model_type"),
        "code version": manifest.get("code_version"),
        "dataset": dataset.get("source"),
        "synthetic data": "yes" if dataset.get("synthetic") else "no",
        "rows (positives)": f"{dataset.get('rows', 0):,} ({dataset.get('positives', 0):,})",
        "features": f"{len(manifest['feature_schema']['features'])} "
        + (f"({', '.join(f'{n} {k}' for k, n in kinds.items())})" if kinds else ""),
        "threshold": fmt(manifest.get("threshold")),
        "iterations": fmt(metrics.get("iterations")),
        "training time": f"{metrics['training_seconds']:.1f} s"
        if isinstance(metrics.get("training_seconds"), (int, float))
        else "—",
        "holdout": f"{metrics.get('holdout', 'test')} · {fmt(metrics.get('rows'))} rows",
    }
    frame = pd.DataFrame({"": list(rows), "value": [str(v) for v in rows.values()]})
    st.dataframe(frame, hide_index=True, width="stretch", height="content")
    comparison = metrics.get("champion_comparison")
    if isinstance(comparison, dict) and comparison.get("reason"):
        st.caption(f"champion decision at training time: {comparison['reason']}")


def chart_tabs(api_url: str, version: str, files: dict[str, Any]) -> None:
    """One tab per chart the bundle has data for."""
    available = [c for c in CHARTS if c[1] in files]
    missing = [c[0] for c in CHARTS if c[1] not in files]
    if not available:
        st.info("This version has no chart data (no plots/*.json or insights/*.json).")
        return
    tabs = st.tabs([title for title, _, _ in available])
    for tab, (_, file, draw) in zip(tabs, available, strict=True):
        with tab:
            data = cached_artifact(api_url, version, file)
            st.altair_chart(draw(data), width="stretch")
            st.caption(f"from `{file}`" + (f" · {data['title']}" if "title" in data else ""))
    if missing:
        st.caption("not in this bundle: " + ", ".join(missing))


def schema_table(manifest: dict[str, Any]) -> pd.DataFrame:
    """The feature schema as a table (kind, type, seen range or categories, missing rate)."""
    rows = []
    for f in manifest["feature_schema"]["features"]:
        seen = (
            f"{len(f.get('categories') or [])} categories"
            if f.get("categories") is not None
            else f"{fmt(f.get('min'), 3)} … {fmt(f.get('max'), 3)}"
        )
        rows.append(
            {
                "feature": f["name"],
                "kind": f["kind"],
                "type": f["dtype"],
                "seen": seen,
                "typical": str(f.get("typical")),
                "missing": f.get("missing_rate", 0.0),
                "distinct": f.get("n_unique", 0),
            }
        )
    return pd.DataFrame(rows)
