"""End to end: a small run of each model type publishes a complete, verified bundle; the champion
rules; training to S3; and store failures that leave no version behind."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from harness.ports import free_port
from porto.bundle import read_file, read_json
from porto.contracts.insights import (
    IMPORTANCE_FILE,
    MUTUAL_INFO_FILE,
    SHAP_FILE,
    FeatureRanking,
)
from porto.contracts.plots import PLOTS, plot_file
from porto.contracts.run import METRICS_FILE, RunMetrics
from porto.errors import StoreError
from porto.flavors import MODEL_FILES, load_model
from porto.reference import REFERENCE_FILE, ReferenceStats
from porto.registry import CHAMPION, LATEST, Registry
from porto.schema import FeatureSchema, model_frame
from porto.store import FileStore, S3Options, S3Store, open_store
from porto.synthetic import SyntheticData
from porto_training.config import TrainingConfig, build_config
from porto_training.pipeline import run_training
from porto_training.progress import STAGES
from porto_training.result import TrainingResult

MakeConfig = Callable[..., TrainingConfig]

METRIC_KEYS = {
    "roc_auc",
    "gini_normalized",
    "pr_auc",
    "log_loss",
    "brier",
    "f1",
    "precision",
    "recall",
    "threshold",
    "confusion_matrix",
    "class_balance",
    "split",
    "features",
    "training_seconds",
    "oracle_roc_auc",
    "champion_comparison",
}


def _verify_bundle(registry: Registry, version: str) -> dict[str, bytes]:
    """Read every file of a version through its checksum; return them."""
    manifest = registry.get(version)
    return {rel: read_file(registry.store, manifest, rel) for rel in manifest.files}


@pytest.mark.parametrize("model_type", ["catboost", "sklearn"])
def test_small_run_publishes_a_complete_verified_bundle(
    make_config: MakeConfig, store_dir: Path, small_data: SyntheticData, model_type: str
) -> None:
    cfg = make_config(f"model.type={model_type}")
    result = run_training(cfg)
    registry = Registry(FileStore(store_dir), "porto")
    manifest = registry.get(result.manifest.version)
    files = _verify_bundle(registry, manifest.version)

    assert manifest.model_type == model_type
    assert manifest.model_file == MODEL_FILES[model_type]
    expected = {
        manifest.model_file,
        METRICS_FILE,
        REFERENCE_FILE,
        *(f"plots/{n}.png" for n in PLOTS),
        *(plot_file(n) for n in PLOTS),
        IMPORTANCE_FILE,
        SHAP_FILE,
        MUTUAL_INFO_FILE,
    }
    assert expected <= set(files)
    for name, model in PLOTS.items():
        assert files[f"plots/{name}.png"].startswith(b"\x89PNG")
        model.model_validate_json(files[plot_file(name)])
    reference = ReferenceStats.model_validate_json(files[REFERENCE_FILE])
    assert [f.name for f in reference.features] == manifest.feature_schema.names
    assert reference.rows == result.metrics.split.train

    metrics = json.loads(files[METRICS_FILE])
    assert set(metrics) >= METRIC_KEYS
    assert metrics == manifest.metrics == result.metrics.model_dump(mode="json")
    assert RunMetrics.model_validate(metrics) == result.metrics
    assert 0.0 < metrics["threshold"] < 1.0
    assert metrics["threshold"] == pytest.approx(manifest.threshold)
    assert metrics["split"] == {"train": 2800, "validation": 600, "test": 600}
    assert set(metrics["stage_seconds"]) <= set(STAGES)
    for rel in (IMPORTANCE_FILE, SHAP_FILE, MUTUAL_INFO_FILE):
        insight = FeatureRanking.model_validate(read_json(registry.store, manifest, rel))
        assert insight.method
        assert set(insight.values) == set(manifest.feature_schema.names)

    # Manifest: provenance, full config, schema; ps_calc_* dropped by the default config.
    assert manifest.version and manifest.created_at and manifest.code_version
    assert manifest.dataset.synthetic and manifest.dataset.rows == 4000
    assert len(manifest.dataset.fingerprint) == 64
    assert manifest.config["model"]["type"] == model_type
    assert manifest.config["seed"] == cfg.seed
    assert not any(n.startswith("ps_calc_") for n in manifest.feature_schema.names)
    assert "ps_car_11_cat" in manifest.feature_schema.names
    assert result.champion  # the first version
    assert registry.aliases() == {CHAMPION: manifest.version, LATEST: manifest.version}

    # The stored model loads through porto.flavors and scores like the run did.
    model = load_model(manifest.model_type, files[manifest.model_file])
    schema = FeatureSchema.model_validate(manifest.feature_schema.model_dump())
    rows = small_data.frame.head(50)
    scores = model.predict_proba(model_frame(rows, schema))
    assert scores.shape == (50,)
    assert ((scores > 0) & (scores < 1)).all()


def registry_config(result: TrainingResult) -> TrainingConfig:
    """The config stored in a version's manifest, loaded back."""
    return build_config(result.manifest.config)


def test_search_then_train(make_config: MakeConfig) -> None:
    cfg = make_config(
        "search.enabled=true",
        "search.folds=2",
        "search.iterations=2",
        "search.catboost={depth: [2, 3], learning_rate: [0.1]}",
        "model.catboost.iterations=30",
    )
    result = run_training(cfg)
    search = result.metrics.search
    assert search is not None and len(search.trials) == 2
    best = max(search.trials, key=lambda t: t.mean_auc)
    assert result.metrics.model_params["depth"] == best.params["depth"]
    assert registry_config(result) == cfg


