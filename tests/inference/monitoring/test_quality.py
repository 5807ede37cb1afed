"""Quality figures of labelled predictions against scikit-learn's definitions."""

from __future__ import annotations

import numpy as np
import pytest
from porto_inference.monitoring.quality import calibration, gini, quality, roc_auc
from sklearn.metrics import brier_score_loss, f1_score, roc_auc_score


def test_quality_matches_scikit_learn() -> None:
    rng = np.random.default_rng(7)
    scores = np.round(rng.random(2_000), 2)  # rounded: ties, which ranks average
    labels = (rng.random(2_000) < scores).astype(int)
    predicted = (scores >= 0.5).astype(int)
    q = quality(scores, predicted, labels)
    assert q.samples == 2_000
    assert q.f1 == pytest.approx(f1_score(labels, predicted))
    assert q.roc_auc == pytest.approx(roc_auc_score(labels, scores))
    assert gini(q.roc_auc) == pytest.approx(2 * roc_auc_score(labels, scores) - 1)


def test_auc_and_gini_need_both_classes() -> None:
    assert roc_auc(np.array([0.2, 0.9]), np.array([1, 1])) is None
    assert gini(None) is None


def test_calibration() -> None:
    rng = np.random.default_rng(11)
    scores = rng.random(50_000)
    labels = (rng.random(50_000) < scores).astype(int)  # calibrated by construction
    c = calibration(scores, labels)
    assert c is not None and c.samples == 50_000
    assert c.brier == pytest.approx(brier_score_loss(labels, scores))
    assert c.mean_score == pytest.approx(scores.mean())
    assert c.positive_rate == pytest.approx(labels.mean())
    assert c.ece < 0.02
    # Scores pushed towards the extremes are miscalibrated: every bin's error is visible.
    skewed = calibration(np.clip(scores * 1.5 - 0.25, 0.0, 1.0), labels)
    assert skewed is not None and skewed.ece > 0.08
    # By hand: two bins, each off by 0.5 on half the rows.
    manual = calibration(np.array([0.05, 0.05, 0.95, 0.95]), np.array([0, 1, 0, 1]))
    assert manual is not None and manual.ece == pytest.approx(0.45)
    assert calibration(np.array([]), np.array([])) is None
