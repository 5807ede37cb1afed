"""Loading data: CSV, zipped CSV (as Kaggle ships train.csv.zip), Parquet, S3; fingerprints; and
every way a file can be unreadable, each as one DataError naming the file."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import re
import uuid
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from porto.errors import DataError
from porto.store import S3Options, S3Store
from porto.synthetic import SyntheticData
from porto_training.config import DataConfig
from porto_training.data import load_dataset, parse_bytes, synthetic_fingerprint


def _load(path: Path | str, **kwargs: object) -> pd.DataFrame:
    return load_dataset(DataConfig(path=str(path), **kwargs), seed=0).frame  # type: ignore[arg-type]


def _zip(path: Path, frame: pd.DataFrame, member: str = "train.csv") -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, frame.to_csv(index=False))
    return path


def test_csv_zip_and_parquet_give_the_same_frame(tmp_path: Path, small_data: SyntheticData) -> None:
    frame = small_data.frame
    csv = tmp_path / "train.csv"
    frame.to_csv(csv, index=False)
    zipped = _zip(tmp_path / "train.csv.zip", frame)
    parquet = tmp_path / "train.parquet"
    frame.to_parquet(parquet, index=False)
    for path in (csv, zipped, parquet):
        loaded = _load(path)
        pd.testing.assert_frame_equal(loaded, frame, check_dtype=False)


def test_format_comes_from_content_not_name(tmp_path: Path, small_data: SyntheticData) -> None:
    odd = tmp_path / "data.bin"
    small_data.frame.to_parquet(odd, index=False)
    assert len(_load(odd)) == len(small_data.frame)
    zipped = _zip(tmp_path / "noext", small_data.frame)
    assert len(_load(zipped)) == len(small_data.frame)


def test_explicit_format_is_used(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("id,target,x\n1,0,1.5\n2,1,2.5\n")
    assert list(_load(path, format="csv").columns) == ["id", "target", "x"]


def test_fingerprint_is_sha256_of_raw_bytes(csv_path: Path) -> None:
    ds = load_dataset(DataConfig(path=str(csv_path)), seed=0)
    assert ds.fingerprint == hashlib.sha256(csv_path.read_bytes()).hexdigest()
    assert ds.source == str(csv_path)
    assert not ds.synthetic and ds.probability is None


def test_no_path_means_synthetic_with_a_spec_fingerprint() -> None:
    cfg = DataConfig.model_validate({"synthetic": {"rows": 500}})
    ds = load_dataset(cfg, seed=9)
    assert ds.synthetic and len(ds.frame) == 500
    assert ds.probability is not None and len(ds.probability) == 500
    assert "synthetic" in ds.source
    assert ds.fingerprint == synthetic_fingerprint(500, 9, cfg.synthetic.positive_rate)
    assert ds.fingerprint != synthetic_fingerprint(500, 10, cfg.synthetic.positive_rate)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "is empty"),
        ("blank.csv", b"\n\n  \n", "is empty"),
        ("bad.zip", b"PK\x03\x04 this is not really a zip", "not a valid zip archive"),
        ("bad.parquet", b"PAR1 garbage", "as Parquet"),
        ("binary.csv", b"\xff\xfe\x00\x01\x02garbage\x00", "cannot parse"),
    ],
)
def test_unusable_files_name_the_file(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        _load(path)
    assert str(path) in info.value.message


def test_missing_path_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        _load(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a directory"):
        _load(tmp_path)


def test_zip_with_several_csvs_is_refused(tmp_path: Path, small_data: SyntheticData) -> None:
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", "x\n1\n")
        archive.writestr("b.csv", "x\n2\n")
    with pytest.raises(DataError, match="exactly one CSV"):
        _load(path)


def test_gzip_csv_is_read_by_pandas(tmp_path: Path) -> None:
    path = tmp_path / "d.csv.gz"
    path.write_bytes(gzip.compress(b"id,target,x\n1,0,1\n2,1,2\n"))
    frame = parse_bytes(path.read_bytes(), str(path))
    assert list(frame.columns) == ["id", "target", "x"]


@pytest.mark.integration
def test_s3_csv_zip_and_parquet(
    s3_options: S3Options,
    small_data: SyntheticData,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = f"porto-data-{uuid.uuid4().hex[:10]}"
    store = S3Store(bucket, "", dataclasses.replace(s3_options))
    frame = small_data.frame
    csv_bytes = frame.to_csv(index=False).encode()
    store.put_bytes("raw/train.csv", csv_bytes)
    store.put_bytes("raw/train.csv.zip", _zip(tmp_path / "t.zip", frame).read_bytes())
    pq = tmp_path / "t.parquet"
    frame.to_parquet(pq, index=False)
    store.put_bytes("raw/train.parquet", pq.read_bytes())
    # The job reads S3 settings from the environment, as it does in the cluster.
    monkeypatch.setenv("PORTO_S3_ENDPOINT_URL", s3_options.endpoint_url or "")
    monkeypatch.setenv("PORTO_S3_ACCESS_KEY", s3_options.access_key or "")
    monkeypatch.setenv("PORTO_S3_SECRET_KEY", s3_options.secret_key or "")
    for key in ("raw/train.csv", "raw/train.csv.zip", "raw/train.parquet"):
        ds = load_dataset(DataConfig(path=f"s3://{bucket}/{key}"), seed=0)
        pd.testing.assert_frame_equal(ds.frame, frame, check_dtype=False)
    ds = load_dataset(DataConfig(path=f"s3://{bucket}/raw/train.csv"), seed=0)
    assert ds.fingerprint == hashlib.sha256(csv_bytes).hexdigest()
    with pytest.raises(DataError, match=re.escape(f"s3://{bucket}/raw/absent.csv does not exist")):
        load_dataset(DataConfig(path=f"s3://{bucket}/raw/absent.csv"), seed=0)
    monkeypatch.setenv("PORTO_S3_SECRET_KEY", "wrong-secret")
    with pytest.raises(DataError, match=r"cannot read data file .*credentials"):
        load_dataset(DataConfig(path=f"s3://{bucket}/raw/train.csv"), seed=0)
