"""What a bundle's ``insights/*.json`` hold: per-feature rankings (importance, mean |SHAP|,
mutual information) and the learning curve, written by the training job and drawn by the UI."""

from __future__ import annotations

from pydantic import BaseModel, Field

#: Bundle file of each insight.
IMPORTANCE_FILE = "insights/feature_importance.json"
SHAP_FILE = "insights/shap.json"
MUTUAL_INFO_FILE = "insights/mutual_info.json"
LEARNING_CURVE_FILE = "insights/learning_curve.json"


class FeatureRanking(BaseModel):
    """One value per feature, largest first, and how it was computed."""

    method: str = Field(description="What the values are, e.g. 'catboost ShapValues, mean |SHAP|'.")
    rows: int | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="Rows the values were computed on, when they come from a sample.",
    )
    values: dict[str, float] = Field(description="Feature → value, in decreasing order.")


class LearningCurve(BaseModel):
    """The loss per boosting iteration of each evaluation set (``learn``, ``validation``...)."""

    metric: str
    values: dict[str, list[float]]
