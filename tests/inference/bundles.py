"""Model bundles for the inference tests, built with the shared package only.

The training job has its own code and tests; the service must work with any bundle the shared
format allows, so the tests make their own: synthetic rows → schema → a small CatBoost model →
reference stats → bundle → registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier
from porto.bundle import DatasetInfo, Manifest, new_version, write_bundle
from porto.flavors import MODEL_FILES, dump_model
from porto.flavors.catboost import CATBOOST
from porto.labels import LabelMapping
from porto.reference import REFERENCE_FILE, compute_reference
from porto.registry import Registry
from porto.schema import ColumnRules, FeatureSchema, infer_schema, model_frame
from porto.store import ArtifactStore
from porto.synthetic import generate

MODEL_NAME = "porto"


@dataclass
class TrainedModel:
    """A fitted model, its schema and the rows it was trained on."""

    model: CatBoostClassifier
    schema: FeatureSchema
    frame: pd.DataFrame
    threshold: float


def train_model(
    rows: int = 3000,
    *,
    seed: int = 1,
    iterations: int = 40,
    drop_calc: bool = False,
    drop: list[str] | None = None,
) -> TrainedModel:
    """Fit a small CatBoost model on synthetic Porto-shaped data (a few seconds); ``drop_calc``
    and ``drop`` leave columns out of the features (the schema's ``ignored``)."""
    data = generate(rows, seed=seed).frame
    rules = ColumnRules(drop_prefixes=["ps_calc_"] if drop_calc else [], drop=drop or [])
    schema = infer_schema(data, target="target", id_column="id", missing_value=-1, rules=rules)
    features = model_frame(data, schema)
    model = CatBoostClassifier(
        iterations=iterations,
        depth=4,
        verbose=False,
        random_seed=seed,
        thread_count=2,
        cat_features=schema.categorical_indices,
        allow_writing_files=False,
    )
    model.fit(features, data["target"])
    scores = model.predict_proba(features)[:, 1]
    threshold = float(np.quantile(scores, 0.9))
    return TrainedModel(model=model, schema=schema, frame=data, threshold=threshold)


def publish(
    store: ArtifactStore,
    trained: TrainedModel,
    *,
    name: str = MODEL_NAME,
    promote: bool = False,
    version: str | None = None,
    extra_files: dict[str, bytes] | None = None,
    labels: LabelMapping | None = None,
    model_type: str = CATBOOST,
    estimator: Any = None,
) -> Manifest:
    """Write ``trained`` as a new bundle version and register it (latest; champion if asked or
    if there is none). Return its manifest. Without ``labels`` the manifest records no label
    mapping, as bundles from before porto recorded it."""
    features = model_frame(trained.frame, trained.schema)
    estimator = trained.model if estimator is None else estimator
    scores = estimator.predict_proba(features)[:, 1]
    reference = compute_reference(features, trained.schema, scores)
    files = {
        MODEL_FILES[model_type]: dump_model(model_type, estimator),
        REFERENCE_FILE: reference.model_dump_json().encode(),
        "metrics.json": b'{"roc_auc": 0.7}',
        "plots/roc.png": b"\x89PNG\r\n\x1a\nnot-really-a-png",
    }
    files.update(extra_files or {})
    manifest = Manifest(
        name=name,
        version=version or new_version(),
        created_at=datetime.now(UTC),
        code_version="tests",
        model_type=model_type,
        model_file=MODEL_FILES[model_type],
        threshold=trained.threshold,
        feature_schema=trained.schema,
        dataset=DatasetInfo(
            source="synthetic",
            fingerprint="tests",
            rows=len(trained.frame),
            columns=trained.frame.shape[1],
            positives=int(trained.frame["target"].sum()),
            synthetic=True,
        ),
        labels=labels,
        metrics={"test": {"roc_auc": 0.7, "f1": 0.2}, "train_rows": len(trained.frame)},
    )
    final = write_bundle(store, manifest, files)
    Registry(store, name).register(final, promote=promote)
    return final
