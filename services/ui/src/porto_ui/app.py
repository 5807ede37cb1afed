"""The Streamlit entry script (``streamlit run``; ``porto-ui serve`` does it for you).

Streamlit executes this file on every interaction. It reads the settings, starts the metrics
endpoint (once per process), declares the pages, draws the sidebar status and runs the current
page. When the API cannot be reached the page is not run at all: the one plain message is shown
instead, and it goes away by itself when the API is back.

Every page has its own URL (``/inference``, ``/training``, ...). Streamlit serves its default
page at the root only, and answers that page's own path with "Page not found", so the default
is a hidden page that opens Inference at ``/inference``. The favicon is a file of this package:
an emoji or material icon would make the browser fetch it from a CDN, which an air-gapped
cluster cannot reach.
"""

from __future__ import annotations

from pathlib import Path

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

ICON = Path(__file__).resolve().parent / "assets" / "icon.png"

st.set_page_config(page_title="porto", page_icon=str(ICON), layout="wide")

try:
    config = settings()
except ValueError as exc:
    st.error(f"**The UI is misconfigured.** {exc}")
    st.stop()

metrics.start_server(config.metrics_port, config.metrics_host)

pages = [st.Page(path, title=title, icon=icon, url_path=slug) for path, title, icon, slug in PAGES]


def _open_first_page() -> None:
    """The app's root URL: show the first page at its own URL."""
    st.switch_page(pages[0])


start = st.Page(
    _open_first_page, title="porto", url_path="start", default=True, visibility="hidden"
)
page = st.navigation([start, *pages])
if page is start:
    page.run()  # switches page: nothing below runs for the root URL
    st.stop()
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
