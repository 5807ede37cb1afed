"""Streamlit pieces every page shares: the sidebar status, the version picker, and how API
failures are shown (plainly, with what to do, never a stack trace)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from porto_ui import __version__
from porto_ui.client import (
    ApiError,
    ApiRejectedError,
    ApiUnavailableError,
    cached_api_version,
    get_client,
)
from porto_ui.settings import UISettings

#: The headline metrics of a version, as (manifest key, label, higher is better).
HEADLINE = [
    ("roc_auc", "ROC-AUC", True),
    ("gini_normalized", "Gini", True),
    ("pr_auc", "PR-AUC", True),
    ("f1", "F1 @ threshold", True),
    ("log_loss", "Log-loss", False),
]


def sidebar_status(config: UISettings) -> ApiError | None:
    """API status and versions in the sidebar; return the failure when the API cannot be
    asked (the caller then shows the page's "API down" message instead of the page)."""
    box = st.sidebar.container(border=True)
    try:
        ready = get_client(config).ready()
    except ApiUnavailableError as exc:
        box.markdown(":red[●] **API unreachable**")
        box.caption(exc.message)
        box.caption(f"UI {__version__}")
        return exc
    except ApiError as exc:
        box.markdown(":orange[●] **API error**")
        box.caption(exc.message)
        return exc
    model = ready.get("model") or {}
    if ready.get("status") == "ready":
        box.markdown(":green[●] **API ready**")
        box.caption(f"serving `{model.get('name')}/{model.get('version')}` ({model.get('alias')})")
    else:
        box.markdown(":orange[●] **API up, no model loaded**")
        error = ready.get("model_error") or {}
        if error:
            box.caption(str(error.get("error", "")))
    database = (ready.get("database") or {}).get("state")
    if database and database != "up":
        box.caption(f"prediction log: {database}")
    try:
        api_version = cached_api_version(config.api_url)
    except ApiError:
        api_version = "?"
    box.caption(f"API {api_version} · UI {__version__}")
    box.caption(f"`{config.api_url}`")
    return None


def api_down(exc: ApiError, config: UISettings) -> None:
    """The page's plain message while the API cannot be reached; it retries by itself."""
    st.error(
        f"**The porto API is not available** — {exc.message}.\n\n"
        f"This page needs it at `{config.api_url}` (set `PORTO_UI_API_URL` to change it). "
        "It will come back by itself as soon as the API answers again."
    )
    if st.button("Retry now", key="retry-api"):
        st.rerun()
    _poll_until_back(config)


@st.fragment(run_every=5)
def _poll_until_back(config: UISettings) -> None:
    """Every 5 s: rerun the whole page once the API answers again (no stale error stays up)."""
    try:
        get_client(config).ready()
    except ApiError:
        return
    st.rerun(scope="app")


def show_rejected(exc: ApiRejectedError, *, row_offset: int = 0, what: str = "request") -> None:
    """The API refused a request: its message, and its per-row/per-field details as a table
    (rows shifted by ``row_offset`` and numbered from 1, as the file shows them)."""
    if exc.status == 401:
        st.error(
            f"**The API refused the {what}: it needs an API key.** Set `PORTO_UI_API_KEY` to the "
            "API's key (`PORTO_INFERENCE_API_KEY`)."
        )
        return
    st.error(f"**The API refused the {what}** (HTTP {exc.status}): {exc.message}")
    if exc.details:
        table = pd.DataFrame(
            [
                {
                    "row": "" if d.row is None else d.row + row_offset + 1,
                    "column": d.field,
                    "problem": d.message,
                }
                for d in exc.details
            ]
        )
        st.dataframe(table, hide_index=True, width="stretch")


def version_label(entry: dict[str, Any], champion: str | None) -> str:
    """``<version> · champion · catboost · AUC 0.613`` for pickers."""
    parts = [entry["version"]]
    aliases = list(entry.get("aliases") or [])
    if entry["version"] == champion and "champion" not in aliases:
        aliases.insert(0, "champion")
    if aliases:
        parts.append(", ".join(aliases))
    parts.append(str(entry.get("model_type", "")))
    auc = (entry.get("metrics") or {}).get("roc_auc")
    if isinstance(auc, (int, float)):
        parts.append(f"AUC {auc:.3f}")
    return " · ".join(p for p in parts if p)


def version_picker(
    catalogue: dict[str, Any], *, key: str, label: str = "Model version"
) -> str | None:
    """A select box of the versions, newest first, defaulting to the one the API serves."""
    versions = list(reversed(catalogue.get("versions") or []))
    if not versions:
        st.warning(
            "The API knows no model versions yet: train one (`make demo` or `porto-train train`)."
        )
        return None
    champion = (catalogue.get("aliases") or {}).get("champion")
    served = ((catalogue.get("served") or {}) or {}).get("version")
    ids = [v["version"] for v in versions]
    by_id = {v["version"]: v for v in versions}
    default = served if served in ids else (champion if champion in ids else ids[0])
    if st.session_state.get(key) not in ids:
        st.session_state[key] = default
    choice: str = st.selectbox(
        label, ids, key=key, format_func=lambda v: version_label(by_id[v], champion)
    )
    return choice


def fmt(value: Any, digits: int = 4) -> str:
    """A metric for display (``—`` when absent)."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)
