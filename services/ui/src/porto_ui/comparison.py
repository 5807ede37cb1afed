"""Model comparison: versions against the metrics and attributes the user picks, and promotion.

The table is built from ``GET /models`` alone (every version's metrics are in it); ROC curves
come from each version's ``plots/roc.json``. Promotion goes through the API
(``POST /models/{version}/promote``, with the API key when one is configured) after an explicit
confirmation, and the model list is re-read afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st
from porto.contracts.api import VersionSummary
from porto.contracts.serving import PromoteResponse

from porto_ui import metrics
from porto_ui.client import ApiClient, ApiRejectedError, cached_models
from porto_ui.layout import show_rejected

if TYPE_CHECKING:
    # Importing pandas' Styler module imports matplotlib, which the UI does not install.
    from pandas.io.formats.style import Styler

#: Metrics picked by default, and those where lower is better.
DEFAULT_METRICS = ["roc_auc", "gini_normalized", "pr_auc", "f1", "log_loss"]
LOWER_IS_BETTER = {"log_loss", "brier", "validation.log_loss", "training_seconds", "total_seconds"}
#: Attributes of a version that are not metrics.
ATTRIBUTES: dict[str, Callable[[VersionSummary], str | float]] = {
    "created": lambda v: v.created_at[:19].replace("T", " "),
    "model type": lambda v: v.model_type,
    "aliases": lambda v: ", ".join(v.aliases),
    "threshold": lambda v: v.threshold,
    "features": lambda v: v.features,
    "training rows": lambda v: v.dataset_rows,
}
DEFAULT_ATTRIBUTES = ["created", "model type", "threshold"]


def flat_metrics(metrics_: Mapping[str, object], prefix: str = "") -> dict[str, float]:
    """Numeric metrics, nested ones as ``validation.roc_auc`` (one level deep).

    Deliberately not :class:`porto.contracts.run.RunMetrics`: the table offers every figure
    some version has, including those a newer training job adds."""
    out: dict[str, float] = {}
    for key, value in metrics_.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            out[prefix + key] = float(value)
        elif isinstance(value, Mapping) and not prefix and key in ("validation",):
            out.update(flat_metrics(value, f"{key}."))
    return out


def metric_options(versions: list[VersionSummary]) -> list[str]:
    """Every metric some version has, the defaults first."""
    found: set[str] = set()
    for v in versions:
        found.update(flat_metrics(v.metrics))
    return [m for m in DEFAULT_METRICS if m in found] + sorted(found - set(DEFAULT_METRICS))


def comparison_table(
    versions: list[VersionSummary], champion: str | None, chosen: list[str], attributes: list[str]
) -> pd.DataFrame:
    """One row per version (newest first): champion mark, attributes, chosen metrics."""
    rows = []
    for v in reversed(versions):
        flat = flat_metrics(v.metrics)
        row: dict[str, str | float | None] = {
            "champion": "★" if v.version == champion else "",
            "version": v.version,
        }
        for name in attributes:
            row[name] = ATTRIBUTES[name](v)
        for name in chosen:
            row[name] = flat.get(name)
        rows.append(row)
    return pd.DataFrame(rows, columns=["champion", "version", *attributes, *chosen])


def styled(table: pd.DataFrame, chosen: list[str]) -> Styler:
    """The table with the best value of each metric highlighted."""
    higher: list[Hashable] = [
        m for m in chosen if m not in LOWER_IS_BETTER and table[m].notna().any()
    ]
    lower: list[Hashable] = [m for m in chosen if m in LOWER_IS_BETTER and table[m].notna().any()]
    style = table.style.format({m: "{:.4f}" for m in chosen}, na_rep="—")
    colour = "background-color: rgba(33, 195, 84, 0.25)"
    if higher:
        style = style.highlight_max(subset=higher, props=colour)
    if lower:
        style = style.highlight_min(subset=lower, props=colour)
    return style


def promotion(client: ApiClient, api_url: str, versions: list[str], champion: str | None) -> None:
    """Pick a version, confirm, promote through the API."""
    candidates = [v for v in reversed(versions) if v != champion]
    if not candidates:
        st.caption("Only the champion exists: nothing to promote.")
        return
    target = st.selectbox("Version to promote", candidates, key="promote-target")
    pending = st.session_state.get("promote-pending")
    if pending != target:
        if st.button("Promote to champion…", icon=":material/military_tech:"):
            st.session_state["promote-pending"] = target
            st.rerun()
        _last_outcome()
        return
    st.warning(
        f"Make **{target}** the champion? The API will serve it for every prediction that does "
        f"not ask for a version (replacing **{champion or 'none'}**)."
    )
    yes, no, _ = st.columns([1, 1, 4])
    if yes.button("Yes, promote", type="primary", key="promote-confirm"):
        st.session_state.pop("promote-pending", None)
        try:
            answer = client.promote(target)
        except ApiRejectedError as exc:
            show_rejected(exc, what="promotion")
            return
        metrics.PROMOTIONS.inc()
        cached_models.clear()
        st.session_state["promote-outcome"] = answer
        st.rerun()
    if no.button("Cancel", key="promote-cancel"):
        st.session_state.pop("promote-pending", None)
        st.rerun()


def _last_outcome() -> None:
    answer: PromoteResponse | None = st.session_state.get("promote-outcome")
    if answer is None:
        return
    served = answer.served.version if answer.served is not None else None
    text = (
        f"**{answer.version}** is the champion (was {answer.previous or 'none'})."
        if answer.changed
        else f"**{answer.version}** already was the champion."
    )
    st.success(
        f"{text} The answering API worker serves `{served}` now; the other workers and replicas "
        f"follow within {answer.propagation_s:g} s."
    )
