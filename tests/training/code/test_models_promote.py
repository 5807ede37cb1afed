"""``porto-train models promote`` verifies the bundle before it moves the champion: a corrupt
version is refused with one ``error:`` line naming the checksum problem and a non-zero exit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from porto.bundle import DatasetInfo, Manifest, version_prefix, write_bundle
from porto.registry import CHAMPION, Registry
from porto.schema import FeatureKind, FeatureSchema, FeatureSpec
from porto.store import FileStore
from porto_training.cli import app
from typer.testing import CliRunner

FILES = {"model.cbm": b"the model bytes", "metrics.json": b"{}"}


def _manifest(version: str) -> Manifest:
    return Manifest(
        name="porto",
        version=version,
        created_at=datetime.now(UTC),
        code_version="tests",
        model_type="catboost",
        model_file="model.cbm",
        threshold=0.5,
        feature_schema=FeatureSchema(
            features=[FeatureSpec(name="x", kind=FeatureKind.NUMERIC, dtype="float")]
        ),
        dataset=DatasetInfo(source="tests", fingerprint="0" * 64, rows=1, columns=1, positives=0),
    )


def test_promote_refuses_a_corrupt_bundle(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    store = FileStore(root)
    registry = Registry(store, "porto")
    for version in ("v1", "v2"):
        registry.register(write_bundle(store, _manifest(version), FILES))
    model = root / version_prefix("porto", "v2") / "model.cbm"
    model.write_bytes(b"the model bytez")
    runner = CliRunner()

    refused = runner.invoke(app, ["models", "promote", "v2", "--store", str(root)])
    assert refused.exit_code == 1, refused.output
    assert refused.stderr.startswith("error: ")
    assert "checksum mismatch" in refused.stderr and "model.cbm" in refused.stderr
    assert "Traceback" not in refused.output
    assert registry.resolve(CHAMPION) == "v1"

    model.write_bytes(FILES["model.cbm"])
    promoted = runner.invoke(app, ["models", "promote", "v2", "--store", str(root)])
    assert promoted.exit_code == 0, promoted.output
    assert registry.resolve(CHAMPION) == "v2"
