"""Every chart builds a valid Vega-Lite spec from the shapes the bundle and the API give."""

from __future__ import annotations

import pytest
from porto.contracts.api import Explanation, VersionSummary
from porto.contracts.insights import LearningCurve
from porto.contracts.monitoring import (
    ChallengerReport,
    FeatureDrift,
    ModelFigures,
    PairedBucket,
    PromotionSuggestion,
    PsiThresholds,
    ScoreBucket,
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
from porto_ui import challengers, charts, comparison


def _spec(chart: charts.Chart) -> None:
    """The chart compiles to a Vega-Lite spec."""
    assert "$schema" in chart.to_dict()


def test_training_charts() -> None:
    roc = RocPlot(
        title="ROC curve", auc=0.6, x_label="", y_label="", fpr=[0, 0.5, 1], tpr=[0, 0.7, 1]
    )
    _spec(charts.roc_chart([("a", roc), ("b", roc)]))
    _spec(
        charts.pr_chart(
            PrecisionRecallPlot(
                title="PR",
                average_precision=0.1,
                positive_rate=0.04,
                x_label="recall",
                y_label="precision",
                recall=[1, 0.5, 0],
                precision=[0.1, 0.2, 1],
            )
        )
    )
    _spec(
        charts.confusion_chart(
            ConfusionPlot(
                title="CM",
                threshold=0.5,
                labels=["0", "1"],
                matrix=[[90, 5], [3, 2]],
                rows="actual",
                columns="predicted",
            )
        )
    )
    _spec(charts.bar_chart({"a": 1.0, "b": -2.0}, title="importance"))
    _spec(
        charts.calibration_chart(
            CalibrationPlot(
                title="Calibration",
                x_label="",
                y_label="",
                mean_predicted=[0.1, 0.2],
                fraction_positive=[0.1, 0.3],
            )
        )
    )
    _spec(
        charts.score_distribution_chart(
            ScoreDistributionPlot(
                title="Scores",
                edges=[0, 0.5, 1],
                negative_density=[1, 0],
                positive_density=[0, 1],
                threshold=0.5,
            )
        )
    )
    _spec(
        charts.learning_curve_chart(LearningCurve(metric="Logloss", values={"learn": [0.5, 0.4]}))
    )
    _spec(charts.histogram_chart([0.1, 0.2, 0.3], 0.2))


def test_monitoring_charts() -> None:
    minute = {"minute": "2026-01-01T10:00:00+00:00", "predictions": 3, "positives": 1}
    _spec(
        charts.throughput_chart(
            [ThroughputMinute.model_validate({**minute, "mean_score": 0.1, "p95_latency_ms": 2})]
        )
    )
    bucket = ScoreBucket(
        start="2026-01-01T10:00:00+00:00",
        count=3,
        mean=0.2,
        histogram=[2, 1],
        p10=0.1,
        p50=0.2,
        p90=0.3,
    )
    window = {"minutes": 60, "bucket_minutes": 5, "since": None, "model_version": None}
    _spec(
        charts.score_heatmap(
            ScoreHistory.model_validate(
                {**window, "edges": [0, 0.1, 0.2], "high": 0.2, "buckets": [bucket]}
            )
        )
    )
    _spec(
        charts.score_heatmap(
            ScoreHistory.model_validate({**window, "edges": [0, 0.5, 1], "high": 1, "buckets": []})
        )
    )
    feature = FeatureDrift(
        feature="a",
        kind="numeric",
        psi=0.3,
        severity="major",
        bins=["x", "other", "missing"],
        reference=[0.5, 0.5, 0],
        live=[1, 0, 0],
        missing_rate=0,
        reference_missing_rate=0,
    )
    _spec(charts.drift_chart([feature], PsiThresholds(moderate=0.1, major=0.25)))
    _spec(charts.distribution_compare_chart(["x", "other", "missing"], [0.5, 0.5, 0], [1, 0, 0]))
    figures = {"samples": 9, "positives": 2, "f1": 0.3, "precision": 0.3, "recall": 0.3}
    series = [{"start": "2026-01-01T10:00:00+00:00", "roc_auc": None, **figures}]
    version = VersionQuality.model_validate(
        {"model_version": "v", "roc_auc": None, **figures, "series": series}
    )
    _spec(charts.quality_chart([version], "roc_auc"))
    _spec(charts.quality_chart([version], "f1"))
    labelled = {**figures, "roc_auc": 0.75, "gini": 0.5}
    both = VersionQuality.model_validate(
        {
            "model_version": "v",
            **labelled,
            "series": [{"start": "2026-01-01T10:00:00+00:00", **labelled}],
            "by_prediction_time": [{"start": "2026-01-01T08:00:00+00:00", **labelled}],
        }
    )
    for by in ("label", "prediction"):
        chart = charts.quality_chart([both], "gini", by)
        _spec(chart)
        spec = chart.to_dict()
        (rows,) = spec["datasets"].values()
        assert [r["start"][11:16] for r in rows] == ["10:00" if by == "label" else "08:00"]
        assert rows[0]["gini"] == 0.5 and spec["encoding"]["x"]["title"] == f"{by} time"


def _version(version: str, metrics: dict[str, object], aliases: list[str]) -> VersionSummary:
    return VersionSummary(
        version=version,
        created_at="2026-01-01T10:00:00+00:00",
        model_type="catboost",
        threshold=0.1,
        metrics=metrics,
        aliases=aliases,
        features=3,
        dataset_rows=100,
        schema_url=f"/models/{version}/schema",
    )


def test_comparison_table_and_bars() -> None:
    versions = [
        _version("v1", {"roc_auc": 0.6, "log_loss": 0.2, "validation": {"roc_auc": 0.61}}, []),
        _version("v2", {"roc_auc": 0.7, "log_loss": 0.1}, ["champion", "latest"]),
    ]
    options = comparison.metric_options(versions)
    assert options[:2] == ["roc_auc", "log_loss"]
    assert "validation.roc_auc" in options
    table = comparison.comparison_table(
        versions, "v2", ["roc_auc", "validation.roc_auc"], ["model type", "aliases"]
    )
    assert list(table["version"]) == ["v2", "v1"]
    assert list(table["champion"]) == ["★", ""]
    assert list(table["aliases"]) == ["champion, latest", ""]
    assert table["validation.roc_auc"].isna().tolist() == [True, False]
    html = comparison.styled(table, ["roc_auc", "validation.roc_auc"]).to_html()
    assert "—" in html  # absent metric
    rows = [(v.version, comparison.flat_metrics(v.metrics)) for v in versions]
    _spec(charts.metric_bars(rows, ["roc_auc", "gini_normalized"]))


def test_contribution_waterfall() -> None:
    contributions = {f"f{i}": (-1) ** i * i / 10 for i in range(20)}
    explanation = Explanation(
        base_value=-2.0, raw_score=-2.0 + sum(contributions.values()), contributions=contributions
    )
    chart = charts.contribution_chart(explanation, top=5)
    _spec(chart)
    rows = next(v for v in chart.to_dict()["datasets"].values() if v and "feature" in v[0])
    # The five largest by size, then the rest as one bar, ending at the raw score.
    assert [r["feature"] for r in rows] == ["f19", "f18", "f17", "f16", "f15", "15 other features"]
    assert rows[0]["start"] == -2.0
    assert rows[-1]["end"] == pytest.approx(explanation.raw_score)
    assert {r["direction"] for r in rows} == {"towards 1", "towards 0"}


def _challenger_report() -> ChallengerReport:
    def figures(auc: float, n: int) -> ModelFigures:
        return ModelFigures(
            samples=n,
            positives=n // 4,
            f1=0.3,
            precision=0.4,
            recall=0.25,
            roc_auc=auc,
            gini=2 * auc - 1,
            brier=0.1,
            ece=0.05,
            mean_score=0.2,
            positive_rate=0.25,
        )

    series = [
        PairedBucket(
            start=f"2026-01-01T0{h}:00:00+00:00",
            labels=40,
            champion=figures(0.6, 40),
            challenger=figures(0.7, 40),
        )
        for h in range(3)
    ]
    return ChallengerReport(
        model_version="v2",
        champion_versions=["v1"],
        labels=120,
        champion=figures(0.6, 120),
        challenger=figures(0.7, 120),
        series=series,
        promotion=PromotionSuggestion(
            promote=True,
            reason="promote v2: ...",
            auc_gain=0.1,
            labels=120,
            min_labels=100,
            min_auc_gain=0.01,
            how="POST /models/v2/promote",
        ),
    )


def test_champion_against_challenger_charts() -> None:
    report = _challenger_report()
    for figure in challengers.FIGURES:
        spec = challengers.comparison_chart(report, figure).to_dict()
        rows = next(iter(spec["datasets"].values()))
        assert len(rows) == 6  # three buckets, two models
        assert {r["model"] for r in rows} == {"champion", "challenger"}
        assert {r["labels"] for r in rows} == {40}
    gini = challengers.comparison_chart(report, "gini").to_dict()
    assert gini["encoding"]["y"]["scale"]["domain"] == [-1, 1]
    bars = next(iter(challengers.labels_chart(report).to_dict()["datasets"].values()))
    assert [b["labels"] for b in bars] == [40, 40, 40]
    table = challengers.figures_table(report)
    assert list(table["model"]) == ["champion (v1)", "challenger (v2)"]
    assert list(table["roc_auc"]) == [0.6, 0.7]


def _render_comparison(configured: bool, reports: bool) -> None:
    from porto.contracts.monitoring import ChallengerComparison
    from porto.contracts.serving import ChallengerState
    from porto_ui import challengers

    from ui.test_charts import _challenger_report

    states = [ChallengerState(ref="challenger", version=None, loaded=False, canary=False)]
    challengers.render(
        ChallengerComparison(
            minutes=60,
            bucket_minutes=10,
            limit=10_000,
            shadow_share=1.0,
            canary_share=0.0,
            configured=states if configured else [],
            challengers=[_challenger_report()] if reports else [],
        )
    )


@pytest.mark.parametrize(
    ("configured", "reports", "said"),
    [
        (False, False, "No challengers configured"),
        (True, False, "No labelled predictions a challenger scored"),
        (True, True, "**v2**: promote v2"),
    ],
)
def test_the_comparison_section_says_what_there_is(
    configured: bool, reports: bool, said: str
) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(
        _render_comparison, kwargs={"configured": configured, "reports": reports}
    )
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = "\n".join(
        str(e.value) for kind in ("info", "success", "warning") for e in getattr(at, kind)
    )
    assert said in shown
    if configured:
        assert "Challenger `challenger` is skipped: not loaded yet" in shown
