"""Streamlit pieces every page shares: the sidebar status, the version picker, and how API
failures are shown (plainly, with what to do, never a stack trace)."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from porto.contracts.api import ModelsResponse, VersionSummary
from porto.contracts.run import RunMetrics

from porto_ui import __version__
from porto_ui.client import (
    ApiError,
    ApiRejectedError,
    ApiUnavailableError,
    cached_api_version,
    get_client,
)
from porto_ui.settings import UISettings


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
    model = ready.model
    if ready.status == "ready" and model is not None:
        box.markdown(":green[●] **API ready**")
        box.caption(f"serving `{model.name}/{model.version}` ({model.alias})")
    else:
        box.markdown(":orange[●] **API up, no model loaded**")
        if ready.model_error is not None:
            box.caption(ready.model_error.error)
    database = ready.database.state if ready.database is not None else None
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


def served_version(catalogue: ModelsResponse) -> str | None:
    """The version the answering API worker serves, if any."""
    if catalogue.served is None:
        return None
    return catalogue.served.version


def champion_of(catalogue: ModelsResponse) -> str | None:
    """The version the ``champion`` alias names, if any."""
    return catalogue.aliases.get("champion")


def version_label(entry: VersionSummary, champion: str | None) -> str:
    """``<version> · champion · catboost · AUC 0.613`` for pickers."""
    parts = [entry.version]
    aliases = list(entry.aliases)
    if entry.version == champion and "champion" not in aliases:
        aliases.insert(0, "champion")
    if aliases:
        parts.append(", ".join(aliases))
    parts.append(entry.model_type)
    parts.append(f"AUC {RunMetrics.model_validate(entry.metrics).roc_auc:.3f}")
    return " · ".join(p for p in parts if p)


def version_picker(
    catalogue: ModelsResponse, *, key: str, label: str = "Model version"
) -> str | None:
    """A select box of the versions, newest first, defaulting to the one the API serves."""
    versions = list(reversed(catalogue.versions))
    if not versions:
        st.warning(
            "The API knows no model versions yet: train one (`make demo` or `porto-train train`)."
        )
        return None
    champion = champion_of(catalogue)
    served = served_version(catalogue)
    ids = [v.version for v in versions]
    by_id = {v.version: v for v in versions}
    default = served if served in ids else (champion if champion in ids else ids[0])
    if st.session_state.get(key) not in ids:
        st.session_state[key] = default
    choice: str = st.selectbox(
        label, ids, key=key, format_func=lambda v: version_label(by_id[v], champion)
    )
    return choice


def fmt(value: str | float | None, digits: int = 4) -> str:
    """A metric for display (``—`` when absent)."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)
