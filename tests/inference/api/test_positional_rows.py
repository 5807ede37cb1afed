"""Positional records: the model's features in model order, or a full training-data row (the
features and the columns the model ignores, in the training data's column order, without id and
target) — placed by the column order the schema records. Both give the probabilities of the
named form, through the real app; a length that fits neither is a 422 naming both lengths, and
a bundle that does not record the order refuses full rows saying so."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from inference.bundles import TrainedModel, publish, train_model
from porto.registry import Registry
from porto.schema import FeatureSchema
from porto.store import FileStore, open_store

#: Left out of the features: one column in the middle of the file, and the ps_calc_* at its end.
DROPPED = "ps_ind_03"


@pytest.fixture(scope="module")
def with_ignored() -> TrainedModel:
    return train_model(2000, seed=4, iterations=30, drop_calc=True, drop=[DROPPED])


@pytest.fixture(scope="module")
def row_home(tmp_path_factory: pytest.TempPathFactory, with_ignored: TrainedModel) -> Path:
    root = tmp_path_factory.mktemp("row-home")
    publish(open_store(str(root / "artifacts")), with_ignored, promote=True)
    return root


@pytest.fixture(scope="module")
def unordered_home(tmp_path_factory: pytest.TempPathFactory, with_ignored: TrainedModel) -> Path:
    """The same model as a bundle from before the column order was recorded."""
    root = tmp_path_factory.mktemp("unordered-home")
    schema = with_ignored.schema.model_copy(update={"dataset_columns": None})
    old = TrainedModel(with_ignored.model, schema, with_ignored.frame, with_ignored.threshold)
    publish(open_store(str(root / "artifacts")), old, promote=True)
    return root


def _schema(home: Path) -> FeatureSchema:
    return Registry(FileStore(home / "artifacts"), "porto").get("champion").feature_schema


def test_the_schema_records_the_training_data_column_order(row_home: Path) -> None:
    schema = _schema(row_home)
    assert schema.dataset_columns is not None
    assert DROPPED in schema.ignored and DROPPED not in schema.names
    # The file's order, id and target left out; the dropped column sits between features.
    columns = schema.dataset_columns
    assert columns.index("ps_ind_02_cat") < columns.index(DROPPED) < columns.index("ps_ind_04_cat")
    assert len(columns) == len(schema.names) + len(schema.ignored)
    assert [c for c in columns if c in set(schema.names)] == schema.names


def test_full_rows_score_like_named_records(
    row_home: Path, make_client: Callable[..., TestClient], records: list[dict[str, Any]]
) -> None:
    client = make_client(home=row_home)
    schema = _schema(row_home)
    assert schema.dataset_columns is not None
    rows = schema.dataset_columns
    for record in records[:5]:
        named = client.post("/predict", json=record).json()["probability"]
        model_order = [record[n] for n in schema.names]
        full_row = [record[c] for c in rows]
        by_model = client.post("/predict", json={"features": model_order})
        by_row = client.post("/predict", json={"id": record["id"], "features": full_row})
        assert by_model.status_code == by_row.status_code == 200, by_row.text
        assert by_model.json()["probability"] == by_row.json()["probability"] == named
        assert by_row.json()["id"] == record["id"]

    batch = records[5:25]
    named_batch = client.post("/predict/batch", json=batch).json()["predictions"]
    expected = [p["probability"] for p in named_batch]
    full_rows = [[r[c] for c in rows] for r in batch]
    for payload in (
        full_rows,  # bare lists
        [{"features": row} for row in full_rows],  # wrapped
        # both orders in one batch
        [[r[n] for n in schema.names] if i % 2 else full_rows[i] for i, r in enumerate(batch)],
        [batch[0], *full_rows[1:]],  # a named record first
    ):
        answer = client.post("/predict/batch", json=payload)
        assert answer.status_code == 200, answer.text
        assert [p["probability"] for p in answer.json()["predictions"]] == expected


def test_a_length_that_fits_no_order_names_both(
    row_home: Path, make_client: Callable[..., TestClient], records: list[dict[str, Any]]
) -> None:
    client = make_client(home=row_home)
    schema = _schema(row_home)
    width, full = len(schema.names), len(schema.names) + len(schema.ignored)
    r = client.post("/predict", json={"features": [0] * (width + 1)})
    assert r.status_code == 422
    message = r.json()["error"]["details"][0]["message"]
    assert message == (
        f"expected {width} values in model feature order (ps_ind_01, ps_ind_02_cat, "
        f"ps_ind_04_cat, ...) or {full} in the training data's column order without id and "
        f"target (ps_ind_01, ps_ind_02_cat, ps_ind_03, ...), got {width + 1}"
    )
    row = [records[0][c] for c in schema.dataset_columns or []]
    batch = client.post("/predict/batch", json=[row, row[:-1]])
    assert batch.status_code == 422
    assert batch.json()["error"]["details"] == [
        {"row": 1, "field": "features", "message": message.replace(str(width + 1), str(full - 1))}
    ]


def test_a_bundle_without_the_order_refuses_full_rows(
    unordered_home: Path,
    make_client: Callable[..., TestClient],
    records: list[dict[str, Any]],
    with_ignored: TrainedModel,
) -> None:
    client = make_client(home=unordered_home)
    schema = with_ignored.schema
    record = records[0]
    ok = client.post("/predict", json={"features": [record[n] for n in schema.names]})
    assert ok.status_code == 200, ok.text
    row = [record[c] for c in schema.dataset_columns or []]
    r = client.post("/predict", json={"features": row})
    assert r.status_code == 422
    message = r.json()["error"]["details"][0]["message"]
    assert message.startswith(f"expected {len(schema.names)} values in model feature order")
    assert f"got {len(row)}: a full training-data row with its {len(schema.ignored)} ignored" in (
        message
    )
    assert "does not record the training data's column order" in message


def test_the_api_docs_name_both_orders(
    row_home: Path, make_client: Callable[..., TestClient]
) -> None:
    from porto_inference.api.schemas import POSITIONAL_ORDERS

    client = make_client(home=row_home)
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/predict", "/predict/batch"):
        text = str(paths[path]["post"]["requestBody"])
        assert POSITIONAL_ORDERS in text, path
    assert "dataset_columns" in POSITIONAL_ORDERS and "model order" in POSITIONAL_ORDERS
    # and what they point at is there for the served model
    schema = client.get("/models/champion").json()["feature_schema"]
    assert schema["dataset_columns"] and schema["ignored"]
