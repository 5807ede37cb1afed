"""Fixtures for the inference service tests: model bundles, in-process apps, and real servers.

Bundles are built with the shared package only (see ``bundles.py``). In-process apps run the
real lifespan through Starlette's TestClient; tests that need gunicorn or PostgreSQL use the
session servers from ``tests/conftest.py`` and the helpers in ``servers.py``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Starlette's TestClient still works with httpx; the deprecation is about a future rename.
warnings.filterwarnings("ignore", message=".*starlette.testclient.*")

from fastapi.testclient import TestClient  # noqa: E402
from harness.postgres import PostgresServer  # noqa: E402
from inference.bundles import MODEL_NAME, TrainedModel, publish, train_model  # noqa: E402
from inference.figures import lines  # noqa: E402
from inference.pg import reset  # noqa: E402
from porto.bundle import Manifest  # noqa: E402
from porto.store import FileStore, open_store  # noqa: E402
from porto_inference.api.app import create_app  # noqa: E402
from porto_inference.settings import Settings  # noqa: E402


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what the fault and fuzz suites measured."""
    found = lines()
    if found:
        terminalreporter.section("inference fault and fuzz figures")
        for line in found:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def trained() -> TrainedModel:
    """A small CatBoost model on synthetic Porto-shaped rows (all 57 features)."""
    return train_model(3000, seed=1, iterations=40)


@pytest.fixture(scope="session")
def trained_other() -> TrainedModel:
    """A second, different model with the same schema (for hot-swap tests)."""
    return train_model(3000, seed=2, iterations=30)


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory, trained: TrainedModel) -> Path:
    """A PORTO_HOME whose artifact store holds one champion version of ``porto``."""
    root = tmp_path_factory.mktemp("porto-home")
    publish(open_store(str(root / "artifacts")), trained, promote=True)
    return root


@pytest.fixture(scope="session")
def champion(home: Path) -> Manifest:
    """The manifest of the champion in ``home``."""
    from porto.registry import Registry

    return Registry(FileStore(home / "artifacts"), MODEL_NAME).get("champion")


@pytest.fixture
def make_client(home: Path) -> Iterator[Callable[..., TestClient]]:
    """Build a TestClient (lifespan running) for settings overrides; closed after the test.
    The prediction log is off unless a test turns it on."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        values: dict[str, Any] = {
            "home": home,
            "prediction_log": False,
            "log_requests": False,
            "poll_interval_s": 3600,
        }
        values.update(overrides)
        client = TestClient(create_app(Settings(**values)), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """A client of the default app (no API key, no prediction log)."""
    return make_client()


@pytest.fixture(scope="session")
def records(trained: TrainedModel) -> list[dict[str, Any]]:
    """100 held-out records as JSON-ready dicts with their id column (no target)."""
    from porto.synthetic import generate

    frame = generate(100, seed=77).frame.drop(columns=["target"])
    rows: list[dict[str, Any]] = frame.to_dict(orient="records")
    return rows


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The harness server's DSN with porto's tables dropped before and after the test."""
    reset(postgres_server.dsn)
    yield postgres_server.dsn
    if not postgres_server.running:
        postgres_server.start()
    reset(postgres_server.dsn)
