"""Drift against the bundle's reference: quiet on look-alike traffic, loud on shifted traffic;
missing values and unseen categories counted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from inference.bundles import TrainedModel
from inference.servers import samples, total
from porto.synthetic import generate


def _traffic(n: int, seed: int, trained: TrainedModel | None = None) -> list[dict[str, Any]]:
    """Rows like the training rows (drawn from them when ``trained`` is given: the synthetic
    generator's category frequencies differ between seeds, which is real drift)."""
    if trained is not None:
        frame = trained.frame.sample(n, random_state=seed)
    else:
        frame = generate(n, seed=seed).frame
    frame = frame.drop(columns=["target"])
    rows: list[dict[str, Any]] = orjson.loads(orjson.dumps(frame.to_dict(orient="records")))
    return rows


def _gauges(text: str, name: str) -> dict[str, float]:
    return {labels.get("feature", ""): v for n, labels, v in samples(text) if n == name}


def _process(client: TestClient) -> None:
    drift = client.app.state.service.drift  # type: ignore[attr-defined]
    client.portal.call(drift.process)  # type: ignore[union-attr]


def test_psi_quiet_then_loud(make_client: Callable[..., TestClient], trained: TrainedModel) -> None:
    client = make_client(drift_window_rows=2000)
    same = _traffic(2000, seed=5, trained=trained)
    for start in range(0, 2000, 500):
        assert client.post("/predict/batch", json=same[start : start + 500]).status_code == 200
    _process(client)
    text = client.get("/metrics").text
    psi = _gauges(text, "feature_drift_psi")
    assert len(psi) == 57
    assert max(psi.values()) < 0.1, sorted(psi.items(), key=lambda kv: -kv[1])[:3]
    missing = _gauges(text, "feature_missing_ratio")
    assert 0.12 < missing["ps_reg_03"] < 0.25  # about 18 % in this data
    assert total(text, "feature_missing_values_total", feature="ps_reg_03") > 200
    assert total(text, "prediction_drift_psi") < 0.1
    # Large batches join the PSI window as a sample weighted by the rows it stands for.
    assert total(text, "drift_window_rows") == pytest.approx(2000)

    shifted = _traffic(2000, seed=6, trained=trained)
    for row in shifted:
        row["ps_car_13"] = row["ps_car_13"] * 3
        row["ps_ind_05_cat"] = 6
        row["ps_ind_17_bin"] = 1
    for start in range(0, 2000, 500):
        client.post("/predict/batch", json=shifted[start : start + 500])
    _process(client)
    psi = _gauges(client.get("/metrics").text, "feature_drift_psi")
    assert psi["ps_car_13"] > 1.0
    assert psi["ps_ind_05_cat"] > 1.0
    assert psi["ps_ind_17_bin"] > 1.0
    assert psi["ps_reg_01"] < 0.1  # untouched features stay quiet


def test_unseen_and_single_rows(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    rows = _traffic(30, seed=8)
    for i, row in enumerate(rows):
        if i % 3 == 0:
            row["ps_car_01_cat"] = f"new-{i}"
        client.post("/predict", json=row)
    _process(client)
    text = client.get("/metrics").text
    assert total(text, "feature_unseen_categories_total", feature="ps_car_01_cat") == 10
    assert total(text, "drift_window_rows") == 30


def test_requests_for_other_versions_are_not_monitored(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    rows = _traffic(5, seed=9)
    client.post("/predict/batch", json=rows, params={"model_version": "latest"})
    _process(client)
    assert total(client.get("/metrics").text, "drift_window_rows") == 5  # latest is the champion
