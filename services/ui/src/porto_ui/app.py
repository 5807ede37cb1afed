"""The Streamlit entry script (``streamlit run``; ``porto-ui serve`` does it for you).

Streamlit executes this file on every interaction. It reads the settings, starts the metrics
endpoint (once per process), declares the pages, draws the sidebar status and runs the current
page. When the API cannot be reached the page is not run at all: the one plain message is shown
instead, and it goes away by itself when the API is back.
"""

from __future__ import annotations

import streamlit as st

from porto_ui import metrics
from porto_ui.client import ApiError, ApiUnavailableError, settings
from porto_ui.layout import api_down, sidebar_status

#: Pages: file (relative to this script), title, icon, URL path (also the page_views label).
PAGES = [
    ("app_pages/inference.py", "Inference", ":material/online_prediction:", "inference"),
    ("app_pages/training.py", "Training", ":material/model_training:", "training"),
    ("app_pages/comparison.py", "Model comparison", ":material/compare:", "comparison"),
    ("app_pages/monitoring.py", "Monitoring", ":material/monitoring:", "monitoring"),
]

st.set_page_config(page_title="porto", page_icon=":material/directions_car:", layout="wide")

try:
    config = settings()
except ValueError as exc:
    st.error(f"**The UI is misconfigured.** {exc}")
    st.stop()

metrics.start_server(config.metrics_port, config.metrics_host)

page = st.navigation(
    [
        st.Page(path, title=title, icon=icon, url_path=slug, default=i == 0)
        for i, (path, title, icon, slug) in enumerate(PAGES)
    ]
)
slug = next((s for p, t, _, s in PAGES if t == page.title), page.title)
if st.session_state.get("porto_page") != slug:
    st.session_state["porto_page"] = slug
    metrics.count_page_view(slug)

st.sidebar.caption("porto · safe-driver claim model")
failure = sidebar_status(config)
if failure is not None:
    st.title(page.title)
    api_down(failure, config)
else:
    try:
        page.run()
    except ApiUnavailableError as exc:
        api_down(exc, config)
    except ApiError as exc:
        st.error(f"**The API answered with an error.** {exc.message}")
