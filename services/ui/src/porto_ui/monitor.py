"""Live monitoring from the prediction log: traffic, scores over time, drift, live quality,
champion against challengers and the latest predictions — each section one
``GET /monitoring/*`` call.

Each section handles its own failure: a prediction log that is off or down (503) or a missing
API key (401) is said in that section, and the rest of the page still shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

import pandas as pd
import streamlit as st
from porto.contracts.monitoring import (
    DriftReport,
    LiveQuality,
    RecentPredictions,
    ScoreHistory,
    Throughput,
)

from porto_ui import challengers, charts
from porto_ui.client import ApiClient, ApiRejectedError

#: Time windows offered: label → (minutes, score bucket minutes, quality bucket minutes).
WINDOWS: dict[str, tuple[int, int, int]] = {
    "15 minutes": (15, 1, 5),
    "1 hour": (60, 5, 10),
    "6 hours": (360, 15, 60),
    "24 hours": (1440, 60, 120),
    "7 days": (10080, 360, 1440),
}


Report = TypeVar("Report")


def section(title: str, call: Callable[[], Report]) -> Report | None:
    """Run one monitoring call; on a refusal say why in place and return None."""
    try:
        return call()
    except ApiRejectedError as exc:
        if exc.status == 401:
            st.warning(
                f"{title}: the API needs its key for monitoring; set `PORTO_UI_API_KEY`.",
                icon=":material/key:",
            )
        elif exc.kind == "database_unavailable":
            st.warning(f"{title}: {exc.message}", icon=":material/database:")
        else:
            st.error(f"{title}: {exc.message}")
        return None


def kpis(throughput: Throughput | None, quality: LiveQuality | None, served: str) -> None:
    """Headline numbers of the window."""
    a, b, c, d, e = st.columns(5)
    if throughput is not None:
        series = throughput.series
        total = throughput.total
        positives = sum(s.positives for s in series)
        last = series[-2].predictions if len(series) > 1 else 0  # last complete minute
        a.metric("Predictions", f"{total:,}")
        b.metric("Last full minute", f"{last:,}/min")
        c.metric("Class 1 rate", f"{positives / total:.1%}" if total else "—")
    if quality is not None:
        mine = next((v for v in quality.versions if v.model_version == served), None)
        d.metric(
            "Live F1 (served)",
            f"{mine.f1:.3f}" if mine else "—",
            help=f"{mine.samples:,} labels" if mine else "no labels yet",
        )
        auc = mine.roc_auc if mine else None
        e.metric("Live ROC-AUC (served)", f"{auc:.3f}" if auc is not None else "—")


def traffic(throughput: Throughput) -> None:
    """Predictions per minute."""
    if throughput.total == 0:
        st.info("No predictions in this window yet.")
        return
    st.altair_chart(charts.throughput_chart(throughput.series), width="stretch")


def scores(data: ScoreHistory) -> None:
    """Score distribution per time bucket."""
    if not data.buckets:
        st.info("No predictions in this window yet.")
        return
    st.altair_chart(charts.score_heatmap(data), width="stretch")
    st.caption(
        f"share of each bucket's rows per score bin ({data.bucket_minutes} min buckets; "
        f"the top bin holds every score ≥ {data.edges[-2]:.3f}); red line: median score"
    )


def drift(data: DriftReport, key: str) -> None:
    """PSI per feature, the score PSI, and one feature's distributions side by side."""
    if not data.available:
        st.info(f"No drift reference: {data.reason}")
        return
    score = data.score
    if data.rows == 0 or score is None or data.thresholds is None:
        st.info(f"No logged predictions of {data.model_version} in this window yet.")
        return
    a, b, c = st.columns(3)
    a.metric("Rows compared", f"{data.rows:,}")
    b.metric("Score PSI", f"{score.psi:.3f}", score.severity, delta_color="off")
    major = sum(1 for f in data.features if f.severity == "major")
    c.metric("Features with major drift", major)
    left, right = st.columns([2, 3])
    with left:
        top = data.features[:25]
        st.altair_chart(charts.drift_chart(top, data.thresholds), width="stretch")
        st.caption("PSI < 0.1 stable · 0.1–0.25 moderate · > 0.25 major (top 25 features)")
    with right:
        by_name = {f.feature: f for f in data.features}
        name = st.selectbox("Feature", list(by_name), key=key)
        feature = by_name[name]
        st.altair_chart(
            charts.distribution_compare_chart(feature.bins, feature.reference, feature.live),
            width="stretch",
        )
        st.caption(
            f"PSI {feature.psi:.3f} ({feature.severity}) · missing "
            f"{feature.missing_rate:.1%} live vs "
            f"{feature.reference_missing_rate:.1%} in training"
        )


