"""Fixtures of the prediction log's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness.postgres import PostgresServer
from inference.pg import reset


@pytest.fixture
def url(postgres_server: PostgresServer) -> Iterator[str]:
    """The harness PostgreSQL's URL, without porto's tables before and after the test."""
    reset(postgres_server.dsn)
    yield postgres_server.dsn
    reset(postgres_server.dsn)
