"""Interactive charts (Altair/Vega-Lite: hover, zoom) drawn from the bundle's JSON and the
monitoring API's answers.

The training job also renders PNGs; the UI redraws from ``plots/*.json`` instead, so curves of
several versions can be overlaid, tooltips show exact values, and the theme follows the UI's.
Every function takes plain data and returns a chart; none calls the API or Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import altair as alt
import pandas as pd
from porto.contracts.api import Explanation
from porto.contracts.insights import LearningCurve
from porto.contracts.monitoring import (
    FeatureDrift,
    PsiThresholds,
    QualityFigures,
    ScoreHistory,
    ThroughputMinute,
    VersionQuality,
)
from porto.contracts.plots import (
    CalibrationPlot,
    ConfusionPlot,
    PrecisionRecallPlot,
    RocPlot,
    ScoreDistributionPlot,
)

#: An Altair chart (Chart or LayerChart); Altair's builder methods are untyped, hence Any.
Chart = Any

#: Tooltip number format.
NUM = ".4f"
#: Colours of nominal series (versions, classes, sets): distinct hues, not one blue ramp.
SCHEME = alt.Scale(scheme="tableau10")


def _diagonal(x: str, y: str) -> Chart:
    line = pd.DataFrame({x: [0.0, 1.0], y: [0.0, 1.0]})
    return alt.Chart(line).mark_line(strokeDash=[4, 4], color="gray").encode(x=x, y=y)


def roc_chart(curves: Sequence[tuple[str, RocPlot]]) -> Chart:
    """ROC curves, each with its label, overlaid, with the chance diagonal."""
    rows = [
        {"model": f"{label} (AUC {c.auc:.3f})", "fpr": x, "tpr": y}
        for label, c in curves
        for x, y in zip(c.fpr, c.tpr, strict=False)
    ]
    lines = (
        alt.Chart(pd.DataFrame(rows))
        .mark_line()
        .encode(
            x=alt.X("fpr:Q", title="false positive rate", scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("tpr:Q", title="true positive rate", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color(
                "model:N",
                scale=SCHEME,
                legend=alt.Legend(orient="bottom", columns=1, labelLimit=400),
            ),
            tooltip=["model:N", alt.Tooltip("fpr:Q", format=NUM), alt.Tooltip("tpr:Q", format=NUM)],
        )
    )
    return (_diagonal("fpr", "tpr") + lines).interactive()


def pr_chart(data: PrecisionRecallPlot) -> Chart:
    """Precision-recall curve with the positive-rate baseline (``plots/precision_recall.json``)."""
    frame = pd.DataFrame({"recall": data.recall, "precision": data.precision})
    curve = (
        alt.Chart(frame)
        .mark_line()
        .encode(
            x=alt.X("recall:Q", scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("precision:Q", scale=alt.Scale(domain=[0, 1])),
            tooltip=[alt.Tooltip("recall:Q", format=NUM), alt.Tooltip("precision:Q", format=NUM)],
        )
    )
    base = data.positive_rate
    rule = (
        alt.Chart(pd.DataFrame({"baseline": [base]}))
        .mark_rule(strokeDash=[4, 4], color="gray")
        .encode(y="baseline:Q", tooltip=[alt.Tooltip("baseline:Q", format=NUM)])
    )
    return (curve + rule).interactive()


def confusion_chart(data: ConfusionPlot) -> Chart:
    """Confusion matrix heatmap with counts (``plots/confusion_matrix.json``)."""
    labels = data.labels
    rows = [
        {"actual": labels[i], "predicted": labels[j], "count": value}
        for i, row in enumerate(data.matrix)
        for j, value in enumerate(row)
    ]
    frame = pd.DataFrame(rows)
    base = alt.Chart(frame).encode(
        x=alt.X("predicted:N", title="predicted"), y=alt.Y("actual:N", title="actual")
    )
    heat = base.mark_rect().encode(
        color=alt.Color("count:Q", scale=alt.Scale(scheme="blues", type="symlog"), legend=None),
        tooltip=["actual:N", "predicted:N", "count:Q"],
    )
    text = base.mark_text(fontSize=16).encode(text="count:Q")
    return heat + text


def bar_chart(values: Mapping[str, float], *, title: str, top: int = 20) -> Chart:
    """Horizontal bars of the ``top`` largest values (importance, mean |SHAP|, PSI...)."""
    items = sorted(values.items(), key=lambda kv: abs(kv[1]), reverse=True)[:top]
    frame = pd.DataFrame(items, columns=["feature", "value"])
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("value:Q", title=title),
            y=alt.Y("feature:N", sort="-x", title=None),
            tooltip=["feature:N", alt.Tooltip("value:Q", format=NUM)],
        )
    )


def contribution_chart(explanation: Explanation, *, top: int = 15) -> Chart:
    """A waterfall of one prediction's explanation: from the base value, the ``top`` largest
    contributions (largest first, the rest as one bar) to the raw score, in log-odds; bars
    towards class 1 red, towards 0 blue."""
    items = sorted(explanation.contributions.items(), key=lambda kv: abs(kv[1]), reverse=True)
    shown, rest = items[:top], items[top:]
    if rest:
        shown.append((f"{len(rest)} other features", sum(v for _, v in rest)))
    rows = []
    level = explanation.base_value
    for step, (name, value) in enumerate(shown):
        rows.append(
            {
                "step": step,
                "feature": name,
                "start": level,
                "end": level + value,
                "contribution": value,
                "direction": "towards 1" if value >= 0 else "towards 0",
            }
        )
        level += value
    frame = pd.DataFrame(rows)
    order = [name for name, _ in shown]
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y("feature:N", sort=order, title=None),
            x=alt.X(
                "start:Q", title="log-odds (base value → raw score)", scale=alt.Scale(zero=False)
            ),
            x2="end:Q",
            color=alt.Color(
                "direction:N",
                scale=alt.Scale(domain=["towards 1", "towards 0"], range=["#d62728", "#1f77b4"]),
                legend=alt.Legend(title=None, orient="bottom"),
            ),
            tooltip=[
                "feature:N",
                alt.Tooltip("contribution:Q", format="+.4f"),
                alt.Tooltip("end:Q", title="running total", format=".4f"),
            ],
        )
    )
    base = (
        alt.Chart(pd.DataFrame({"x": [explanation.base_value], "label": ["base value"]}))
        .mark_rule(strokeDash=[4, 3], color="gray")
        .encode(x="x:Q", tooltip=["label:N", alt.Tooltip("x:Q", format=".4f")])
    )
    return bars + base


def calibration_chart(data: CalibrationPlot) -> Chart:
    """Observed positive rate against mean predicted probability per bin, with the diagonal."""
    frame = pd.DataFrame({"predicted": data.mean_predicted, "observed": data.fraction_positive})
    top = max(0.05, float(frame[["predicted", "observed"]].max().max()) * 1.1)
    points = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("predicted:Q", title="mean predicted probability"),
            y=alt.Y("observed:Q", title="observed positive rate"),
            tooltip=[alt.Tooltip("predicted:Q", format=NUM), alt.Tooltip("observed:Q", format=NUM)],
        )
    )
    diagonal = (
        alt.Chart(pd.DataFrame({"predicted": [0.0, top], "observed": [0.0, top]}))
        .mark_line(strokeDash=[4, 4], color="gray")
        .encode(x="predicted:Q", y="observed:Q")
    )
    return (diagonal + points).interactive()


def score_distribution_chart(data: ScoreDistributionPlot) -> Chart:
    """Score density by true class with the threshold (``plots/score_distribution.json``)."""
    edges = data.edges
    rows = []
    for cls, densities in (
        ("0 (negative)", data.negative_density),
        ("1 (positive)", data.positive_density),
    ):
        for i, density in enumerate(densities):
            rows.append({"class": cls, "score": (edges[i] + edges[i + 1]) / 2, "density": density})
    areas = (
        alt.Chart(pd.DataFrame(rows))
        .mark_area(opacity=0.45, interpolate="step")
        .encode(
            x=alt.X("score:Q", title="predicted probability"),
            y=alt.Y("density:Q", stack=None),
            color=alt.Color("class:N", scale=SCHEME),
            tooltip=["class:N", alt.Tooltip("score:Q", format=NUM), "density:Q"],
        )
    )
    return (areas + _threshold_rule(data.threshold)).interactive()


def _threshold_rule(threshold: float) -> Chart:
    return (
        alt.Chart(pd.DataFrame({"threshold": [threshold]}))
        .mark_rule(color="firebrick", strokeDash=[6, 3])
        .encode(x="threshold:Q", tooltip=[alt.Tooltip("threshold:Q", format=NUM)])
    )


def learning_curve_chart(data: LearningCurve) -> Chart:
    """Loss per boosting iteration for each evaluation set (``insights/learning_curve.json``)."""
    rows = [
        {"set": name, "iteration": i, "loss": value}
        for name, values in data.values.items()
        for i, value in enumerate(values)
    ]
    return (
        alt.Chart(pd.DataFrame(rows))
        .mark_line()
        .encode(
            x="iteration:Q",
            y=alt.Y("loss:Q", title=data.metric, scale=alt.Scale(zero=False)),
            color=alt.Color("set:N", scale=SCHEME),
            tooltip=["set:N", "iteration:Q", alt.Tooltip("loss:Q", format=NUM)],
        )
        .interactive()
    )


def histogram_chart(scores: Sequence[float], threshold: float, *, bins: int = 40) -> Chart:
    """Histogram of predicted probabilities with the model's threshold."""
    frame = pd.DataFrame({"probability": list(scores)})
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("probability:Q", bin=alt.Bin(maxbins=bins), title="predicted probability"),
            y=alt.Y("count():Q", title="rows"),
            tooltip=["count():Q"],
        )
    )
    return bars + _threshold_rule(threshold)


