"""Model comparison: versions side by side, overlaid ROC curves, AUC/Gini bars, promotion."""

from __future__ import annotations

import streamlit as st
from porto.contracts.plots import RocPlot, plot_file

from porto_ui import charts, comparison
from porto_ui.client import (
    ApiRejectedError,
    cached_artifact,
    cached_models,
    get_client,
    settings,
)
from porto_ui.layout import champion_of

config = settings()
st.title("Model comparison")
catalogue = cached_models(config.api_url)
versions = catalogue.versions
if not versions:
    st.warning("The API knows no model versions yet: train one (`make demo`).")
    st.stop()
champion = champion_of(catalogue)
options = comparison.metric_options(versions)
left, right = st.columns(2)
chosen = left.multiselect(
    "Metrics", options, default=[m for m in comparison.DEFAULT_METRICS if m in options]
)
attributes = right.multiselect(
    "Attributes", list(comparison.ATTRIBUTES), default=comparison.DEFAULT_ATTRIBUTES
)
table = comparison.comparison_table(versions, champion, chosen, attributes)
st.dataframe(comparison.styled(table, chosen), hide_index=True, width="stretch")
st.caption(
    "★ champion · best value of each metric highlighted · metrics on each version's test holdout"
)

ids = [v.version for v in reversed(versions)]
picked = st.multiselect("Versions in the charts", ids, default=ids[:6], key="compare-versions")
roc_col, bar_col = st.columns(2)
with roc_col:
    st.subheader("ROC curves")
    by_id = {v.version: v for v in versions}
    curves: list[tuple[str, RocPlot]] = []
    for version in picked:
        label = f"★ {version}" if version == champion else version
        try:
            roc = cached_artifact(config.api_url, version, plot_file("roc"), RocPlot)
        except ApiRejectedError as exc:  # a version without plots: say so, draw the others
            st.caption(f"{version}: no ROC data ({exc.message})")
            continue
        curves.append((label, roc))
    if curves:
        st.altair_chart(charts.roc_chart(curves), width="stretch")
with bar_col:
    st.subheader("AUC and Gini")
    rows = [
        (f"★ {v}" if v == champion else v, comparison.flat_metrics(by_id[v].metrics))
        for v in picked
    ]
    st.altair_chart(charts.metric_bars(rows, ["roc_auc", "gini_normalized"]), width="stretch")

st.subheader("Champion")
comparison.promotion(get_client(config), config.api_url, ids[::-1], champion)
