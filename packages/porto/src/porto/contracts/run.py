"""The metrics of one training run: what the training job writes to ``metrics.json`` and the
manifest's ``metrics``, and what the CLI, the champion comparison and the UI read back.

Field order is the key order of the JSON the job has always written (bundles already published
are read by this same model; keys this model does not know are ignored on read).
"""

from __future__ import annotations

from pydantic import BaseModel, Field, JsonValue

#: The bundle file that holds the run's metrics (the same object as the manifest's ``metrics``).
METRICS_FILE = "metrics.json"


def _absent(value: object) -> bool:
    """Optional figures are left out of the JSON rather than written as null."""
    return value is None


class ConfusionMatrix(BaseModel):
    """Counts at the decision threshold."""

    tn: int
    fp: int
    fn: int
    tp: int


class ClassificationMetrics(BaseModel):
    """Ranking, probability and thresholded metrics of scores against labels."""

    roc_auc: float
    gini_normalized: float = Field(description="Normalised Gini (Porto Seguro's metric).")
    pr_auc: float = Field(description="Average precision (step-wise area under the PR curve).")
    log_loss: float
    brier: float
    threshold: float
    f1: float
    precision: float
    recall: float
    confusion_matrix: ConfusionMatrix
    rows: int
    positives: int
    positive_rate: float
    mean_score: float


class ValidationMetrics(BaseModel):
    """The few metrics of the validation rows (those that chose the threshold)."""

    roc_auc: float
    log_loss: float
    f1: float
    rows: int

    @classmethod
    def of(cls, metrics: ClassificationMetrics) -> ValidationMetrics:
        """Return the validation figures kept from the full metrics of the validation rows."""
        return cls.model_validate(metrics.model_dump(include=set(cls.model_fields)))


class ClassBalance(BaseModel):
    """Rows and positives of one part of the data."""

    rows: int
    positives: int
    positive_rate: float

    @classmethod
    def of(cls, rows: int, positives: int) -> ClassBalance:
        """Return the balance of ``positives`` out of ``rows`` (rate 0 for no rows)."""
        return cls(rows=rows, positives=positives, positive_rate=positives / rows if rows else 0.0)


class SplitBalance(BaseModel):
    """The class balance of the whole dataset and of each part of the split."""

    all: ClassBalance
    train: ClassBalance
    validation: ClassBalance
    test: ClassBalance


class SplitSizes(BaseModel):
    """Rows per part of the split."""

    train: int
    validation: int
    test: int


class FeatureKindCounts(BaseModel):
    """Features per kind."""

    numeric: int
    binary: int
    categorical: int


class SearchTrial(BaseModel):
    """One hyperparameter candidate and its cross-validated ROC-AUC."""

    params: dict[str, JsonValue]
    mean_auc: float
    std_auc: float


class SearchSummary(BaseModel):
    """The random search's outcome (present when the run searched)."""

    best_mean_cv_auc: float
    trials: list[SearchTrial]


class ChampionDecision(BaseModel):
    """How the new version compared with the champion on this run's test rows, and the verdict."""

    challenger_auc: float
    champion_version: str | None = None
    champion_auc: float | None = None
    challenger_wins: bool | None = Field(
        default=None, description="None when there is no champion or it could not be scored."
    )
    note: str = ""
    promoted: bool
    reason: str


class _Holdout(BaseModel):
    """Which rows the top-level metrics describe: the first key of the JSON."""

    holdout: str = "test"


# Base order matters: pydantic lays fields out base-last-first, so ``holdout`` comes first, then
# the test metrics, then the run's context, as in the JSON written since the first bundle.
class RunMetrics(ClassificationMetrics, _Holdout):
    """A training run's metrics: the test holdout's at the top level, then the run's context."""

    validation: ValidationMetrics
    class_balance: SplitBalance
    split: SplitSizes
    features: int
    features_by_kind: FeatureKindCounts
    iterations: int | None = Field(
        description="Boosting iterations kept, or the solver's iterations (null if unknown)."
    )
    model_params: dict[str, JsonValue] = Field(
        description="The parameters the model was fitted with, after any search."
    )
    oracle_roc_auc: float | None = Field(
        default=None,
        exclude_if=_absent,
        description="Synthetic data only: the AUC of the true probabilities (the best possible).",
    )
    training_seconds: float
    search: SearchSummary | None = Field(default=None, exclude_if=_absent)
    champion_comparison: ChampionDecision
    stage_seconds: dict[str, float]
    total_seconds: float
