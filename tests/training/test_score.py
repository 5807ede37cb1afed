"""``porto-score``: offline batch scoring of CSV and Parquet, local and on MinIO, with models the
training job published. Outputs equal the model's and the API's probabilities for the same rows;
an interrupted run (an exception after k parts, or a SIGKILLed process) resumes into exactly the
output of an uninterrupted one; another input or model in the same output is refused; bad input
ends in one ``error:`` line."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from porto.errors import ConfigError, DataError
from porto.registry import CHAMPION, Registry
from porto.schema import model_frame
from porto.store import ArtifactStore, FileStore, S3Options, S3Store, open_store
from porto.synthetic import generate
from porto_inference.api.app import create_app
from porto_inference.settings import Settings
from porto_training.config import load_config
from porto_training.pipeline import run_training
from porto_training.score import (
    CONTRIBUTION_PREFIX,
    RUN_MANIFEST,
    SUCCESS,
    LoadedModel,
    PartEvent,
    ScoreRequest,
    read_output,
    read_run_manifest,
    run_scoring,
)
from porto_training.score_cli import app, default_output
from training.conftest import FAST
from typer.testing import CliRunner

ROWS = 12_000  # above the API's 10,000-row batch limit
MODEL = "porto"
LINEAR = "porto-lr"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PORTO_HOME whose store holds a CatBoost champion (``porto``) and a logistic-regression
    one (``porto-lr``), both trained by the training job on 4,000 synthetic rows."""
    root = tmp_path_factory.mktemp("score-home")
    store = str(root / "artifacts")
    for name, kind in ((MODEL, "catboost"), (LINEAR, "sklearn")):
        overrides = {"output.store": store, "data.synthetic.rows": 4_000, "output.name": name}
        run_training(load_config(None, [*FAST, f"model.type={kind}"], overrides))
    return root


@pytest.fixture(scope="module")
def models(home: Path) -> ArtifactStore:
    return FileStore(home / "artifacts")


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    """12,000 unseen synthetic rows with id and target columns."""
    return generate(ROWS, seed=9).frame


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, data: pd.DataFrame) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("score-data")
    paths = {"csv": root / "rows.csv", "parquet": root / "rows.parquet"}
    data.to_csv(paths["csv"], index=False)
    data.to_parquet(paths["parquet"], index=False)
    return paths


def _request(source: Path | str, **changes: object) -> ScoreRequest:
    base = ScoreRequest(source=str(source), model_name=MODEL, model_ref=CHAMPION, threads=2)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _expected(models: ArtifactStore, data: pd.DataFrame, name: str = MODEL) -> np.ndarray:
    loaded = LoadedModel.load(models, name, CHAMPION)
    return loaded.model.predict_proba(model_frame(data, loaded.manifest.feature_schema))


@pytest.mark.parametrize(("fmt", "output_format"), [("csv", "parquet"), ("parquet", "csv")])
def test_scores_every_row_like_the_model(
    models: ArtifactStore,
    data: pd.DataFrame,
    files: dict[str, Path],
    tmp_path: Path,
    fmt: str,
    output_format: str,
) -> None:
    out = FileStore(tmp_path / "out")
    result = run_scoring(
        _request(files[fmt], chunk_rows=5_000, output_format=output_format), models, out
    )
    manifest = result.manifest
    champion = Registry(models, MODEL).get(CHAMPION)
    assert manifest.status == "complete" and manifest.rows == ROWS
    assert [(p.key, p.rows) for p in manifest.parts] == [
        (f"part-00000.{output_format}", 5_000),
        (f"part-00001.{output_format}", 5_000),
        (f"part-00002.{output_format}", 2_000),
    ]
    assert manifest.input.rows == ROWS and manifest.input.format == fmt
    assert manifest.model.version == champion.version
    assert out.exists(SUCCESS)
    scored = read_output(out)
    assert len(scored) == ROWS > 10_000
    assert list(scored.columns) == [
        "row",
        "id",
        "prediction_id",
        "probability",
        "class",
        "model_name",
        "model_version",
    ]
    assert scored["row"].tolist() == list(range(ROWS))
    assert scored["id"].tolist() == data["id"].tolist()
    np.testing.assert_allclose(scored["probability"], _expected(models, data), rtol=0, atol=1e-12)
    threshold = champion.threshold
    assert scored["class"].tolist() == (scored["probability"] >= threshold).astype(int).tolist()
    assert set(scored["model_version"]) == {champion.version}
    assert set(scored["model_name"]) == {MODEL}
    assert scored["prediction_id"].is_unique
    assert all(uuid.UUID(p).version == 5 for p in scored["prediction_id"][:5])


