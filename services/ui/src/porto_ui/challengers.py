"""Champion against challenger on the monitoring page: realized ROC-AUC, Gini, F1 and
calibration of both on the same labelled rows over prediction time, the labels behind each
point, and the promotion suggestion — all from ``GET /monitoring/challengers``."""

from __future__ import annotations

from typing import Literal

import altair as alt
import pandas as pd
import streamlit as st
from porto.contracts.monitoring import ChallengerComparison, ChallengerReport

from porto_ui.charts import NUM, SCHEME, Chart

Figure = Literal["roc_auc", "gini", "f1", "ece"]
#: The charts drawn per challenger: figure → title.
FIGURES: dict[Figure, str] = {
    "roc_auc": "ROC-AUC",
    "gini": "Gini",
    "f1": "F1",
    "ece": "calibration error (ECE)",
}
#: The overall figures shown side by side.
COLUMNS = (
    "samples",
    "positives",
    "roc_auc",
    "gini",
    "f1",
    "precision",
    "recall",
    "ece",
    "brier",
    "mean_score",
    "positive_rate",
)


def comparison_chart(report: ChallengerReport, figure: Figure) -> Chart:
    """``figure`` of champion and challenger per prediction-time bucket, with the labels behind
    each point in the tooltip."""
    rows = [
        {
            "model": role,
            "start": bucket.start,
            figure: value,
            "labels": bucket.labels,
        }
        for bucket in report.series
        for role, figures in (("champion", bucket.champion), ("challenger", bucket.challenger))
        if (value := getattr(figures, figure)) is not None
    ]
    frame = pd.DataFrame(rows, columns=["model", "start", figure, "labels"])
    frame["start"] = pd.to_datetime(frame["start"])
    low = -1 if figure == "gini" else 0
    return (
        alt.Chart(frame, title=FIGURES[figure])
        .mark_line(point=True)
        .encode(
            x=alt.X("start:T", title="prediction time"),
            y=alt.Y(f"{figure}:Q", title=None, scale=alt.Scale(domain=[low, 1])),
            color=alt.Color("model:N", scale=SCHEME),
            tooltip=[
                "model:N",
                alt.Tooltip("start:T"),
                alt.Tooltip(f"{figure}:Q", format=NUM),
                "labels:Q",
            ],
        )
    )


def labels_chart(report: ChallengerReport) -> Chart:
    """Labelled rows behind each time bucket's points."""
    frame = pd.DataFrame(
        [{"start": b.start, "labels": b.labels} for b in report.series],
        columns=["start", "labels"],
    )
    frame["start"] = pd.to_datetime(frame["start"])
    return (
        alt.Chart(frame, title="labels per point")
        .mark_bar()
        .encode(
            x=alt.X("start:T", title="prediction time"),
            y=alt.Y("labels:Q", title=None),
            tooltip=[alt.Tooltip("start:T"), "labels:Q"],
        )
    )


def figures_table(report: ChallengerReport) -> pd.DataFrame:
    """Champion and challenger over the whole window, one row each."""
    return pd.DataFrame(
        [
            {"model": f"champion ({', '.join(report.champion_versions)})"}
            | report.champion.model_dump(include=set(COLUMNS)),
            {"model": f"challenger ({report.model_version})"}
            | report.challenger.model_dump(include=set(COLUMNS)),
        ],
        columns=["model", *COLUMNS],
    )


def render(data: ChallengerComparison) -> None:
    """The section: what is configured, then per challenger the suggestion, the figures and the
    charts; says so plainly when there is nothing to compare."""
    for state in data.configured:
        if not state.loaded:
            st.warning(
                f"Challenger `{state.ref}` is skipped: {state.error or 'not loaded yet'}",
                icon=":material/warning:",
            )
    if not data.configured and not data.challengers:
        st.info(
            "No challengers configured: set `PORTO_INFERENCE_CHALLENGERS` (e.g. `challenger`, "
            "an alias or version) to score a share of the traffic in shadow, or "
            "`inference.challengers` in the chart."
        )
        return
    if not data.challengers:
        st.info(
            "No labelled predictions a challenger scored in this window yet: shadow scores "
            "meet the labels sent to POST /feedback for the served predictions."
        )
        return
    modes = f"shadow share {data.shadow_share:g}, canary share {data.canary_share:g}"
    st.caption(f"paired on the same labelled rows · {modes} · {data.bucket_minutes} min buckets")
    for report in data.challengers:
        promotion = report.promotion
        text = f"**{report.model_version}**: {promotion.reason}"
        if promotion.promote:
            st.success(f"{text}. {promotion.how}", icon=":material/trending_up:")
        else:
            st.info(text)
        st.dataframe(figures_table(report), hide_index=True, width="stretch")
        columns = st.columns(len(FIGURES) + 1)
        for column, figure in zip(columns, FIGURES, strict=False):
            column.altair_chart(comparison_chart(report, figure), width="stretch")
        columns[-1].altair_chart(labels_chart(report), width="stretch")
