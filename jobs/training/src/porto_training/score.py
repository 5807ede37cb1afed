"""Offline batch scoring: a dataset of any size scored with one model version, chunk by chunk, into
part files under an output prefix, resumable after a crash without duplicate output.

Layout of an output prefix (in the artifact store, another bucket or a local directory)::

    _manifest.json        the run: input fingerprint, model version, chunk size, completed parts
    part-00000.parquet    the predictions of input rows 0 … chunk_rows - 1
    part-00001.parquet    …
    _SUCCESS              written last, once every part is there

Chunk ``k`` always holds the same input rows, and each part is written whole or not at all (the
stores' atomic writes: a temporary file renamed into place, an S3 object that appears complete),
then recorded in the manifest with its row count and sha256. A re-run with the same input, model
and chunk size therefore keeps every part whose bytes still match the manifest and redoes the
others; a re-run with anything else refuses unless told to overwrite, so two runs never mix in
one prefix. Prediction ids are derived from the input's fingerprint, the model version and the
row number, so a redone part gets the ids it would have had, and the whole output is identical
to an uninterrupted run's.

Models are loaded the way the API loads them: the manifest's flavor reads the sha256-verified model
file (never unpickled), and checks it against the manifest's feature schema.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
from porto.bundle import Manifest, read_file
from porto.errors import ConfigError, DataError, IntegrityError, NotFoundError
from porto.flavors import Model, load_model
from porto.hashing import sha256_bytes
from porto.registry import Registry
from porto.schema import FeatureSchema, model_frame
from porto.store import ArtifactStore, S3Options
from pydantic import BaseModel, Field

from porto_training.score_input import (
    Chunk,
    LocalInput,
    check_columns,
    check_values,
    iter_chunks,
    open_input,
    read_columns,
)

log = logging.getLogger("porto_training.score")

RUN_MANIFEST = "_manifest.json"
SUCCESS = "_SUCCESS"
OUTPUT_FORMATS = ("parquet", "csv")
#: Rows per chunk by default: a few tens of MB per chunk for porto's ~60 features, explanations
#: included, and parts large enough that per-part overhead (one write, one manifest) is noise.
DEFAULT_CHUNK_ROWS = 50_000
CONTRIBUTION_PREFIX = "contribution_"


class InputInfo(BaseModel):
    """What the run read: the source as given and its content's fingerprint."""

    source: str
    format: str
    size: int
    sha256: str
    rows: int | None = Field(description="Rows, when known before reading (estimate for CSV).")


class ModelInfo(BaseModel):
    """The model version every row was scored with."""

    name: str
    version: str
    model_type: str
    threshold: float


class PartEntry(BaseModel):
    """One completed part file."""

    index: int
    key: str
    first_row: int
    rows: int
    size: int
    sha256: str


class RunManifest(BaseModel):
    """The run recorded in ``_manifest.json``: rewritten after every part."""

    format_version: int = 1
    status: Literal["running", "complete"] = "running"
    input: InputInfo
    model: ModelInfo
    chunk_rows: int
    output_format: str
    explain: bool
    parts: list[PartEntry] = Field(default_factory=list)
    rows: int | None = Field(default=None, description="Rows scored, once complete.")
    started_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None

    def differences(self, other: RunManifest) -> list[str]:
        """Return how ``other`` (a new run's arguments) differs from this run, one phrase each:
        the things that would make their parts different."""
        pairs: list[tuple[str, Any, Any]] = [
            ("input size", self.input.size, other.input.size),
            ("input sha256", self.input.sha256[:12], other.input.sha256[:12]),
            ("model", self.model.name, other.model.name),
            ("model version", self.model.version, other.model.version),
            ("chunk rows", self.chunk_rows, other.chunk_rows),
            ("output format", self.output_format, other.output_format),
            ("explain", self.explain, other.explain),
        ]
        return [f"{what} {old} → {new}" for what, old, new in pairs if old != new]


@dataclass(frozen=True)
class ScoreRequest:
    """What ``porto-score`` was asked to do."""

    source: str
    model_name: str
    model_ref: str
    input_format: str = "auto"
    output_format: str = "parquet"
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    explain: bool = False
    overwrite: bool = False
    threads: int = 1


@dataclass(frozen=True)
class PartEvent:
    """A chunk dealt with: scored and written, or found already written by an earlier run."""

    part: PartEntry
    written: bool
    rows_done: int
    rows_total: int | None
    rows_per_second: float


