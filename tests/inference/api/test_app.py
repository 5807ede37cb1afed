"""The app's lifespan: what it sets up for the process it runs in, and gives back on shutdown."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize(("setting", "expected"), [(None, 50_000), (20_000, 20_000), (0, None)])
def test_young_collections_are_spaced_while_serving_and_restored_after(
    make_client: Callable[..., TestClient], setting: int | None, expected: int | None
) -> None:
    before = gc.get_threshold()
    overrides: dict[str, Any] = {} if setting is None else {"gc_young_threshold": setting}
    client = make_client(**overrides)
    try:
        serving = gc.get_threshold()
        assert serving[0] == (before[0] if expected is None else expected)
        assert serving[1:] == before[1:]  # the older generations keep their thresholds
        assert client.get("/health").status_code == 200
    finally:
        client.__exit__(None, None, None)
    assert gc.get_threshold() == before
