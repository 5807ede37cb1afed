"""The evaluation plots, each twice: a small PNG and the JSON data behind it.

The PNG is for anyone looking at the bundle; the JSON (``plots/<name>.json``) lets the UI redraw the
same plot interactively. Figures are drawn on :class:`matplotlib.figure.Figure` objects with the Agg
canvas, never through pyplot, so no global backend or figure state is touched.
"""

from __future__ import annotations

import io
import json

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from porto.contracts.insights import FeatureRanking
from porto.contracts.plots import (
    PLOTS,
    CalibrationPlot,
    ConfusionPlot,
    ImportancePlot,
    PrecisionRecallPlot,
    RocPlot,
    ScoreDistributionPlot,
    plot_file,
)
from porto.contracts.run import ClassificationMetrics, ConfusionMatrix
from pydantic import BaseModel
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve

#: Points kept per curve in the JSON (enough to redraw it smoothly, small enough to ship).
MAX_POINTS = 200
_FIGSIZE = (5.0, 3.6)
_DPI = 80
PLOT_NAMES = tuple(PLOTS)


def _thin(*arrays: np.ndarray) -> list[list[float]]:
    """Return the arrays cut to at most MAX_POINTS evenly spaced points (ends kept)."""
    n = len(arrays[0])
    idx = np.unique(np.linspace(0, n - 1, min(n, MAX_POINTS)).round().astype(int))
    return [[round(float(v), 6) for v in np.asarray(a)[idx]] for a in arrays]


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()


def _figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=_FIGSIZE, dpi=_DPI)
    return fig, fig.subplots()


