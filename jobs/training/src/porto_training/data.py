"""Reading the dataset: a local path or ``s3://bucket/key``; CSV (also gzipped), zipped CSV or
Parquet; or, with no path, porto's SYNTHETIC generator.

The raw bytes are read once: their sha256 is the dataset fingerprint recorded in the manifest,
and the frame is parsed from those same bytes, so the fingerprint describes exactly what was
trained on. Every way a file can be unusable becomes one :class:`porto.errors.DataError` line.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from porto.errors import DataError, NotFoundError, StoreError
from porto.hashing import sha256_bytes
from porto.store import S3Options, S3Store, split_s3_uri
from porto.synthetic import generate

from porto_training.config import DataConfig

SYNTHETIC_SOURCE = "synthetic:porto.synthetic.generate"


@dataclass(frozen=True)
class Dataset:
    """A loaded dataset and where it came from."""

    frame: pd.DataFrame
    source: str
    fingerprint: str
    synthetic: bool = False
    #: For synthetic data, the probability each row's label was drawn from (for the oracle AUC).
    probability: np.ndarray | None = None


def read_source(source: str, s3_options: S3Options | None = None) -> bytes:
    """Return the raw bytes of a local file or ``s3://bucket/key`` object."""
    if source.startswith("s3://"):
        bucket, key = split_s3_uri(source)
        store = S3Store(bucket, "", s3_options or S3Options.from_env())
        try:
            return store.get_bytes(key)
        except NotFoundError as exc:
            raise DataError(f"data file {source} does not exist") from exc
        except StoreError as exc:
            raise DataError(f"cannot read data file {source}: {exc.message}") from exc
    path = Path(source).expanduser()
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise DataError(f"data file {source} does not exist") from exc
    except IsADirectoryError as exc:
        raise DataError(f"data file {source} is a directory, not a file") from exc
    except PermissionError as exc:
        raise DataError(f"cannot read data file {source}: permission denied") from exc
    except OSError as exc:
        raise DataError(f"cannot read data file {source}: {exc.strerror or exc}") from exc


def detect_format(source: str, data: bytes) -> str:
    """Return ``csv``, ``zip`` or ``parquet`` from the file's magic bytes, then its suffix."""
    if data[:4] == b"PK\x03\x04":
        return "zip"
    if data[:4] == b"PAR1":
        return "parquet"
    name = source.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    return "csv"


def parse_bytes(data: bytes, source: str, fmt: str = "auto") -> pd.DataFrame:
    """Return the frame held in ``data`` (the raw bytes of ``source``) in format ``fmt``."""
    if not data.strip():
        raise DataError(f"data file {source} is empty")
    fmt = detect_format(source, data) if fmt == "auto" else fmt
    if fmt == "zip":
        return _parse_csv(_unzip_csv(data, source), source)
    if fmt == "parquet":
        try:
            return pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises several unrelated types for a bad file
            raise DataError(
                f"cannot read data file {source} as Parquet: {_first_line(exc)}"
            ) from exc
    return _parse_csv(data, source)


def _unzip_csv(data: bytes, source: str) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            csvs = [m for m in members if m.filename.lower().endswith(".csv")] or members
            if len(csvs) != 1:
                names = ", ".join(m.filename for m in members) or "nothing"
                raise DataError(f"zip file {source} must hold exactly one CSV file, not {names}")
            return archive.read(csvs[0])
    except zipfile.BadZipFile as exc:
        raise DataError(f"data file {source} is not a valid zip archive") from exc


def _parse_csv(data: bytes, source: str) -> pd.DataFrame:
    if data[:2] == b"\x1f\x8b":  # gzip-compressed CSV (train.csv.gz)
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise DataError(f"data file {source} is not a valid gzip file") from exc
    if not data.strip():
        raise DataError(f"data file {source} is empty")
    try:
        # low_memory=False: one dtype per column, so a stray string makes the whole column
        # ``object`` (caught by validation) instead of silently mixing types per chunk.
        return pd.read_csv(io.BytesIO(data), low_memory=False)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"data file {source} is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"cannot parse data file {source} as CSV: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def synthetic_fingerprint(rows: int, seed: int, positive_rate: float) -> str:
    """Return the fingerprint of a synthetic dataset: the sha256 of its generator spec."""
    spec: dict[str, object] = {
        "generator": "porto.synthetic.generate",
        "rows": rows,
        "seed": seed,
        "positive_rate": positive_rate,
    }
    return sha256_bytes(json.dumps(spec, sort_keys=True).encode())


def load_dataset(config: DataConfig, *, seed: int, s3_options: S3Options | None = None) -> Dataset:
    """Return the dataset ``config`` names, or SYNTHETIC data when it names no path."""
    if config.path is None:
        syn = config.synthetic
        generated = generate(syn.rows, seed=seed, positive_rate=syn.positive_rate)
        return Dataset(
            frame=generated.frame,
            source=f"{SYNTHETIC_SOURCE}(rows={syn.rows}, seed={seed})",
            fingerprint=synthetic_fingerprint(syn.rows, seed, syn.positive_rate),
            synthetic=True,
            probability=generated.probability,
        )
    data = read_source(config.path, s3_options)
    frame = parse_bytes(data, config.path, config.format)
    return Dataset(frame=frame, source=config.path, fingerprint=sha256_bytes(data))