def test_probabilities_equal_the_apis(
    home: Path, models: ArtifactStore, data: pd.DataFrame, files: dict[str, Path], tmp_path: Path
) -> None:
    out = FileStore(tmp_path / "out")
    run_scoring(_request(files["csv"], chunk_rows=4_000), models, out)
    scored = read_output(out)
    settings = Settings(home=home, prediction_log=False, log_requests=False, poll_interval_s=3600)
    rows = data.drop(columns=["target"]).iloc[7_000:7_600]
    with TestClient(create_app(settings)) as client:
        r = client.post(
            "/predict/batch",
            content=rows.to_csv(index=False),
            headers={"content-type": "text/csv"},
        )
    assert r.status_code == 200, r.text
    body = r.json()
    api = pd.DataFrame(body["predictions"])
    mine = scored.iloc[7_000:7_600].reset_index(drop=True)
    assert body["model_version"] == mine["model_version"][0]
    assert api["id"].tolist() == mine["id"].tolist()
    np.testing.assert_allclose(mine["probability"], api["probability"], rtol=0, atol=1e-12)
    assert mine["class"].tolist() == api["class"].tolist()


@pytest.mark.parametrize("name", [MODEL, LINEAR])
def test_explanations_sum_to_the_raw_score(
    models: ArtifactStore, files: dict[str, Path], tmp_path: Path, name: str
) -> None:
    out = FileStore(tmp_path / "out")
    run_scoring(
        _request(files["parquet"], model_name=name, explain=True, chunk_rows=3_000), models, out
    )
    scored = read_output(out)
    names = Registry(models, name).get(CHAMPION).feature_schema.names
    contributions = [f"{CONTRIBUTION_PREFIX}{n}" for n in names]
    assert [c for c in scored.columns if c.startswith(CONTRIBUTION_PREFIX)] == contributions
    raw = scored["base_value"] + scored[contributions].sum(axis=1)
    p = scored["probability"].to_numpy()
    np.testing.assert_allclose(raw, np.log(p / (1 - p)), rtol=0, atol=1e-6)


class _CrashError(Exception):
    pass


def _crash_after(parts: int) -> Callable[[PartEvent], None]:
    seen: list[PartEvent] = []

    def on_part(event: PartEvent) -> None:
        seen.append(event)
        if len(seen) == parts:
            raise _CrashError

    return on_part


def test_resumes_after_a_crash_without_duplicates(
    models: ArtifactStore, files: dict[str, Path], tmp_path: Path
) -> None:
    reference = FileStore(tmp_path / "reference")
    run_scoring(_request(files["csv"], chunk_rows=2_000), models, reference)
    out = FileStore(tmp_path / "out")
    with pytest.raises(_CrashError):
        run_scoring(_request(files["csv"], chunk_rows=2_000), models, out, on_part=_crash_after(2))
    interrupted = read_run_manifest(out)
    assert interrupted is not None and interrupted.status == "running"
    assert [p.index for p in interrupted.parts] == [0, 1]
    assert not out.exists(SUCCESS)
    before = {p.key: out.get_bytes(p.key) for p in interrupted.parts}

    events: list[PartEvent] = []
    result = run_scoring(
        _request(files["csv"], chunk_rows=2_000), models, out, on_part=events.append
    )
    assert (result.parts_kept, result.parts_written) == (2, 4)
    assert [e.written for e in events] == [False, False, True, True, True, True]
    assert [e.rows_done for e in events] == [2_000 * k for k in range(1, 7)]
    assert {k: out.get_bytes(k) for k in before} == before  # kept, not rewritten
    scored = read_output(out)
    assert scored["row"].tolist() == list(range(ROWS))
    pd.testing.assert_frame_equal(scored, read_output(reference))
    assert sorted(out.list_keys("")) == sorted(reference.list_keys(""))


def test_redoes_a_damaged_or_missing_part(
    models: ArtifactStore, files: dict[str, Path], tmp_path: Path
) -> None:
    out = FileStore(tmp_path / "out")
    run_scoring(_request(files["parquet"], chunk_rows=3_000), models, out)
    reference = read_output(out)
    out.put_bytes("part-00001.parquet", b"PAR1 damaged")
    out.delete("part-00003.parquet")
    result = run_scoring(_request(files["parquet"], chunk_rows=3_000), models, out)
    assert (result.parts_kept, result.parts_written) == (2, 2)
    pd.testing.assert_frame_equal(read_output(out), reference)
    # Complete and intact: a re-run writes nothing.
    again = run_scoring(_request(files["parquet"], chunk_rows=3_000), models, out)
    assert (again.parts_kept, again.parts_written) == (4, 0)