def roc_plot(y: np.ndarray, p: np.ndarray, auc: float) -> tuple[RocPlot, bytes]:
    """Return the ROC curve's data and PNG."""
    fpr, tpr, _ = roc_curve(y, p)
    fpr_t, tpr_t = _thin(fpr, tpr)
    data = RocPlot(
        title="ROC curve",
        auc=auc,
        x_label="false positive rate",
        y_label="true positive rate",
        fpr=fpr_t,
        tpr=tpr_t,
    )
    fig, ax = _figure()
    ax.plot(fpr, tpr, label=f"model (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="chance")
    ax.set(xlabel=data.x_label, ylabel=data.y_label, title=data.title)
    ax.legend(loc="lower right")
    return data, _png(fig)


def pr_plot(y: np.ndarray, p: np.ndarray, pr_auc: float) -> tuple[PrecisionRecallPlot, bytes]:
    """Return the precision-recall curve's data and PNG."""
    precision, recall, _ = precision_recall_curve(y, p)
    recall_t, precision_t = _thin(recall, precision)
    base = float(np.mean(y))
    data = PrecisionRecallPlot(
        title="Precision-recall curve",
        average_precision=pr_auc,
        positive_rate=base,
        x_label="recall",
        y_label="precision",
        recall=recall_t,
        precision=precision_t,
    )
    fig, ax = _figure()
    ax.plot(recall, precision, label=f"model (AP {pr_auc:.3f})")
    ax.axhline(base, linestyle="--", color="grey", label=f"positive rate {base:.3f}")
    ax.set(xlabel="recall", ylabel="precision", title=data.title, ylim=(0, 1.02))
    ax.legend(loc="upper right")
    return data, _png(fig)


def confusion_plot(matrix: ConfusionMatrix, threshold: float) -> tuple[ConfusionPlot, bytes]:
    """Return the confusion matrix's data and PNG (rows: actual, columns: predicted)."""
    grid = [[matrix.tn, matrix.fp], [matrix.fn, matrix.tp]]
    data = ConfusionPlot(
        title=f"Confusion matrix at threshold {threshold:.4f}",
        threshold=threshold,
        labels=["0", "1"],
        matrix=grid,
        rows="actual",
        columns="predicted",
    )
    fig, ax = _figure()
    arr = np.asarray(grid, dtype="float64")
    ax.imshow(arr, cmap="Blues")
    for (i, j), value in np.ndenumerate(arr):
        colour = "white" if value > arr.max() / 2 else "black"
        ax.text(j, i, f"{int(value):,}", ha="center", va="center", color=colour)
    ax.set(
        xticks=[0, 1],
        yticks=[0, 1],
        xticklabels=["0", "1"],
        yticklabels=["0", "1"],
        xlabel="predicted",
        ylabel="actual",
        title=data.title,
    )
    return data, _png(fig)


def importance_plot(importance: FeatureRanking, top: int) -> tuple[ImportancePlot, bytes]:
    """Return the feature importance data (all features) and a PNG of the ``top`` ones."""
    values = importance.values
    names = list(values)
    data = ImportancePlot(
        title="Feature importance",
        method=importance.method,
        features=names,
        values=[values[n] for n in names],
    )
    shown = names[:top][::-1]
    fig = Figure(figsize=(_FIGSIZE[0], max(_FIGSIZE[1], 0.18 * len(shown) + 0.8)), dpi=_DPI)
    ax = fig.subplots()
    ax.barh(shown, [values[n] for n in shown])
    ax.set(title=f"Top {len(shown)} features", xlabel="importance")
    ax.tick_params(axis="y", labelsize=7)
    return data, _png(fig)


def calibration_plot(y: np.ndarray, p: np.ndarray, bins: int = 10) -> tuple[CalibrationPlot, bytes]:
    """Return the reliability curve (quantile bins) data and PNG."""
    observed, predicted = calibration_curve(y, p, n_bins=bins, strategy="quantile")
    data = CalibrationPlot(
        title="Calibration (quantile bins)",
        x_label="mean predicted probability",
        y_label="observed positive rate",
        mean_predicted=[float(v) for v in predicted],
        fraction_positive=[float(v) for v in observed],
    )
    fig, ax = _figure()
    top = float(max(predicted.max(initial=0), observed.max(initial=0))) * 1.1 or 1.0
    ax.plot([0, top], [0, top], "--", color="grey", label="perfect")
    ax.plot(predicted, observed, "o-", label="model")
    ax.set(xlabel=data.x_label, ylabel=data.y_label, title=data.title)
    ax.legend(loc="upper left")
    return data, _png(fig)


def score_plot(
    y: np.ndarray, p: np.ndarray, threshold: float, bins: int = 50
) -> tuple[ScoreDistributionPlot, bytes]:
    """Return the score histograms per class (densities on shared bins) and PNG."""
    hi = float(np.quantile(p, 0.999)) if len(p) else 1.0
    edges = np.linspace(0.0, max(hi, threshold, 1e-6) * 1.05, bins + 1)
    neg, _ = np.histogram(np.clip(p[y == 0], 0, edges[-1]), bins=edges, density=True)
    pos, _ = np.histogram(np.clip(p[y == 1], 0, edges[-1]), bins=edges, density=True)
    data = ScoreDistributionPlot(
        title="Score distribution by class",
        threshold=threshold,
        edges=[float(e) for e in edges],
        negative_density=[float(v) for v in neg],
        positive_density=[float(v) for v in pos],
    )
    fig, ax = _figure()
    ax.stairs(neg, edges, fill=True, alpha=0.5, label="target 0")
    ax.stairs(pos, edges, fill=True, alpha=0.5, label="target 1")
    ax.axvline(threshold, color="black", linestyle="--", label="threshold")
    ax.set(xlabel="score", ylabel="density", title=data.title)
    ax.legend(loc="upper right")
    return data, _png(fig)


def make_plots(
    y: np.ndarray,
    p: np.ndarray,
    metrics: ClassificationMetrics,
    importance: FeatureRanking,
    *,
    top_features: int = 20,
) -> dict[str, bytes]:
    """Return every plot as bundle files: ``plots/<name>.png`` and ``plots/<name>.json``."""
    y = np.asarray(y).astype("int64")
    p = np.asarray(p, dtype="float64")
    threshold = metrics.threshold
    made: dict[str, tuple[BaseModel, bytes]] = {
        "roc": roc_plot(y, p, metrics.roc_auc),
        "precision_recall": pr_plot(y, p, metrics.pr_auc),
        "confusion_matrix": confusion_plot(metrics.confusion_matrix, threshold),
        "feature_importance": importance_plot(importance, top_features),
        "calibration": calibration_plot(y, p),
        "score_distribution": score_plot(y, p, threshold),
    }
    files: dict[str, bytes] = {}
    for name, (data, png) in made.items():
        files[f"plots/{name}.png"] = png
        # json.dumps' compact separators, as the plot files have always been written.
        files[plot_file(name)] = json.dumps(data.model_dump(mode="json")).encode()
    return files