def metric_bars(rows: Sequence[tuple[str, Mapping[str, float]]], metrics: Sequence[str]) -> Chart:
    """Grouped bars of ``metrics`` per version (``rows``: version label, its metric values)."""
    long = [
        {"version": version, "metric": m, "value": values[m]}
        for version, values in rows
        for m in metrics
        if m in values
    ]
    return (
        alt.Chart(pd.DataFrame(long, columns=["version", "metric", "value"]))
        .mark_bar()
        .encode(
            x=alt.X("version:N", title=None, axis=alt.Axis(labelAngle=0, labelLimit=300)),
            xOffset="metric:N",
            y=alt.Y("value:Q"),
            color=alt.Color("metric:N", scale=SCHEME, legend=alt.Legend(orient="bottom")),
            tooltip=["version:N", "metric:N", alt.Tooltip("value:Q", format=NUM)],
        )
    )


# --- monitoring ------------------------------------------------------------------------------
def throughput_chart(series: Sequence[ThroughputMinute]) -> Chart:
    """Predictions per minute (bars) from /monitoring/throughput."""
    frame = pd.DataFrame(
        [(s.minute, s.predictions, s.positives) for s in series],
        columns=["minute", "predictions", "positives"],
    )
    frame["minute"] = pd.to_datetime(frame["minute"])
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("minute:T", title=None),
            y=alt.Y("predictions:Q", title="predictions / minute"),
            tooltip=[alt.Tooltip("minute:T", format="%H:%M"), "predictions:Q", "positives:Q"],
        )
    )