def test_champion_rules(make_config: MakeConfig, store_dir: Path) -> None:
    registry = Registry(FileStore(store_dir), "porto")
    first = run_training(make_config(rows=15_000))
    assert first.champion
    assert first.metrics.champion_comparison.champion_version is None

    # A model that sees only noise columns cannot beat the champion on the same holdout.
    weak = make_config(
        "data.columns.drop_prefixes=[ps_ind_, ps_reg_, ps_car_]",
        "model.catboost.iterations=5",
        rows=15_000,
    )
    second = run_training(weak)
    comparison = second.metrics.champion_comparison
    assert not second.champion
    assert comparison.champion_version == first.manifest.version
    assert comparison.challenger_wins is False
    assert comparison.champion_auc is not None
    assert comparison.champion_auc > comparison.challenger_auc
    assert comparison.promoted is False
    assert registry.aliases() == {CHAMPION: first.manifest.version, LATEST: second.manifest.version}
    # The comparison is recorded in the manifest too.
    stored = RunMetrics.model_validate(registry.get(second.manifest.version).metrics)
    assert stored.champion_comparison == comparison

    third = run_training(weak, promote=True)
    assert third.champion
    assert third.metrics.champion_comparison.reason == "promoted on request (--promote)"
    assert registry.aliases()[CHAMPION] == third.manifest.version

    # Now the champion is weak: a normal model beats it on the same rows and takes over.
    fourth = run_training(make_config("seed=43", rows=15_000))
    assert fourth.champion
    assert fourth.metrics.champion_comparison.challenger_wins is True
    assert registry.aliases()[CHAMPION] == fourth.manifest.version


def _s3_env(monkeypatch: pytest.MonkeyPatch, options: S3Options) -> None:
    monkeypatch.setenv("PORTO_S3_ENDPOINT_URL", options.endpoint_url or "")
    monkeypatch.setenv("PORTO_S3_ACCESS_KEY", options.access_key or "")
    monkeypatch.setenv("PORTO_S3_SECRET_KEY", options.secret_key or "")


@pytest.mark.integration
def test_train_to_s3_on_minio(
    make_config: MakeConfig,
    s3_options: S3Options,
    small_data: SyntheticData,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = f"porto-train-{uuid.uuid4().hex[:10]}"
    _s3_env(monkeypatch, s3_options)
    # The data comes from S3 too, as in the cluster.
    data_store = S3Store(bucket, "", dataclasses.replace(s3_options))
    data_store.put_bytes("data/train.csv", small_data.frame.to_csv(index=False).encode())
    cfg = make_config(
        "model.type=sklearn",
        **{"output.store": f"s3://{bucket}/registry", "data.path": f"s3://{bucket}/data/train.csv"},
    )
    result = run_training(cfg)
    assert result.store_uri == f"s3://{bucket}/registry"
    registry = Registry(
        open_store(f"s3://{bucket}/registry", dataclasses.replace(s3_options)), "porto"
    )
    assert registry.versions() == [result.manifest.version]
    assert registry.aliases()[CHAMPION] == result.manifest.version
    files = _verify_bundle(registry, result.manifest.version)
    assert REFERENCE_FILE in files
    assert not registry.get(CHAMPION).dataset.synthetic


@pytest.mark.integration
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"PORTO_S3_SECRET_KEY": "not-the-secret"}, "credentials"),
        ({"PORTO_S3_CREATE_BUCKET": "false"}, "does not exist"),
    ],
)
def test_store_refusals_fail_before_training(
    make_config: MakeConfig,
    s3_options: S3Options,
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, str],
    message: str,
) -> None:
    bucket = f"porto-refused-{uuid.uuid4().hex[:10]}"
    _s3_env(monkeypatch, s3_options)
    for key, value in change.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(StoreError, match=message):
        run_training(make_config(**{"output.store": f"s3://{bucket}"}))
    good = S3Store(bucket, "", dataclasses.replace(s3_options, create_bucket=False))
    with pytest.raises(StoreError):
        good.check()  # the bucket was never created, so nothing can be in it


def test_unreachable_store_fails_fast_with_no_version(
    make_config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTO_S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("PORTO_S3_ACCESS_KEY", "k")
    monkeypatch.setenv("PORTO_S3_SECRET_KEY", "s")
    with pytest.raises(StoreError, match="cannot reach S3 endpoint"):
        run_training(make_config(**{"output.store": "s3://nowhere/models"}))


def test_failure_while_publishing_leaves_no_version(
    make_config: MakeConfig, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_put = FileStore.put_bytes

    def flaky_put(self: FileStore, key: str, data: bytes, content_type: str | None = None) -> None:
        if key.endswith("reference.json"):
            raise StoreError("simulated outage")
        real_put(self, key, data, content_type)

    monkeypatch.setattr(FileStore, "put_bytes", flaky_put)
    with pytest.raises(StoreError, match="simulated outage"):
        run_training(make_config())
    registry = Registry(FileStore(store_dir), "porto")
    assert registry.versions() == []
    assert registry.aliases() == {}
