"""The champion-against-challenger comparison on its own: pairing by time bucket, figures equal
to the quality and calibration functions, and the promotion rule's three refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from porto_inference.monitoring.challengers import comparison_report, model_figures, suggestion
from porto_inference.monitoring.quality import calibration, quality


def _rows(n: int, *, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    labels = rng.integers(0, 2, n)
    noise = rng.random(n)
    return [
        {
            "challenger_version": "v2",
            "champion_version": "v1" if i % 3 else "v0",
            "created_at": start + timedelta(minutes=i),
            "label": int(labels[i]),
            "champion_score": float(noise[i]),
            "champion_class": int(noise[i] >= 0.5),
            "challenger_score": float(0.6 * labels[i] + 0.4 * noise[i]),
            "challenger_class": int(0.6 * labels[i] + 0.4 * noise[i] >= 0.5),
        }
        for i in range(n)
    ]


def test_figures_are_the_quality_and_calibration_functions() -> None:
    rows = _rows(120)
    report = comparison_report(
        rows,
        minutes=180,
        bucket_minutes=60,
        limit=1000,
        min_labels=100,
        min_auc_gain=0.01,
        shadow_share=1.0,
        canary_share=0.0,
        configured=[],
    )
    (ch,) = report.challengers
    assert ch.champion_versions == ["v0", "v1"]
    assert ch.labels == 120
    y = np.asarray([r["label"] for r in rows])
    s = np.asarray([r["challenger_score"] for r in rows])
    q = quality(s, np.asarray([r["challenger_class"] for r in rows]), y)
    c = calibration(s, y)
    assert c is not None
    assert ch.challenger.roc_auc == pytest.approx(q.roc_auc)
    assert ch.challenger.f1 == pytest.approx(q.f1)
    assert ch.challenger.ece == pytest.approx(c.ece)
    assert ch.challenger.brier == pytest.approx(c.brier)
    assert [b.labels for b in ch.series] == [60, 60]  # two one-hour buckets
    first = rows[:60]
    expected = model_figures(
        np.asarray([r["champion_score"] for r in first]),
        np.asarray([r["champion_class"] for r in first]),
        np.asarray([r["label"] for r in first]),
    )
    assert ch.series[0].champion == expected
    assert ch.promotion.promote is True


def test_the_promotion_rule_says_why_not() -> None:
    def figures(auc: float | None, n: int, positives: int) -> Any:
        s = np.linspace(0, 1, n)
        y = np.zeros(n, dtype=int)
        y[:positives] = 1
        base = model_figures(s, (s >= 0.5).astype(int), y)
        return base.model_copy(update={"roc_auc": auc, "samples": n})

    few = suggestion(
        "v2", figures(0.6, 50, 10), figures(0.9, 50, 10), min_labels=100, min_auc_gain=0.01
    )
    assert (few.promote, few.reason) == (False, "not enough labels: 50 of the 100 needed")
    single = suggestion(
        "v2", figures(None, 200, 0), figures(None, 200, 0), min_labels=100, min_auc_gain=0.01
    )
    assert single.reason == "the 200 labels hold a single class: no ROC-AUC"
    close = suggestion(
        "v2", figures(0.700, 200, 20), figures(0.705, 200, 20), min_labels=100, min_auc_gain=0.01
    )
    assert not close.promote and close.reason.startswith("not better by 0.01: ROC-AUC 0.7050")
    assert close.auc_gain == pytest.approx(0.005)
    better = suggestion(
        "v2", figures(0.70, 200, 20), figures(0.75, 200, 20), min_labels=100, min_auc_gain=0.01
    )
    assert better.promote and better.reason.startswith("promote v2: ROC-AUC 0.7500")
    assert better.how == "POST /models/v2/promote, or `porto-train models promote v2`"
