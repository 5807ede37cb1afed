"""The small model interface: load a verified bundle version, predict, say whether it is ready.

Loading goes through :mod:`porto.bundle` (every file's sha256 checked against the manifest) and
the manifest's flavor in :mod:`porto.flavors` (CatBoost's ``.cbm``, or skops with a type
allow-list): nothing is ever unpickled. Prediction hands the flavor the codec's batch, which it
takes in the shape it scores fastest (CatBoost: an object array for a few rows, a frame of
categorical columns for larger batches). Every shape gives the probabilities
:func:`porto.schema.model_frame` + ``predict_proba`` give, which a test pins.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from porto.bundle import Manifest, read_file, read_json, read_manifest
from porto.errors import IntegrityError
from porto.flavors import Model, load_model
from porto.flavors.base import SMALL_BATCH, CodedRows, Contributions
from porto.reference import REFERENCE_FILE, ReferenceStats
from porto.schema import typical_record
from porto.store import ArtifactStore

from porto_inference.scoring.batch import EncodedBatch
from porto_inference.scoring.codec import FeatureCodec


@dataclass
class ServedModel:
    """One loaded model version with its codec (input validation) and drift reference."""

    manifest: Manifest
    predictor: Model
    codec: FeatureCodec
    reference: ReferenceStats | None
    load_seconds: float
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    threads: int = 1

    @classmethod
    def load(
        cls,
        store: ArtifactStore,
        name: str,
        version: str,
        *,
        allow_missing: bool = False,
        threads: int = 1,
    ) -> ServedModel:
        """Fetch, verify and load ``name``/``version`` (blocking: call it from a thread).

        Raises NotFoundError, StoreError or IntegrityError (checksum mismatch, a model that does
        not match its own manifest's feature schema, a corrupt file).
        """
        began = time.perf_counter()
        manifest = read_manifest(store, name, version)
        model_bytes = read_file(store, manifest, manifest.model_file)
        predictor = load_model(manifest.model_type, model_bytes)
        schema = manifest.feature_schema
        try:
            predictor.check_schema(schema)
        except IntegrityError as exc:
            raise IntegrityError(f"model {name}/{version}: {exc}") from exc
        reference = None
        if REFERENCE_FILE in manifest.files:
            try:
                reference = ReferenceStats.model_validate(
                    read_json(store, manifest, REFERENCE_FILE)
                )
            except ValueError as exc:
                raise IntegrityError(f"{REFERENCE_FILE} of {name}/{version}: {exc}") from exc
        codec = FeatureCodec(schema, allow_missing=allow_missing)
        served = cls(
            manifest=manifest,
            predictor=predictor,
            codec=codec,
            reference=reference,
            load_seconds=0.0,
            threads=threads,
        )
        served.warm_up()
        served.load_seconds = time.perf_counter() - began
        return served

    @property
    def name(self) -> str:
        """Registry name."""
        return self.manifest.name

    @property
    def version(self) -> str:
        """Version id."""
        return self.manifest.version

    @property
    def threshold(self) -> float:
        """Probability at and above which the predicted class is 1."""
        return float(self.manifest.threshold)

    @property
    def ready(self) -> bool:
        """A loaded model is always ready; kept for the interface readiness reads."""
        return True

    def predict(self, batch: EncodedBatch) -> np.ndarray:
        """Return P(class 1) per row of ``batch`` (float64)."""
        if batch.rows == 0:
            return np.empty(0, dtype=np.float64)
        return self.predictor.predict(BatchInput(self.codec, batch), threads=self.threads)

    def explain(self, batch: EncodedBatch) -> Contributions:
        """Each row's per-feature contributions to its raw score (blocking for large batches:
        TreeSHAP costs many times a prediction)."""
        return self.predictor.explain(BatchInput(self.codec, batch), threads=self.threads)

    def warm_up(self) -> None:
        """Score a typical row alone and in a batch above :data:`SMALL_BATCH` rows, so whichever
        input paths the flavor takes, the first request pays nothing extra and a model that
        cannot predict is refused at load time."""
        record = typical_record(self.manifest.feature_schema)
        try:
            small = self.codec.encode_items([dict(record)])
            self.predict(small)
            large = self.codec.encode_items([dict(record) for _ in range(SMALL_BATCH + 1)])
            self.predict(large)
        except Exception as exc:
            raise IntegrityError(
                f"model {self.name}/{self.version} cannot score a typical row: {exc}"
            ) from exc


@dataclass(frozen=True)
class BatchInput:
    """An encoded batch offered to a flavor (:class:`porto.flavors.base.ModelInput`) in the
    shape it asks for, built straight from the codec's arrays."""

    codec: FeatureCodec
    batch: EncodedBatch

    @property
    def rows(self) -> int:
        """How many rows the batch holds."""
        return self.batch.rows

    @property
    def categorical_positions(self) -> list[int]:
        """Positions of the categorical columns in model column order."""
        return self.codec.cat_pos

    def object_rows(self) -> np.ndarray:
        """The batch as an object array in model column order."""
        return self.codec.object_rows(self.batch)

    def coded(self) -> CodedRows:
        """The codec's own arrays: numbers, category codes and each feature's strings."""
        batch = self.batch
        return CodedRows(batch.num, batch.codes, [v.strings for v in batch.vocabs])

    def frame(self, *, categorical: bool) -> pd.DataFrame:
        """The batch as a frame in model column order: numbers as float64 with NaN, categories
        as canonical strings (``categorical``: as pandas categoricals of those strings)."""
        codec, batch = self.codec, self.batch
        columns: dict[str, Any] = {}
        num_at = {pos: j for j, pos in enumerate(codec.num_pos)}
        cat_at = {pos: j for j, pos in enumerate(codec.cat_pos)}
        for pos, name in enumerate(codec.names):
            if pos in num_at:
                columns[name] = batch.num[:, num_at[pos]]
            else:
                j = cat_at[pos]
                vocab = batch.vocabs[j]
                if categorical:
                    columns[name] = pd.Categorical.from_codes(
                        batch.codes[:, j], categories=vocab.categories_index(), validate=False
                    )
                else:
                    columns[name] = vocab.array[batch.codes[:, j]]
        return pd.DataFrame(columns, copy=False)