@dataclass(frozen=True)
class ScoreResult:
    """A finished run: its manifest, where the output is, and what this invocation did."""

    manifest: RunManifest
    output_uri: str
    parts_written: int
    parts_kept: int
    seconds: float
    rows_per_second: float


@dataclass(frozen=True)
class LoadedModel:
    """A verified model version ready to score."""

    manifest: Manifest
    model: Model

    @classmethod
    def load(cls, store: ArtifactStore, name: str, ref: str) -> LoadedModel:
        """Resolve ``ref`` (version or alias) of ``name``, read its model file verified against
        the manifest's sha256, load it through its flavor and check it against the schema."""
        manifest = Registry(store, name).get(ref)
        model = load_model(manifest.model_type, read_file(store, manifest, manifest.model_file))
        try:
            model.check_schema(manifest.feature_schema)
        except IntegrityError as exc:
            raise IntegrityError(f"model {name}/{manifest.version}: {exc}") from exc
        return cls(manifest, model)


class FrameInput:
    """A chunk offered to a flavor (:class:`porto.flavors.base.ModelInput`): the model frame of
    :func:`porto.schema.model_frame`, built once per shape asked for."""

    def __init__(self, frame: pd.DataFrame, schema: FeatureSchema) -> None:
        self._frame = frame
        self._schema = schema
        self._built: dict[bool, pd.DataFrame] = {}

    @property
    def rows(self) -> int:
        """How many rows the chunk holds."""
        return len(self._frame)

    @property
    def categorical_positions(self) -> list[int]:
        """Positions of the categorical columns in model column order."""
        return self._schema.categorical_indices

    def object_rows(self) -> np.ndarray:
        """The rows as an object array in model column order."""
        return self.frame(categorical=False).to_numpy(dtype=object)

    def coded(self) -> None:
        """Not held: a frame has no category codes (flavors use the frame)."""
        return None

    def frame(self, *, categorical: bool) -> pd.DataFrame:
        """The rows as the model frame (categories as categoricals when ``categorical``)."""
        if categorical not in self._built:
            built = model_frame(self._frame, self._schema, categorical=categorical)
            self._built[categorical] = built.reset_index(drop=True)
        return self._built[categorical]


def prediction_ids(input_sha256: str, model: ModelInfo, start: int, rows: int) -> list[str]:
    """Return the prediction ids of input rows ``start`` … ``start + rows - 1``: a UUID (version
    5 of the run's input and model) whose last 48 bits are the row number. The same row scored
    by the same version of the same input always gets the same id, so a resumed run reproduces
    an interrupted one's output exactly; ids of different runs do not collide."""
    run = uuid.uuid5(uuid.NAMESPACE_URL, f"porto-score:{input_sha256}:{model.name}/{model.version}")
    head = str(run)[:24]
    return [f"{head}{row:012x}" for row in range(start, start + rows)]


def score_chunk(
    loaded: LoadedModel,
    chunk: Chunk,
    info: ModelInfo,
    input_sha256: str,
    *,
    explain: bool,
    threads: int,
) -> pd.DataFrame:
    """Return the predictions of one chunk: ``row`` (position in the input), the record id
    column when the schema names one and the input has it, ``prediction_id``, ``probability``,
    ``class`` at the model's threshold, ``model_name``, ``model_version``; with ``explain``,
    ``base_value`` and one ``contribution_<feature>`` column per feature (log-odds) that sum to
    the raw score whose sigmoid is ``probability``."""
    schema = loaded.manifest.feature_schema
    rows = FrameInput(chunk.frame, schema)
    n = rows.rows
    probability = loaded.model.predict(rows, threads=threads) if n else np.empty(0)
    out: dict[str, Any] = {"row": np.arange(chunk.start, chunk.start + n, dtype=np.int64)}
    if schema.id_column and schema.id_column in chunk.frame.columns:
        out[schema.id_column] = chunk.frame[schema.id_column].to_numpy()
    out["prediction_id"] = prediction_ids(input_sha256, info, chunk.start, n)
    out["probability"] = probability
    out["class"] = (probability >= info.threshold).astype(np.int8)
    out["model_name"] = info.name
    out["model_version"] = info.version
    if explain and n:
        contributions = loaded.model.explain(rows, threads=threads)
        out["base_value"] = contributions.base
        for j, name in enumerate(schema.names):
            out[f"{CONTRIBUTION_PREFIX}{name}"] = contributions.values[:, j]
    return pd.DataFrame(out)


