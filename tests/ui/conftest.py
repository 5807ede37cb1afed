"""The stack the UI tests run against: real bundles from the training pipeline, the real API
(``porto-inference serve``: gunicorn + uvicorn) on a database of its own on the session's
PostgreSQL, with some traffic and feedback logged so the monitoring page has data.

Started once per session and only when a test asks for it, so the unit tests here start nothing.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness.ports import free_port
from harness.postgres import PostgresServer
from harness.timing import DEADLINE
from inference.servers import running_server
from porto.reference import ReferenceStats
from porto.schema import FeatureSchema

# Starlette/Streamlit deprecation chatter is not the subject of these tests.
warnings.filterwarnings("ignore", category=DeprecationWarning)

#: The Streamlit entry script.
APP = Path(__file__).resolve().parents[2] / "services" / "ui" / "src" / "porto_ui" / "app.py"
#: Where the browser test leaves its screenshots (gitignored).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"


@dataclass
class Stack:
    """A running API with two versions: a scikit-learn challenger, then the CatBoost champion."""

    home: Path
    api_url: str
    champion: str
    challenger: str
    features: list[str]
    records: list[dict[str, Any]]


def _train(store: Path) -> tuple[str, str, list[str]]:
    """Two small versions from the real training pipeline (every plot and insight a bundle has):
    the scikit-learn baseline first, then CatBoost, promoted champion (and newest)."""
    from porto_training.config import load_config
    from porto_training.pipeline import run_training

    common = {
        "output.store": f"file://{store}",
        "data.synthetic.rows": 5000,
        "insights.shap_rows": 300,
        "insights.mutual_info_rows": 2000,
    }
    baseline = run_training(
        load_config(updates={**common, "model.type": "sklearn", "seed": 7}), live=False
    ).manifest
    champion = run_training(
        load_config(
            updates={**common, "model.catboost.iterations": 60, "model.catboost.thread_count": 2}
        ),
        promote=True,
        live=False,
    ).manifest
    return champion.version, baseline.version, list(champion.feature_schema.names)


def _records(features: list[str], rows: int, seed: int) -> list[dict[str, Any]]:
    """Synthetic records with the model's features and the id column (no target)."""
    from porto.synthetic import generate

    frame = generate(rows, seed=seed).frame
    dicts = frame[["id", *features]].to_dict(orient="records")
    return [{str(k): v for k, v in row.items()} for row in dicts]


def _traffic(api_url: str, records: list[dict[str, Any]]) -> None:
    """Some predictions and labels, so every monitoring section has something to draw."""
    with httpx.Client(base_url=api_url, timeout=30) as client:
        batch = client.post("/predict/batch", json=records[:300])
        batch.raise_for_status()
        for record in records[300:320]:
            client.post("/predict", json=record).raise_for_status()
        ids = [p["prediction_id"] for p in batch.json()["predictions"]]
        labels = [{"prediction_id": pid, "label": int(i % 7 == 0)} for i, pid in enumerate(ids)]
        client.post("/feedback", json=labels).raise_for_status()


def _challenger_loaded(api_url: str) -> None:
    """Wait until the API has its challenger loaded, so the traffic is shadowed."""
    deadline = time.monotonic() + DEADLINE
    while not all(c["loaded"] for c in httpx.get(f"{api_url}/ready").json()["challengers"]):
        assert time.monotonic() < deadline, "the challenger never loaded"
        time.sleep(0.1)


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer
) -> Iterator[Stack]:
    """The API on a free port, serving the champion, logging to PostgreSQL."""
    home = tmp_path_factory.mktemp("ui-home")
    champion, challenger, features = _train(home / "artifacts")
    url = postgres_server.create_database("porto_ui")
    logs = tmp_path_factory.mktemp("ui-api-logs")
    with running_server(
        home,
        logs,
        workers=1,
        database_url=url,
        poll_interval_s=1,
        quality_interval_s=2,
        feedback_flush_timeout_s=10,
        challengers=challenger,
    ) as server:
        _challenger_loaded(server.url)
        records = _records(features, 400, seed=42)
        _traffic(server.url, records)
        yield Stack(home, server.url, champion, challenger, features, records)


@pytest.fixture
def ui_env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set PORTO_UI_* for the in-process app (AppTest): metrics off, no auto refresh."""

    def apply(api_url: str, **extra: object) -> None:
        monkeypatch.setenv("PORTO_UI_API_URL", api_url)
        monkeypatch.setenv("PORTO_UI_METRICS_PORT", "0")
        monkeypatch.setenv("PORTO_UI_MONITOR_REFRESH_S", "0")
        monkeypatch.setenv("PORTO_UI_CONNECT_TIMEOUT_S", "0.5")
        monkeypatch.delenv("PORTO_UI_API_KEY", raising=False)
        for key, value in extra.items():
            monkeypatch.setenv(f"PORTO_UI_{key.upper()}", str(value))

    return apply


@pytest.fixture
def dead_url() -> str:
    """A loopback URL nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def schema_and_reference() -> tuple[FeatureSchema, ReferenceStats]:
    """A feature schema and reference.json (as the API serves it) of synthetic Porto data,
    without training anything."""
    import numpy as np
    from porto.reference import compute_reference
    from porto.schema import ColumnRules, infer_schema, model_frame
    from porto.synthetic import generate

    frame = generate(3000, seed=3).frame
    schema = infer_schema(
        frame,
        target="target",
        id_column="id",
        missing_value=-1,
        rules=ColumnRules(drop_prefixes=["ps_calc_"]),
    )
    scores = np.random.default_rng(0).uniform(0, 0.2, len(frame))
    reference = compute_reference(model_frame(frame, schema), schema, scores)
    # Through its JSON, as the UI receives it from the API.
    return schema, ReferenceStats.model_validate_json(reference.model_dump_json())
