"""Serving from S3 (a real MinIO): load, artifacts, a promotion picked up by the watcher, and an
object-store outage that leaves the loaded model serving."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from harness.minio import MinioServer
from harness.ports import wait_until
from harness.timing import DEADLINE
from inference.bundles import TrainedModel, publish
from porto.registry import Registry
from porto.store import S3Options, open_store

pytestmark = pytest.mark.integration


def test_serves_from_s3_and_survives_an_outage(
    minio_server: MinioServer,
    s3_options: S3Options,
    make_client: Callable[..., TestClient],
    trained: TrainedModel,
    trained_other: TrainedModel,
    records: list[dict[str, Any]],
) -> None:
    uri = f"s3://porto-inference/{secrets.token_hex(4)}"
    store = open_store(uri, dataclasses.replace(s3_options, create_bucket=True))
    v1 = publish(store, trained, promote=True).version
    client = make_client(
        store_uri=uri,
        s3_endpoint_url=minio_server.endpoint,
        s3_access_key=minio_server.access_key,
        s3_secret_key=minio_server.secret_key,
        poll_interval_s=0.1,
    )
    assert client.get("/ready").json()["model"]["version"] == v1
    assert client.post("/predict", json=records[0]).json()["model_version"] == v1
    png = client.get(f"/models/{v1}/artifacts/plots/roc.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"

    v2 = publish(store, trained_other, promote=True).version
    wait_until(
        lambda: client.get("/ready").json()["model"]["version"] == v2,
        DEADLINE,
        "the promotion picked up",
    )

    minio_server.stop()
    try:
        # A poll fails while the store is away (awaited: a busy machine may not poll for a while).
        wait_until(
            lambda: client.get("/ready").json()["model_error"] is not None,
            DEADLINE,
            "the store outage reported by /ready",
        )
        ready = client.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["model"]["version"] == v2
        assert ready.json()["model_error"]["reason"] == "store"
        assert client.post("/predict", json=records[1]).status_code == 200
        assert client.get("/models").status_code == 503  # the catalogue needs the store
    finally:
        minio_server.start()
    wait_until(
        lambda: client.get("/ready").json()["model_error"] is None,
        DEADLINE,
        "the store error cleared",
    )
    assert Registry(store, "porto").resolve("champion") == v2