def score_heatmap(data: ScoreHistory) -> Chart:
    """Score histogram per time bucket (heatmap) with the median, from /monitoring/scores
    (its bins span [0, high]; the top bin also holds the scores above)."""
    edges = data.edges
    high = data.high
    rows = []
    for bucket in data.buckets:
        total = max(1, bucket.count)
        for i, n in enumerate(bucket.histogram):
            rows.append(
                {
                    "start": bucket.start,
                    "low": edges[i],
                    "high": edges[i + 1],
                    "share": n / total,
                    "rows": n,
                }
            )
    frame = pd.DataFrame(rows, columns=["start", "low", "high", "share", "rows"])
    frame["start"] = pd.to_datetime(frame["start"])
    frame["end"] = frame["start"] + pd.Timedelta(minutes=data.bucket_minutes)
    # The whole window on the time axis, so a quiet stretch shows as a gap.
    since = pd.Timestamp(data.since) if data.since else frame["start"].min()
    until = since + pd.Timedelta(minutes=data.minutes)
    domain = [since.isoformat(), until.isoformat()] if pd.notna(since) else None
    time_scale = alt.Scale(domain=domain) if domain else alt.Scale()
    heat = (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            x=alt.X("start:T", title=None, scale=time_scale),
            x2="end:T",
            y=alt.Y("low:Q", title="predicted probability", scale=alt.Scale(domain=[0, high])),
            y2="high:Q",
            color=alt.Color("share:Q", scale=alt.Scale(scheme="viridis"), title="share"),
            tooltip=[
                alt.Tooltip("start:T", format="%H:%M"),
                alt.Tooltip("low:Q", format=".2f"),
                alt.Tooltip("high:Q", format=".2f"),
                "rows:Q",
                alt.Tooltip("share:Q", format=".1%"),
            ],
        )
    )
    quantiles = pd.DataFrame(
        [(b.start, b.p10, b.p50, b.p90) for b in data.buckets],
        columns=["start", "p10", "p50", "p90"],
    )
    # the median at the middle of its bucket
    quantiles["start"] = pd.to_datetime(quantiles["start"]) + pd.Timedelta(
        minutes=data.bucket_minutes / 2
    )
    median = (
        alt.Chart(quantiles)
        .mark_line(color="#ff4b4b", point=alt.OverlayMarkDef(color="#ff4b4b"), clip=True)
        .encode(
            x="start:T",
            y=alt.Y("p50:Q", scale=alt.Scale(domain=[0, high])),
            tooltip=[
                alt.Tooltip("start:T", format="%H:%M"),
                alt.Tooltip("p10:Q", format=NUM),
                alt.Tooltip("p50:Q", format=NUM),
                alt.Tooltip("p90:Q", format=NUM),
            ],
        )
    )
    return heat + median


