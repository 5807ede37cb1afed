"""Holdout metrics of a binary classifier, and the decision threshold.

The threshold is chosen on validation rows (the one that maximises F1) and then applied, unchanged,
to the test rows, so the reported F1/precision/recall are not tuned on the rows they describe.
"""

from __future__ import annotations

import numpy as np
from porto.contracts.run import ClassificationMetrics, ConfusionMatrix
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)


def normalized_gini(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Return the normalised Gini coefficient (Porto Seguro's competition metric).

    Computed the competition's way, from the cumulative share of positives when rows are sorted
    by descending score, divided by the same for a perfect ranking. It equals 2·AUC − 1 up to the
    handling of tied scores.
    """
    y = np.asarray(y_true, dtype="float64")
    s = np.asarray(scores, dtype="float64")

    def gini(ranking: np.ndarray) -> float:
        # Stable sort on -score keeps ties in their original order, as the Kaggle kernel did.
        order = np.lexsort((np.arange(len(y)), -ranking))
        cum = np.cumsum(y[order]) / y.sum()
        return float(cum.sum() / len(y) - (len(y) + 1) / (2 * len(y)))

    return gini(s) / gini(y)


def choose_threshold(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Return the score threshold that maximises F1 on ``(y_true, scores)``.

    A row is predicted positive when its score is >= the threshold.
    """
    precision, recall, thresholds = precision_recall_curve(y_true, scores)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.argmax(f1[:-1])) if len(thresholds) else 0
    return float(thresholds[best]) if len(thresholds) else 0.5


def classification_metrics(
    y_true: np.ndarray, scores: np.ndarray, threshold: float
) -> ClassificationMetrics:
    """Return ranking, probability and thresholded metrics of ``scores`` against ``y_true``.

    ``pr_auc`` is the average precision (the step-wise area under the precision-recall curve).
    """
    y = np.asarray(y_true).astype("int64")
    p = np.clip(np.asarray(scores, dtype="float64"), 1e-15, 1 - 1e-15)
    predicted = (p >= threshold).astype("int64")
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y, predicted, labels=[0, 1]).ravel())
    auc = float(roc_auc_score(y, p))
    return ClassificationMetrics(
        roc_auc=auc,
        gini_normalized=normalized_gini(y, p),
        pr_auc=float(average_precision_score(y, p)),
        log_loss=float(log_loss(y, p, labels=[0, 1])),
        brier=float(brier_score_loss(y, p)),
        threshold=float(threshold),
        f1=float(f1_score(y, predicted, zero_division=0)),
        precision=float(precision_score(y, predicted, zero_division=0)),
        recall=float(recall_score(y, predicted, zero_division=0)),
        confusion_matrix=ConfusionMatrix(tn=tn, fp=fp, fn=fn, tp=tp),
        rows=len(y),
        positives=int(y.sum()),
        positive_rate=float(y.mean()) if len(y) else 0.0,
        mean_score=float(p.mean()) if len(p) else 0.0,
    )
