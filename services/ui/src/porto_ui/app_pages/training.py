"""Training: what one version learned — metadata, metric cards, charts and its config; and,
when the chart allows it, "Train a new model" (porto_ui.train_action)."""

from __future__ import annotations

import streamlit as st
from porto.contracts.run import RunMetrics

from porto_ui import insights, report_export, train_action
from porto_ui.client import cached_manifest, cached_models, settings
from porto_ui.layout import champion_of, version_picker

config = settings()
st.title("Training")
catalogue = cached_models(config.api_url)
version = version_picker(catalogue, key="training-version")
if version is None:
    # No model yet: the launcher (when on) is how to get one.
    train_action.render_section(config)
    st.stop()
manifest = cached_manifest(config.api_url, version)
metrics = RunMetrics.model_validate(manifest.metrics)
entry = next(v for v in catalogue.versions if v.version == version)
champion_version = champion_of(catalogue)
champion = next(
    (
        RunMetrics.model_validate(v.metrics)
        for v in catalogue.versions
        if v.version == champion_version
    ),
    None,
)
insights.metric_cards(metrics, None if version == champion_version else champion)
left, right = st.columns([3, 2])
with left:
    st.subheader("Charts")
    insights.chart_tabs(config.api_url, version, manifest.files)
with right:
    st.subheader("Version")
    insights.metadata(manifest, metrics, entry.aliases)
    report_export.render(config, manifest, key="training-report")
with st.expander("Training config", icon=":material/settings:"):
    st.json(manifest.config, expanded=2)
with st.expander(f"Feature schema ({len(manifest.feature_schema.features)} features)"):
    st.dataframe(
        insights.schema_table(manifest),
        hide_index=True,
        width="stretch",
        column_config={"missing": st.column_config.NumberColumn(format="percent")},
    )
with st.expander("All metrics (metrics.json)"):
    st.json(manifest.metrics, expanded=1)
st.divider()
train_action.render_section(config)
