"""The data behind each evaluation plot, ``plots/<name>.json`` of a bundle: the training job draws
a PNG from it and writes it, the UI redraws it interactively."""

from __future__ import annotations

from pydantic import BaseModel, Field


def plot_file(name: str) -> str:
    """Return the bundle file of plot ``name``'s data (its PNG has the same stem)."""
    return f"plots/{name}.json"


class PlotData(BaseModel):
    """What every plot's data starts with (the first key of each file)."""

    title: str


class RocPlot(PlotData):
    """``plots/roc.json``: the ROC curve, thinned."""

    auc: float
    x_label: str
    y_label: str
    fpr: list[float]
    tpr: list[float]


class PrecisionRecallPlot(PlotData):
    """``plots/precision_recall.json``: the precision-recall curve, thinned, and its baseline."""

    average_precision: float
    positive_rate: float = Field(description="The curve of a random ranking.")
    x_label: str
    y_label: str
    recall: list[float]
    precision: list[float]


class ConfusionPlot(PlotData):
    """``plots/confusion_matrix.json``: counts, rows actual, columns predicted."""

    threshold: float
    labels: list[str]
    matrix: list[list[int]]
    rows: str
    columns: str


class ImportancePlot(PlotData):
    """``plots/feature_importance.json``: every feature's importance, largest first."""

    method: str
    features: list[str]
    values: list[float]


class CalibrationPlot(PlotData):
    """``plots/calibration.json``: observed positive rate per bin of predicted probability."""

    x_label: str
    y_label: str
    mean_predicted: list[float]
    fraction_positive: list[float]


class ScoreDistributionPlot(PlotData):
    """``plots/score_distribution.json``: score densities per class on shared bins."""

    threshold: float
    edges: list[float]
    negative_density: list[float]
    positive_density: list[float]


#: Every plot, as (name, its data's model), in the order the job draws them.
PLOTS: dict[str, type[PlotData]] = {
    "roc": RocPlot,
    "precision_recall": PrecisionRecallPlot,
    "confusion_matrix": ConfusionPlot,
    "feature_importance": ImportancePlot,
    "calibration": CalibrationPlot,
    "score_distribution": ScoreDistributionPlot,
}
