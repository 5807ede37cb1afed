"""POST /feedback with the served model's own labels (a model trained on a Yes/No target), and
with 0/1/true/false, against the real app and a real PostgreSQL; a label of neither kind is a
422 naming it and the accepted ones. A bundle that records no labels (older) takes 0/1 only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from inference.bundles import TrainedModel, publish
from inference.pg import flush_log, sql
from porto.labels import LabelMapping
from porto.store import open_store

pytestmark = pytest.mark.integration

YES_NO = LabelMapping(positive_label="Yes", negative_label="No", label_values=["No", "Yes", "yes"])


@pytest.fixture(scope="module")
def yes_no_home(tmp_path_factory: pytest.TempPathFactory, trained: TrainedModel) -> Path:
    """A PORTO_HOME whose champion was trained on a target labelled Yes/No."""
    root = tmp_path_factory.mktemp("yes-no-home")
    publish(open_store(str(root / "artifacts")), trained, promote=True, labels=YES_NO)
    return root


def _predict(client: TestClient, records: list[dict[str, Any]], n: int) -> list[str]:
    answer = client.post("/predict/batch", json=records[:n])
    assert answer.status_code == 200, answer.text
    ids = [p["prediction_id"] for p in answer.json()["predictions"]]
    assert flush_log(client, 20.0)
    return ids


def _labels(url: str) -> dict[str, int | None]:
    return {
        str(r["prediction_id"]): r["label"]
        for r in sql(url, "SELECT prediction_id, label FROM prediction_log")
    }


def test_feedback_takes_the_models_own_labels(
    yes_no_home: Path,
    pg_url: str,
    make_client: Callable[..., TestClient],
    records: list[dict[str, Any]],
) -> None:
    client = make_client(home=yes_no_home, prediction_log=True, database_url=pg_url)
    assert client.get("/models/champion").json()["labels"] == YES_NO.model_dump(mode="json")
    ids = _predict(client, records, 7)
    sent: list[Any] = ["Yes", "no", "YES", " No ", 1, False, True]
    answer = client.post(
        "/feedback",
        json=[{"prediction_id": pid, "label": label} for pid, label in zip(ids, sent, strict=True)],
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["applied"] == 7
    labels = _labels(pg_url)
    assert [labels[pid] for pid in ids] == [1, 0, 1, 0, 1, 0, 1]

    refused = client.post("/feedback", json={"prediction_id": ids[0], "label": "Maybe"})
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["details"][0] == {
        "row": 0,
        "field": "label",
        "message": '"Maybe" is not a label: expected "Yes", 1 or true (positive class) / '
        '"No", 0 or false (negative class)',
    }
    assert '"Maybe" is not a label' in error["message"]
    assert _labels(pg_url)[ids[0]] == 1  # unchanged


def test_a_bundle_without_labels_takes_0_1_true_false(
    pg_url: str, make_client: Callable[..., TestClient], records: list[dict[str, Any]]
) -> None:
    client = make_client(prediction_log=True, database_url=pg_url)  # the shared, older bundle
    assert client.get("/models/champion").json()["labels"] is None
    ids = _predict(client, records, 2)
    ok = client.post(
        "/feedback",
        json=[{"prediction_id": ids[0], "label": True}, {"prediction_id": ids[1], "label": 0}],
    )
    assert ok.status_code == 200, ok.text
    assert [_labels(pg_url)[pid] for pid in ids] == [1, 0]
    refused = client.post("/feedback", json={"prediction_id": ids[0], "label": "Yes"})
    assert refused.status_code == 422
    assert refused.json()["error"]["details"][0]["message"] == (
        '"Yes" is not a label: expected 1 or true (positive class) / 0 or false (negative class)'
    )
