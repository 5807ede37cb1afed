"""Plots: every one as a small PNG and as JSON data a UI can redraw."""

from __future__ import annotations

import json

import numpy as np
from porto.contracts.insights import FeatureRanking
from porto_training.evaluate import classification_metrics
from porto_training.plots import MAX_POINTS, PLOT_NAMES, make_plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_every_plot_is_a_small_png_and_json() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(5000) < 0.05).astype(int)
    p = np.clip(rng.normal(0.05 + 0.1 * y, 0.05), 0.0005, 0.9995)
    metrics = classification_metrics(y, p, 0.1)
    importance = FeatureRanking(method="test", values={f"f{i}": 30.0 - i for i in range(30)})
    files = make_plots(y, p, metrics, importance, top_features=10)
    assert set(files) == {f"plots/{n}.{ext}" for n in PLOT_NAMES for ext in ("png", "json")}
    for name in PLOT_NAMES:
        png = files[f"plots/{name}.png"]
        assert png.startswith(PNG_MAGIC)
        assert len(png) < 60_000, name  # small: bundles are downloaded by the UI
        data = json.loads(files[f"plots/{name}.json"])
        assert data["title"]
    roc = json.loads(files["plots/roc.json"])
    assert len(roc["fpr"]) == len(roc["tpr"]) <= MAX_POINTS
    assert roc["fpr"][0] == 0.0 and roc["tpr"][-1] == 1.0
    assert roc["auc"] == metrics.roc_auc
    cm = json.loads(files["plots/confusion_matrix.json"])
    assert sum(map(sum, cm["matrix"])) == len(y)
    imp = json.loads(files["plots/feature_importance.json"])
    assert len(imp["features"]) == 30  # all features in the data, the top ones in the PNG
    cal = json.loads(files["plots/calibration.json"])
    assert len(cal["mean_predicted"]) == len(cal["fraction_positive"]) > 0
    dist = json.loads(files["plots/score_distribution.json"])
    assert len(dist["edges"]) == len(dist["negative_density"]) + 1