def encode_part(frame: pd.DataFrame, fmt: str) -> bytes:
    """Return the bytes of one part file in ``fmt`` (Parquet or CSV with a header)."""
    if fmt == "csv":
        return frame.to_csv(index=False).encode()
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    return buffer.getvalue()


def part_key(index: int, fmt: str) -> str:
    """The name of part ``index``."""
    return f"part-{index:05d}.{fmt}"


def read_run_manifest(out: ArtifactStore) -> RunManifest | None:
    """Return the run recorded in ``out``, None if there is none; ConfigError if the file there
    is not a run manifest (nothing of another kind is ever overwritten silently)."""
    try:
        raw = out.get_bytes(RUN_MANIFEST)
    except NotFoundError:
        return None
    try:
        return RunManifest.model_validate_json(raw)
    except ValueError as exc:
        raise ConfigError(
            f"{out.uri}/{RUN_MANIFEST} is not a porto-score manifest: pass --overwrite to replace "
            "the output"
        ) from exc


def read_output(out: ArtifactStore) -> pd.DataFrame:
    """Return every part of a completed run in ``out`` as one frame, in input order (tests and
    small outputs; a large output is read part by part)."""
    manifest = read_run_manifest(out)
    if manifest is None or manifest.status != "complete":
        raise NotFoundError(f"{out.uri} holds no completed porto-score run")
    frames = []
    for part in manifest.parts:
        data = out.get_bytes(part.key)
        if manifest.output_format == "csv":
            frames.append(pd.read_csv(io.BytesIO(data)))
        else:
            frames.append(pd.read_parquet(io.BytesIO(data)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def run_scoring(
    request: ScoreRequest,
    models: ArtifactStore,
    out: ArtifactStore,
    *,
    s3_options: S3Options | None = None,
    on_part: Callable[[PartEvent], None] | None = None,
) -> ScoreResult:
    """Score ``request.source`` with the model ``request.model_ref`` of ``models`` into ``out``;
    resume the run already there when it is the same run. ``on_part`` hears of every chunk.

    Raises DataError (unreadable input, unknown or missing columns, bad values), NotFoundError
    (no such model or version), IntegrityError (a bundle that fails verification), ConfigError
    (the output holds another run and ``overwrite`` is off), StoreError.
    """
    if request.output_format not in OUTPUT_FORMATS:
        raise ConfigError(
            f"unknown output format {request.output_format!r} (use {', '.join(OUTPUT_FORMATS)})"
        )
    if request.chunk_rows < 1:
        raise ConfigError(f"chunk rows must be at least 1, got {request.chunk_rows}")
    began = time.perf_counter()
    loaded = LoadedModel.load(models, request.model_name, request.model_ref)
    schema = loaded.manifest.feature_schema
    info = ModelInfo(
        name=loaded.manifest.name,
        version=loaded.manifest.version,
        model_type=loaded.manifest.model_type,
        threshold=float(loaded.manifest.threshold),
    )
    with open_input(request.source, request.input_format, s3_options) as data:
        columns = check_columns(read_columns(data), schema)
        if data.rows == 0:
            raise DataError(f"input {data.source} has a header but no data rows")
        out.check()
        manifest = _start(request, out, data, info)
        kept = {p.index: p for p in manifest.parts}
        log.info(
            "scoring %s (%s rows) with %s/%s into %s, %d rows per part%s",
            data.source,
            f"{data.rows:,}" if data.rows is not None else "?",
            info.name,
            info.version,
            out.uri,
            request.chunk_rows,
            f", {len(kept)} part(s) kept from an earlier run" if kept else "",
        )
        parts: list[PartEntry] = []
        rows_done = scored = written = 0
        scoring_began = time.perf_counter()
        for chunk in iter_chunks(data, columns, request.chunk_rows):
            old = kept.get(chunk.index)
            if old is not None and old.first_row == chunk.start and old.rows == len(chunk.frame):
                part, fresh = old, False
            else:
                check_values(chunk, schema, data.format)
                frame = score_chunk(
                    loaded,
                    chunk,
                    info,
                    data.sha256,
                    explain=request.explain,
                    threads=request.threads,
                )
                part, fresh = _write_part(out, chunk, frame, request.output_format), True
                scored += part.rows
                written += 1
            parts.append(part)
            rows_done += part.rows
            if fresh:
                # Later parts recorded by the earlier run stay until they are checked or redone.
                manifest.parts = sorted(
                    [*parts, *(p for i, p in kept.items() if i > chunk.index)],
                    key=lambda p: p.index,
                )
                _save(out, manifest)
            if on_part is not None:
                elapsed = time.perf_counter() - scoring_began
                on_part(
                    PartEvent(part, fresh, rows_done, data.rows, scored / elapsed if scored else 0)
                )
        if not parts:  # a gzipped CSV's rows are only known once read
            raise DataError(f"input {data.source} has a header but no data rows")
        manifest.parts = parts
        manifest.status = "complete"
        manifest.rows = rows_done
        manifest.completed_at = datetime.now(UTC)
        _save(out, manifest)
        for key in out.list_keys(""):
            if _is_run_file(key) and key not in {p.key for p in parts} | {RUN_MANIFEST, SUCCESS}:
                out.delete(key)
        out.put_bytes(SUCCESS, f"{rows_done}\n".encode(), "text/plain")
    seconds = time.perf_counter() - began
    scoring = time.perf_counter() - scoring_began
    return ScoreResult(
        manifest=manifest,
        output_uri=out.uri,
        parts_written=written,
        parts_kept=len(parts) - written,
        seconds=seconds,
        rows_per_second=scored / scoring if scored and scoring > 0 else 0.0,
    )


def _start(
    request: ScoreRequest, out: ArtifactStore, data: LocalInput, info: ModelInfo
) -> RunManifest:
    """Return the manifest this run continues (the earlier run's, its unverifiable parts
    dropped) or starts (written before any part); refuse to mix two runs in one output."""
    now = datetime.now(UTC)
    fresh = RunManifest(
        input=InputInfo(
            source=data.source,
            format=data.format,
            size=data.size,
            sha256=data.sha256,
            rows=data.rows,
        ),
        model=info,
        chunk_rows=request.chunk_rows,
        output_format=request.output_format,
        explain=request.explain,
        started_at=now,
        updated_at=now,
    )
    try:
        existing = read_run_manifest(out)
    except ConfigError:
        if not request.overwrite:
            raise
        existing = None
    differences = existing.differences(fresh) if existing is not None else []
    if existing is not None and not differences:
        out.delete(SUCCESS)
        existing.status = "running"
        existing.completed_at = None
        existing.parts = [p for p in existing.parts if _verified(out, p)]
        existing.input.source = data.source
        _save(out, existing)
        return existing
    if differences and not request.overwrite:
        raise ConfigError(
            f"{out.uri} holds the output of another run ({'; '.join(differences)}): pass "
            "--overwrite to replace it, or choose another output"
        )
    leftovers = out.list_keys("")
    if leftovers and existing is None and not request.overwrite:
        raise ConfigError(
            f"{out.uri} already holds {len(leftovers)} file(s) and no porto-score run: pass "
            "--overwrite to replace them, or choose another output"
        )
    # --overwrite removes what porto-score writes, never anything else a user keeps there; the
    # same run is resumed, not replaced, so a retried Job keeps its parts even with it.
    for key in leftovers:
        if _is_run_file(key):
            out.delete(key)
    _save(out, fresh)
    return fresh


def _is_run_file(key: str) -> bool:
    return key in (RUN_MANIFEST, SUCCESS) or (key.startswith("part-") and "/" not in key)


def _verified(out: ArtifactStore, part: PartEntry) -> bool:
    """Whether the part file is there with the bytes the manifest recorded."""
    try:
        data = out.get_bytes(part.key)
    except NotFoundError:
        return False
    return len(data) == part.size and sha256_bytes(data) == part.sha256


def _write_part(out: ArtifactStore, chunk: Chunk, frame: pd.DataFrame, fmt: str) -> PartEntry:
    data = encode_part(frame, fmt)
    key = part_key(chunk.index, fmt)
    content_type = "text/csv" if fmt == "csv" else "application/vnd.apache.parquet"
    out.put_bytes(key, data, content_type)
    return PartEntry(
        index=chunk.index,
        key=key,
        first_row=chunk.start,
        rows=len(frame),
        size=len(data),
        sha256=sha256_bytes(data),
    )


def _save(out: ArtifactStore, manifest: RunManifest) -> None:
    manifest.updated_at = datetime.now(UTC)
    out.put_bytes(RUN_MANIFEST, manifest.model_dump_json(indent=2).encode(), "application/json")