def test_a_killed_process_resumes(
    home: Path, models: ArtifactStore, files: dict[str, Path], tmp_path: Path
) -> None:
    output = tmp_path / "out"
    command = [
        *(sys.executable, "-m", "porto_training.score_cli", str(files["csv"])),
        *("--store", str(home / "artifacts"), "--output", str(output), "--chunk-rows", "300"),
        *("--threads", "1"),
    ]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL, env=os.environ.copy())
    manifest = output / RUN_MANIFEST
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if manifest.exists() and len(json.loads(manifest.read_bytes())["parts"]) >= 3:
                break
            assert process.poll() is None, "porto-score ended before it could be killed"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(30)
    out = FileStore(output)
    killed = read_run_manifest(out)
    assert killed is not None and killed.status == "running" and len(killed.parts) < 40
    result = CliRunner().invoke(app, command[3:])
    assert result.exit_code == 0, result.output
    reference = FileStore(tmp_path / "reference")
    run_scoring(_request(files["csv"], chunk_rows=300), models, reference)
    pd.testing.assert_frame_equal(read_output(out), read_output(reference))


def test_refuses_another_input_or_model_unless_overwrite(
    models: ArtifactStore, data: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "rows.csv"
    data.iloc[:1_000].to_csv(source, index=False)
    out = FileStore(tmp_path / "out")
    run_scoring(_request(source), models, out)
    data.iloc[1_000:2_000].to_csv(source, index=False)
    with pytest.raises(ConfigError, match=r"another run .*input sha256.*--overwrite"):
        run_scoring(_request(source), models, out)
    with pytest.raises(ConfigError, match="model porto → porto-lr"):
        run_scoring(_request(source, model_name=LINEAR), models, out)
    result = run_scoring(_request(source, overwrite=True), models, out)
    assert result.parts_written == 1
    # The same run resumes even with overwrite (a retried scheduled Job keeps its parts).
    again = run_scoring(_request(source, overwrite=True), models, out)
    assert (again.parts_kept, again.parts_written) == (1, 0)
    assert read_output(out)["id"].tolist() == data["id"].iloc[1_000:2_000].tolist()
    # A directory holding something else is never written into.
    other = FileStore(tmp_path / "other")
    other.put_bytes("notes.txt", b"mine")
    with pytest.raises(ConfigError, match="no porto-score run"):
        run_scoring(_request(source), models, other)


def test_cli_default_output_in_the_store(home: Path, files: dict[str, Path]) -> None:
    store = str(home / "artifacts")
    runner = CliRunner()
    args = [str(files["parquet"]), "--store", store, "--json", "-f", "csv", "--threads", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest["status"] == "complete" and manifest["rows"] == ROWS
    out = open_store(default_output(store, MODEL, str(files["parquet"])))
    assert out.uri.endswith("/predictions/porto/rows")
    assert len(read_output(out)) == ROWS
    assert "part 00000 kept" in runner.invoke(app, args).output


def _write(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d, p: str(p / "nothing.csv"), "does not exist"),
        (lambda d, p: _write(p, "empty.csv", ""), "is empty"),
        (lambda d, p: _write(p, "header.csv", d.iloc[:0].to_csv(index=False)), "no data rows"),
        (lambda d, p: _write(p, "bad.parquet", b"PAR1 not parquet"), "as Parquet"),
        (
            lambda d, p: _write(p, "x.csv", d.assign(colour="red").to_csv(index=False)),
            "unknown column(s) 'colour'",
        ),
        (
            lambda d, p: _write(p, "x.csv", d.drop(columns=["ps_car_13"]).to_csv(index=False)),
            "missing feature column(s) 'ps_car_13'",
        ),
        (
            lambda d, p: _write(
                p, "x.csv", d.astype({"ps_reg_01": object}).pipe(_put, 4, "ps_reg_01", "high")
            ),
            "line 6, column 'ps_reg_01': expected a number, got 'high'",
        ),
        (
            lambda d, p: _write(p, "x.csv", d.pipe(_put, 2, "ps_ind_06_bin", 2)),
            "line 4, column 'ps_ind_06_bin': expected 0 or 1 (binary feature), got 2",
        ),
        (
            lambda d, p: _write(p, "x.csv", d.pipe(_put, 2, "ps_reg_03", np.inf)),
            "line 4, column 'ps_reg_03': expected a finite number",
        ),
        (
            lambda d, p: _write(p, "x.csv", d.to_csv(index=False) + "1," * 70 + "\n"),
            "cannot parse input",
        ),
    ],
    ids=[
        "missing",
        "empty",
        "header",
        "parquet",
        "unknown",
        "missing-col",
        "text",
        "binary",
        "inf",
        "ragged",
    ],
)
def test_bad_input_is_one_error_line(
    home: Path,
    data: pd.DataFrame,
    tmp_path: Path,
    make: Callable[[pd.DataFrame, Path], str],
    message: str,
) -> None:
    source = make(data.iloc[:50].copy(), tmp_path)
    result = CliRunner().invoke(
        app, [source, "--store", str(home / "artifacts"), "-o", str(tmp_path / "out")]
    )
    assert result.exit_code == 1, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, result.stderr
    assert "Traceback" not in result.output


