"""Input the API must refuse (or read) cleanly instead of answering 200 with rows PostgreSQL
then refuses, or a 500: strings PostgreSQL cannot store (U+0000, unpaired surrogates), CSV with
CR line endings, NUL bytes, oversized cells or bad UTF-8, gzip bodies, duplicate feedback ids,
405 without Allow, and the store URI /models shows. Every refusal names the row and field.

The lenient readings the API keeps on purpose (booleans and numeric strings as numbers, true as
a feedback label) are pinned here too, so a change to them is a decision, not an accident."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from typing import Any

import orjson
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from porto.bundle import Manifest

CSV = {"content-type": "text/csv"}
CATEGORY = "ps_car_11_cat"  # a categorical feature: new strings are accepted as unseen values


def _csv(records: list[dict[str, Any]]) -> str:
    return pd.DataFrame(records).to_csv(index=False)


def _error(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    error: dict[str, Any] = r.json()["error"]
    return error


# --- 405 ------------------------------------------------------------------------------------------


def test_405_carries_allow(client: TestClient) -> None:
    r = client.get("/predict")
    error = _error(r, 405)
    assert error["type"] == "method_not_allowed"
    assert r.headers["allow"] == "POST"
    assert client.delete("/models").headers["allow"] == "GET"
