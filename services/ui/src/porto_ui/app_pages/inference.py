"""Inference: score one record from a generated form, or a whole CSV file."""

from __future__ import annotations

import streamlit as st
from porto.reference import REFERENCE_FILE, ReferenceStats

from porto_ui import batch, single
from porto_ui.client import cached_artifact, cached_manifest, cached_models, get_client, settings
from porto_ui.layout import version_picker

config = settings()
client = get_client(config)
st.title("Inference")
version = version_picker(cached_models(config.api_url), key="inference-version")
if version is None:
    st.stop()
manifest = cached_manifest(config.api_url, version)
schema = manifest.feature_schema
reference = (
    cached_artifact(config.api_url, version, REFERENCE_FILE, ReferenceStats)
    if REFERENCE_FILE in manifest.files
    else None
)
st.caption(
    f"{len(schema.names)} features · threshold {manifest.threshold:.4f} · "
    f"trained on {manifest.dataset.rows:,} rows of `{manifest.dataset.source}`"
)
tab_single, tab_batch = st.tabs(["Single prediction", "Batch (CSV)"])
with tab_single:
    single.render(client, version, schema, reference)
with tab_batch:
    batch.render(client, config, version, schema, reference)