def _put(frame: pd.DataFrame, row: int, column: str, value: Any) -> str:
    frame.loc[frame.index[row], column] = value
    return frame.to_csv(index=False)


def test_unknown_version_and_bad_options(
    home: Path, files: dict[str, Path], tmp_path: Path
) -> None:
    base = [str(files["csv"]), "--store", str(home / "artifacts"), "-o", str(tmp_path / "o")]
    for extra, message in (
        (["-m", "nope"], "has no version or alias 'nope'"),
        (["-f", "xlsx"], "unknown output format 'xlsx'"),
        (["--input-format", "json"], "unknown input format 'json'"),
    ):
        result = CliRunner().invoke(app, [*base, *extra])
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("error: ") and message in result.stderr


@pytest.mark.integration
def test_s3_input_and_output_on_minio(
    models: ArtifactStore,
    data: pd.DataFrame,
    files: dict[str, Path],
    s3_options: S3Options,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PORTO_S3_ENDPOINT_URL", s3_options.endpoint_url or "")
    monkeypatch.setenv("PORTO_S3_ACCESS_KEY", s3_options.access_key or "")
    monkeypatch.setenv("PORTO_S3_SECRET_KEY", s3_options.secret_key or "")
    bucket = f"porto-score-{uuid.uuid4().hex[:10]}"
    S3Store(bucket, "", dataclasses.replace(s3_options)).put_bytes(
        "in/rows.parquet", files["parquet"].read_bytes()
    )
    source = f"s3://{bucket}/in/rows.parquet"
    out = open_store(f"s3://{bucket}/predictions/run-1")
    with pytest.raises(_CrashError):
        run_scoring(_request(source, chunk_rows=5_000), models, out, on_part=_crash_after(1))
    result = run_scoring(_request(source, chunk_rows=5_000), models, out)
    assert (result.parts_kept, result.parts_written) == (1, 2)
    assert result.manifest.input.source == source
    keys = S3Store(bucket, "", dataclasses.replace(s3_options)).list_keys("predictions/run-1")
    assert sorted(keys) == sorted(
        f"predictions/run-1/{k}"
        for k in (
            RUN_MANIFEST,
            SUCCESS,
            "part-00000.parquet",
            "part-00001.parquet",
            "part-00002.parquet",
        )
    )
    local = FileStore(tmp_path / "local")
    run_scoring(_request(files["csv"], chunk_rows=5_000), models, local)
    s3 = read_output(out)
    np.testing.assert_allclose(s3["probability"], _expected(models, data), rtol=0, atol=1e-12)
    assert s3["id"].tolist() == data["id"].tolist()
    # The same rows from another file: same probabilities, other ids (another input).
    np.testing.assert_allclose(s3["probability"], read_output(local)["probability"], atol=1e-12)
    with pytest.raises(DataError, match="does not exist"):
        run_scoring(_request(f"s3://{bucket}/in/none.csv"), models, FileStore(tmp_path / "x"))


def test_parquet_chunks_ignore_row_groups(
    models: ArtifactStore, data: pd.DataFrame, tmp_path: Path
) -> None:
    """Row groups of 1,000 rows, chunks of 2,500: every part but the last holds 2,500 rows."""
    source = tmp_path / "groups.parquet"
    data.to_parquet(source, index=False, row_group_size=1_000)
    out = FileStore(tmp_path / "out")
    result = run_scoring(_request(source, chunk_rows=2_500), models, out)
    assert [p.rows for p in result.manifest.parts] == [2_500] * 4 + [2_000]
    scored = read_output(out)
    assert scored["id"].tolist() == data["id"].tolist()
    np.testing.assert_allclose(scored["probability"], _expected(models, data), rtol=0, atol=1e-12)


def test_reads_the_output_back_as_one_frame(
    models: ArtifactStore, files: dict[str, Path], tmp_path: Path
) -> None:
    out = FileStore(tmp_path / "out")
    run_scoring(_request(files["csv"], output_format="csv", chunk_rows=7_000), models, out)
    first = pd.read_csv(io.BytesIO(out.get_bytes("part-00000.csv")))
    assert len(first) == 7_000 and first["row"].iloc[-1] == 6_999