def drift_chart(features: Sequence[FeatureDrift], thresholds: PsiThresholds) -> Chart:
    """PSI per feature, worst first, coloured by severity, with the 0.1 / 0.25 rules."""
    frame = pd.DataFrame(
        [(f.feature, f.psi, f.severity) for f in features], columns=["feature", "psi", "severity"]
    )
    scale = alt.Scale(
        domain=["stable", "moderate", "major"], range=["#4c78a8", "#f58518", "#e45756"]
    )
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("psi:Q", title="PSI"),
            y=alt.Y("feature:N", sort="-x", title=None),
            color=alt.Color("severity:N", scale=scale),
            tooltip=["feature:N", alt.Tooltip("psi:Q", format=NUM), "severity:N"],
        )
    )
    rules = (
        alt.Chart(pd.DataFrame({"psi": [thresholds.moderate, thresholds.major]}))
        .mark_rule(strokeDash=[4, 4], color="gray")
        .encode(x="psi:Q")
    )
    return bars + rules


def distribution_compare_chart(bins: list[str], reference: list[float], live: list[float]) -> Chart:
    """One feature's bins: training reference against live traffic (shares)."""
    rows = [
        {"bin": b, "order": i, "source": source, "share": value}
        for source, values in (("training", reference), ("live", live))
        for i, (b, value) in enumerate(zip(bins, values, strict=False))
    ]
    return (
        alt.Chart(pd.DataFrame(rows))
        .mark_bar()
        .encode(
            x=alt.X("bin:N", sort=alt.SortField("order"), title=None),
            xOffset="source:N",
            y=alt.Y("share:Q", axis=alt.Axis(format="%")),
            color=alt.Color("source:N", scale=SCHEME),
            tooltip=["bin:N", "source:N", alt.Tooltip("share:Q", format=".2%")],
        )
    )


#: The live quality figures drawn over time.
QualityMetric = Literal["f1", "roc_auc", "gini"]
QualityTime = Literal["label", "prediction"]


def _figure(q: QualityFigures, metric: QualityMetric) -> float | None:
    value: float | None = getattr(q, metric)
    return value


def quality_chart(
    versions: Sequence[VersionQuality], metric: QualityMetric, by: QualityTime = "label"
) -> Chart:
    """``metric`` per time bucket (label time, or when the predictions were made) and version,
    from /monitoring/quality, with the number of labels behind each point."""
    rows = [
        {"version": v.model_version, "start": s.start, metric: value, "labels": s.samples}
        for v in versions
        for s in (v.series if by == "label" else v.by_prediction_time)
        if (value := _figure(s, metric)) is not None
    ]
    frame = pd.DataFrame(rows, columns=["version", "start", metric, "labels"])
    frame["start"] = pd.to_datetime(frame["start"])
    return (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("start:T", title=f"{by} time"),
            y=alt.Y(f"{metric}:Q", scale=alt.Scale(domain=[-1 if metric == "gini" else 0, 1])),
            color="version:N",
            tooltip=[
                "version:N",
                alt.Tooltip("start:T"),
                alt.Tooltip(f"{metric}:Q", format=NUM),
                "labels:Q",
            ],
        )
    )
