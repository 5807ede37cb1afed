"""Fixtures for the shared package's tests: stores (local and on real MinIO), data, manifests."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from harness.minio import MinioServer
from porto.bundle import DatasetInfo, Manifest
from porto.schema import FeatureSchema, infer_schema, model_frame
from porto.store import ArtifactStore, FileStore, S3Options, S3Store
from porto.synthetic import SyntheticData, generate


@pytest.fixture(scope="session")
def synthetic_small() -> SyntheticData:
    """5,000 synthetic rows: enough for schema and model tests, cheap to make once."""
    return generate(5_000, seed=11)


@pytest.fixture(scope="session")
def small_schema(synthetic_small: SyntheticData) -> FeatureSchema:
    """The feature schema inferred from ``synthetic_small`` with Porto's conventions."""
    return infer_schema(synthetic_small.frame, target="target", id_column="id", missing_value=-1)


@pytest.fixture(scope="session")
def xy(
    synthetic_small: SyntheticData, small_schema: FeatureSchema
) -> tuple[pd.DataFrame, np.ndarray]:
    """The first 2,000 synthetic rows as model input, with their targets (the flavor tests fit
    on the first 1,000)."""
    frame = synthetic_small.frame.iloc[:2000]
    return model_frame(frame, small_schema), frame["target"].to_numpy()


@pytest.fixture
def file_store(tmp_path_factory: pytest.TempPathFactory) -> FileStore:
    """An empty local store."""
    return FileStore(tmp_path_factory.mktemp("store"))


@pytest.fixture
def bucket() -> str:
    """A fresh bucket name per test, so S3 tests never see each other's objects."""
    return f"porto-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3_store(minio_server: MinioServer, s3_options: S3Options, bucket: str) -> Iterator[S3Store]:
    """A store on a fresh bucket of the session's MinIO (restarted here if a test left it down)."""
    minio_server.start()
    yield S3Store(bucket, "", dataclasses.replace(s3_options))


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest) -> ArtifactStore:
    """Each store implementation in turn: the contract tests must hold for both."""
    name = "file_store" if request.param == "file" else "s3_store"
    value: ArtifactStore = request.getfixturevalue(name)
    return value


@pytest.fixture
def make_manifest(small_schema: FeatureSchema) -> Callable[..., Manifest]:
    """Build a valid manifest; each call gets a later ``created_at`` so order is well defined."""
    counter = iter(range(1_000_000))
    base = datetime(2026, 1, 1, tzinfo=UTC)

    def make(version: str, name: str = "porto", **updates: object) -> Manifest:
        fields: dict[str, object] = {
            "name": name,
            "version": version,
            "created_at": base + timedelta(minutes=next(counter)),
            "code_version": "test",
            "model_type": "catboost",
            "model_file": "model.cbm",
            "threshold": 0.5,
            "feature_schema": small_schema,
            "dataset": DatasetInfo(
                source="synthetic", fingerprint="0" * 64, rows=10, columns=3, positives=1
            ),
        }
        fields.update(updates)
        return Manifest.model_validate(fields)

    return make
