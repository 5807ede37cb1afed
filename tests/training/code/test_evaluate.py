"""Metrics against scikit-learn and hand-checked values, and the max-F1 threshold."""

from __future__ import annotations

import numpy as np
import pytest
from porto.contracts.run import ConfusionMatrix
from porto_training.evaluate import choose_threshold, classification_metrics, normalized_gini
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    roc_auc_score,
)


@pytest.fixture
def scored() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = (rng.random(3000) < 0.1).astype(int)
    p = np.clip(rng.normal(0.1 + 0.2 * y, 0.1), 0.001, 0.999)  # continuous: no ties
    return y, p


def test_metrics_match_sklearn(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = scored
    m = classification_metrics(y, p, threshold=0.2)
    assert m.roc_auc == pytest.approx(roc_auc_score(y, p))
    assert m.pr_auc == pytest.approx(average_precision_score(y, p))
    assert m.log_loss == pytest.approx(log_loss(y, p))
    assert m.brier == pytest.approx(brier_score_loss(y, p))
    predicted = (p >= 0.2).astype(int)
    assert m.f1 == pytest.approx(f1_score(y, predicted))
    cm = m.confusion_matrix
    assert cm.tp == int(((predicted == 1) & (y == 1)).sum())
    assert cm.fp == int(((predicted == 1) & (y == 0)).sum())
    assert cm.fn == int(((predicted == 0) & (y == 1)).sum())
    assert cm.tn == int(((predicted == 0) & (y == 0)).sum())
    assert sum(cm.model_dump().values()) == m.rows == len(y)
    assert m.positives == int(y.sum())
    assert m.positive_rate == pytest.approx(y.mean())


def test_known_small_example() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    m = classification_metrics(y, p, threshold=0.35)
    assert m.roc_auc == pytest.approx(0.75)
    assert m.gini_normalized == pytest.approx(0.5)
    assert m.confusion_matrix == ConfusionMatrix(tn=1, fp=1, fn=0, tp=2)
    assert m.precision == pytest.approx(2 / 3)
    assert m.recall == pytest.approx(1.0)


def test_normalized_gini_is_2auc_minus_1_without_ties(
    scored: tuple[np.ndarray, np.ndarray],
) -> None:
    y, p = scored
    assert normalized_gini(y, p) == pytest.approx(2 * roc_auc_score(y, p) - 1, abs=1e-9)
    assert normalized_gini(y, y.astype(float)) == pytest.approx(1.0)
    assert normalized_gini(y, -p) == pytest.approx(-(2 * roc_auc_score(y, p) - 1), abs=1e-9)


def test_threshold_maximises_f1(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = scored
    t = choose_threshold(y, p)
    # Brute force: F1 of "score >= c" for every distinct score c.
    order = np.argsort(-p)
    tp = np.cumsum(y[order])
    predicted = np.arange(1, len(y) + 1)
    best = float(np.max(2 * tp / (predicted + y.sum())))
    assert f1_score(y, (p >= t).astype(int)) == pytest.approx(best)