def quality(data: LiveQuality) -> None:
    """Live quality per version, and F1 / ROC-AUC / Gini over label time or prediction time."""
    if not data.versions:
        st.info("No feedback in this window yet: send labels to POST /feedback.")
        return
    table = pd.DataFrame(
        [
            {
                "model_version": v.model_version,
                **v.model_dump(exclude={"model_version", "series", "by_prediction_time"}),
            }
            for v in data.versions
        ]
    )
    st.dataframe(table, hide_index=True, width="stretch")
    by: charts.QualityTime = st.radio(
        "Quality over",
        ["label", "prediction"],
        format_func=lambda t: f"{t} time",
        horizontal=True,
        key="quality-by",
        help="Label time: how the model looks as labels arrive. Prediction time: how good the "
        "predictions of each period turned out (recent periods fill in as labels arrive).",
    )
    left, middle, right = st.columns(3)
    left.altair_chart(charts.quality_chart(data.versions, "f1", by), width="stretch")
    middle.altair_chart(charts.quality_chart(data.versions, "roc_auc", by), width="stretch")
    right.altair_chart(charts.quality_chart(data.versions, "gini", by), width="stretch")


def latest(data: RecentPredictions) -> None:
    """The newest rows of the prediction log."""
    if not data.predictions:
        st.info("No predictions in this window yet.")
        return
    frame = pd.DataFrame([p.model_dump(by_alias=True) for p in data.predictions])
    frame["created_at"] = pd.to_datetime(frame["created_at"])
    columns = [
        "created_at",
        "model_version",
        "endpoint",
        "record_id",
        "score",
        "class",
        "threshold",
        "label",
        "latency_ms",
        "prediction_id",
    ]
    st.dataframe(
        frame[columns],
        hide_index=True,
        width="stretch",
        column_config={
            "created_at": st.column_config.DatetimeColumn("time", format="HH:mm:ss.SSS"),
            "score": st.column_config.NumberColumn(format="%.5f"),
            "latency_ms": st.column_config.NumberColumn("latency ms", format="%.1f"),
        },
    )


def score_range(threshold: float | None) -> float:
    """Upper end of the score histogram: three times the threshold, rounded up to 0.05
    (imbalanced problems score near 0, where a [0, 1] histogram shows one bar)."""
    if threshold is None:
        return 1.0
    return min(1.0, max(0.05, math.ceil(threshold * 3 * 20) / 20))


def render(
    client: ApiClient, window: str, version: str | None, served: str, threshold: float | None
) -> None:
    """Every section for ``window`` (a WINDOWS label) and ``version`` (None: all);
    ``threshold`` (of the served version) sets the score histogram's range."""
    minutes, score_bucket, quality_bucket = WINDOWS[window]
    throughput_minutes = min(minutes, 720)
    tp = section(
        "Traffic",
        lambda: client.throughput(minutes=throughput_minutes, model_version=version),
    )
    q = section(
        "Live quality",
        lambda: client.quality(
            minutes=minutes, bucket_minutes=quality_bucket, model_version=version
        ),
    )
    kpis(tp, q, served)
    st.subheader("Predictions per minute")
    if tp is not None:
        traffic(tp)
    st.subheader("Score distribution over time")
    sc = section(
        "Scores",
        lambda: client.scores(
            minutes=minutes,
            bucket_minutes=score_bucket,
            bins=20,
            high=score_range(threshold),
            model_version=version,
        ),
    )
    if sc is not None:
        scores(sc)
    st.subheader("Drift against the training reference")
    dr = section(
        "Drift",
        lambda: client.drift(minutes=minutes, limit=5000, model_version=version),
    )
    if dr is not None:
        drift(dr, key="drift-feature")
    st.subheader("Live quality from feedback")
    if q is not None:
        quality(q)
    st.subheader("Champion vs challenger")
    ch = section(
        "Champion vs challenger",
        lambda: client.challengers(minutes=minutes, bucket_minutes=quality_bucket),
    )
    if ch is not None:
        challengers.render(ch)
    st.subheader("Latest predictions")
    recent = section(
        "Latest predictions",
        lambda: client.predictions(minutes=minutes, limit=50, model_version=version),
    )
    if recent is not None:
        latest(recent)
