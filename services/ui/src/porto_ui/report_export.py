"""The "Export report" buttons: the selected version's report and model card (``GET
/models/{version}/report``) as HTML and JSON downloads.

The report reads the prediction log, so it is fetched only when a button is clicked (Streamlit
calls ``data`` then, on a thread of its own), never on every rerun of the page. A failure is
written into the downloaded file rather than lost on that thread.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable

import streamlit as st
from porto.bundle import Manifest

from porto_ui.client import ApiClient, ApiError, get_client
from porto_ui.settings import UISettings

#: Download format → (label, media type).
FORMATS = {
    "html": ("HTML report", "text/html"),
    "json": ("JSON report", "application/json"),
}


def report_filename(manifest: Manifest, fmt: str) -> str:
    """The name the API gives the file too: ``porto-<name>-<version>-report.<fmt>``."""
    return f"porto-{manifest.name}-{manifest.version}-report.{fmt}"


def fetch_report(client: ApiClient, version: str, fmt: str, days: int) -> bytes:
    """The report's bytes, or a file of the same format saying why it could not be built."""
    try:
        return client.report(version, fmt, days=days)
    except ApiError as exc:
        if fmt == "json":
            return json.dumps({"error": exc.message}).encode()
        page = f"<!DOCTYPE html><title>porto report</title><p>{html.escape(exc.message)}</p>"
        return page.encode()


def _deferred(client: ApiClient, version: str, fmt: str, days: int) -> Callable[[], bytes]:
    return lambda: fetch_report(client, version, fmt, days)


def render(config: UISettings, manifest: Manifest, *, key: str) -> None:
    """The window picker and one download button per format."""
    st.markdown("**Export report** · model card, training, drift, realized quality, data quality")
    days = st.number_input(
        "Prediction log window (days)", min_value=1, max_value=90, value=7, key=f"{key}-days"
    )
    client = get_client(config)
    columns = st.columns(len(FORMATS))
    for column, (fmt, (label, media)) in zip(columns, FORMATS.items(), strict=True):
        column.download_button(
            label,
            data=_deferred(client, manifest.version, fmt, int(days)),
            file_name=report_filename(manifest, fmt),
            mime=media,
            key=f"{key}-{fmt}",
            # No rerun on a click: a rerun would register the deferred data anew while the
            # browser fetches it (and rebuild the whole page for a download).
            on_click="ignore",
            icon=":material/download:",
            help=f"Download the report of {manifest.version} as {fmt.upper()} "
            "(built by the API when clicked)",
        )
