"""Monitoring: live traffic, scores, drift, quality and champion against challengers from the
prediction log, self-refreshing."""

from __future__ import annotations

import streamlit as st

from porto_ui import monitor
from porto_ui.client import ApiError, cached_models, get_client, settings
from porto_ui.layout import served_version

config = settings()
client = get_client(config)
st.title("Monitoring")
catalogue = cached_models(config.api_url)
served = served_version(catalogue) or ""
ids = [v.version for v in reversed(catalogue.versions)]
thresholds = {v.version: v.threshold for v in catalogue.versions}
left, middle, right = st.columns([2, 3, 2])
window = left.selectbox("Window", list(monitor.WINDOWS), index=1, key="monitor-window")
version = middle.selectbox(
    "Model version",
    [None, *ids],
    format_func=lambda v: "all versions" if v is None else (f"{v} (served)" if v == served else v),
    key="monitor-version",
)
auto = right.toggle(
    f"Refresh every {config.monitor_refresh_s:g} s",
    value=config.monitor_refresh_s > 0,
    disabled=config.monitor_refresh_s <= 0,
    key="monitor-auto",
)


@st.fragment(run_every=config.monitor_refresh_s if auto and config.monitor_refresh_s > 0 else None)
def live() -> None:
    """The sections; re-run alone on the timer (the page around it stays)."""
    try:
        monitor.render(client, window, version, served, thresholds.get(version or served))
    except ApiError as exc:  # the API went away between refreshes: say so, retry on the timer
        st.error(f"**The porto API is not available** — {exc.message}. Retrying…")


live()
