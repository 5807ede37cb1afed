"""Every chart builds a valid Vega-Lite spec from the shapes the bundle and the API give."""

from __future__ import annotations

from typing import Any

from porto_ui import charts, comparison


def _spec(chart: Any) -> dict[str, Any]:
    spec: dict[str, Any] = chart.to_dict()
    assert "$schema" in spec
    return spec


def test_training_charts() -> None:
    roc = {"fpr": [0, 0.5, 1], "tpr": [0, 0.7, 1], "auc": 0.6}
    _spec(charts.roc_chart([{"label": "a", **roc}, {"label": "b", **roc}]))
    _spec(
        charts.pr_chart({"recall": [1, 0.5, 0], "precision": [0.1, 0.2, 1], "positive_rate": 0.04})
    )
    _spec(charts.confusion_chart({"labels": ["0", "1"], "matrix": [[90, 5], [3, 2]]}))
    _spec(charts.bar_chart({"a": 1.0, "b": -2.0}, title="importance"))
    _spec(charts.calibration_chart({"mean_predicted": [0.1, 0.2], "fraction_positive": [0.1, 0.3]}))
    _spec(
        charts.score_distribution_chart(
            {
                "edges": [0, 0.5, 1],
                "negative_density": [1, 0],
                "positive_density": [0, 1],
                "threshold": 0.5,
            }
        )
    )
    _spec(charts.learning_curve_chart({"metric": "Logloss", "values": {"learn": [0.5, 0.4]}}))
    _spec(charts.histogram_chart([0.1, 0.2, 0.3], 0.2))


def test_monitoring_charts() -> None:
    _spec(
        charts.throughput_chart(
            [{"minute": "2026-01-01T10:00:00+00:00", "predictions": 3, "positives": 1}]
        )
    )
    buckets = [
        {
            "start": "2026-01-01T10:00:00+00:00",
            "count": 3,
            "histogram": [2, 1],
            "p10": 0.1,
            "p50": 0.2,
            "p90": 0.3,
        },
    ]
    _spec(charts.score_heatmap({"edges": [0, 0.1, 0.2], "high": 0.2, "buckets": buckets}))
    _spec(charts.score_heatmap({"edges": [0, 0.5, 1], "buckets": []}))
    features = [{"feature": "a", "psi": 0.3, "severity": "major"}]
    _spec(charts.drift_chart(features, {"moderate": 0.1, "major": 0.25}))
    _spec(charts.distribution_compare_chart(["x", "other", "missing"], [0.5, 0.5, 0], [1, 0, 0]))
    series = [{"start": "2026-01-01T10:00:00+00:00", "f1": 0.3, "roc_auc": None, "samples": 9}]
    _spec(charts.quality_chart([{"model_version": "v", "series": series}], "roc_auc"))
    _spec(charts.quality_chart([{"model_version": "v", "series": series}], "f1"))


def test_comparison_table_and_bars() -> None:
    versions: list[dict[str, Any]] = [
        {
            "version": "v1",
            "model_type": "sklearn",
            "metrics": {"roc_auc": 0.6, "log_loss": 0.2, "validation": {"roc_auc": 0.61}},
        },
        {
            "version": "v2",
            "model_type": "catboost",
            "metrics": {"roc_auc": 0.7, "log_loss": 0.1},
            "aliases": ["champion", "latest"],
        },
    ]
    options = comparison.metric_options(versions)
    assert options[:2] == ["roc_auc", "log_loss"]
    assert "validation.roc_auc" in options
    table = comparison.comparison_table(
        versions, "v2", ["roc_auc", "validation.roc_auc"], ["model type", "aliases"]
    )
    assert list(table["version"]) == ["v2", "v1"]
    assert list(table["champion"]) == ["★", ""]
    assert table["validation.roc_auc"].isna().tolist() == [True, False]
    html = comparison.styled(table, ["roc_auc", "validation.roc_auc"]).to_html()
    assert "—" in html  # absent metric
    rows = [{"version": v["version"], **comparison.flat_metrics(v["metrics"])} for v in versions]
    _spec(charts.metric_bars(rows, ["roc_auc", "gini_normalized"]))
