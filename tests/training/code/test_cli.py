"""The ``porto-train`` CLI: every stage command, the registry commands, and ``error: <message>``
with a non-zero exit (never a traceback) for every porto failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from harness.ports import free_port
from porto.registry import CHAMPION, LATEST, Registry
from porto.store import FileStore
from porto_training.cli import app
from typer.testing import CliRunner

FAST = [
    "--set=model.catboost.iterations=40",
    "--set=insights.shap_rows=200",
    "--set=insights.mutual_info_rows=1000",
    "--metrics-port=0",
]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _train(runner: CliRunner, store: Path, *args: str) -> dict[str, object]:
    result = runner.invoke(app, ["train", "--store", str(store), "--json", *FAST, *args])
    assert result.exit_code == 0, result.output
    manifest: dict[str, object] = json.loads(result.stdout)
    return manifest


def test_generate_then_validate_each_format(runner: CliRunner, tmp_path: Path) -> None:
    for name in ("train.csv", "train.csv.zip", "train.parquet"):
        out = tmp_path / name
        result = runner.invoke(app, ["generate", "--rows", "800", "--seed", "3", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert "SYNTHETIC" in result.stdout
        result = runner.invoke(app, ["validate", "--data", str(out)])
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"ok: {out}: 800 rows, 59 columns")


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("", [], "is empty"),
        ("id,target,x\n", [], "has a header but no data rows"),
        ("id,x\n1,2\n", [], "missing required column(s) 'target'"),
        (
            "id,target,x\n1,0,1\n2,3,1\n",
            [],
            "target column 'target' has values [0, 3]: set data.positive_label (--positive-label)",
        ),
        ("id,target,x\n1,A,1\n2,B,1\n3,C,1\n", [], "has 3 values ['A', 'B', 'C']"),
        ("id,target,x\n1,yes,1\n2,no,1\n", ["--positive-label", "Maybe"], "'Maybe' is not a"),
        ("id,target,x\n1,0,1\n2,1,abc\n", [], "non-numeric values in numeric column(s) 'x'"),
        ("key,label,x\n1,0,1\n2,1,2\n", ["--target", "y"], "missing required column(s) 'y', 'id'"),
    ],
)
def test_validate_errors_are_one_line_and_exit_non_zero(
    runner: CliRunner, tmp_path: Path, content: str, args: list[str], message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    result = runner.invoke(app, ["validate", "--data", str(path), *args])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1  # one line, no traceback
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_custom_names_pass_validation(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "renamed.csv"
    pd.DataFrame({"key": [1, 2, 3], "label": [0, 1, 0], "x": [1.0, -9, 2]}).to_csv(
        path, index=False
    )
    args = ["validate", "--data", str(path), "--target", "label", "--id-column", "key"]
    result = runner.invoke(app, [*args, "--missing-value", "-9"])
    assert result.exit_code == 0, result.output
    no_id = ["validate", "--data", str(path), "--target", "label", "--id-column", ""]
    result = runner.invoke(app, no_id)
    assert result.exit_code == 0, result.output
    assert "2 features" in result.stdout  # key is a feature once it is not the id


def test_unreadable_and_bad_config_errors(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", "--data", str(tmp_path / "absent.csv")])
    assert result.exit_code == 1
    assert "error: data file" in result.stderr and "does not exist" in result.stderr
    result = runner.invoke(app, ["validate", "--data", str(tmp_path)])
    assert result.exit_code == 1 and "is a directory" in result.stderr
    result = runner.invoke(app, ["train", "--set", "model.depht=3", "--metrics-port=0"])
    assert result.exit_code == 1
    assert result.stderr == "error: config: model.depht: unknown key\n"


def test_train_list_show_promote_delete(runner: CliRunner, tmp_path: Path) -> None:
    store = tmp_path / "artifacts"
    first = _train(runner, store, "--rows", "3000")
    second = _train(runner, store, "--rows", "3000", "--model-type", "sklearn", "--seed", "7")
    registry = Registry(FileStore(store), "porto")
    assert registry.aliases()[LATEST] == second["version"]
    assert first["model_type"] == "catboost" and second["model_type"] == "sklearn"

    listed = runner.invoke(app, ["models", "list", "--store", str(store)])
    assert listed.exit_code == 0
    assert str(first["version"]) in listed.stdout and str(second["version"]) in listed.stdout
    as_json = json.loads(
        runner.invoke(app, ["models", "list", "--store", str(store), "--json"]).stdout
    )
    assert [v["version"] for v in as_json["porto"]] == [first["version"], second["version"]]

    shown = runner.invoke(app, ["models", "show", "latest", "--store", str(store)])
    assert shown.exit_code == 0 and str(second["version"]) in shown.stdout
    full = runner.invoke(
        app, ["models", "show", str(first["version"]), "--store", str(store), "--json"]
    )
    assert json.loads(full.stdout)["version"] == first["version"]

    promoted = runner.invoke(
        app, ["models", "promote", str(second["version"]), "--store", str(store)]
    )
    assert promoted.exit_code == 0
    assert registry.aliases()[CHAMPION] == second["version"]

    refused = runner.invoke(app, ["models", "delete", "champion", "--store", str(store)])
    assert refused.exit_code == 1 and "is the champion" in refused.stderr
    deleted = runner.invoke(app, ["models", "delete", str(first["version"]), "--store", str(store)])
    assert deleted.exit_code == 0
    assert registry.versions() == [second["version"]]

    missing = runner.invoke(app, ["models", "show", "nope", "--store", str(store)])
    assert missing.exit_code == 1
    assert missing.stderr == "error: model 'porto' has no version or alias 'nope'\n"


def test_promote_flag_and_training_from_a_file(
    runner: CliRunner, tmp_path: Path, csv_path: Path
) -> None:
    store = tmp_path / "artifacts"
    first = _train(runner, store, "--data", str(csv_path))
    weak = _train(
        runner,
        store,
        "--data",
        str(csv_path),
        "--set=data.columns.drop_prefixes=[ps_ind_, ps_car_]",
        "--promote",
    )
    registry = Registry(FileStore(store), "porto")
    assert registry.aliases()[CHAMPION] == weak["version"] != first["version"]
    assert weak["dataset"]["source"] == str(csv_path)  # type: ignore[index]


def test_unreachable_store_exits_non_zero_without_a_version(tmp_path: Path) -> None:
    """The real entry point in a subprocess: one ``error:`` line, exit 1, nothing written."""
    env = {
        **os.environ,
        "PORTO_HOME": str(tmp_path),
        "PORTO_S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "PORTO_S3_ACCESS_KEY": "k",
        "PORTO_S3_SECRET_KEY": "s",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "porto_training.cli",
            "train",
            "--store",
            "s3://bucket/models",
            "--rows",
            "2000",
            "--metrics-port",
            "0",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error: cannot reach S3 endpoint")
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "artifacts").exists()


def _porto_train(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "porto_training.cli", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_train_on_yes_no_labels_end_to_end(tmp_path: Path) -> None:
    """A real ``porto-train`` run on a CSV whose target is Yes/No (as users' data often is)
    into a file:// store: the classes are inferred, the manifest records the mapping, the
    metrics are those of the 0/1 classes; other pairs need --positive-label."""
    from porto.synthetic import generate

    frame = generate(2000, seed=11, positive_rate=0.2).frame
    frame["target"] = frame["target"].map({1: "Yes", 0: "No"})
    for label in ("Yes", "No"):  # one row of each class spelled in lower case
        first = frame.index[frame["target"] == label][0]
        frame.loc[first, "target"] = label.lower()
    data = tmp_path / "insurance.csv"
    frame.to_csv(data, index=False)
    positives = int(frame["target"].str.lower().eq("yes").sum())
    store = tmp_path / "artifacts"

    checked = _porto_train("validate", "--data", str(data))
    assert checked.returncode == 0, checked.stderr
    assert "classes: positive 'Yes' / negative 'No'" in checked.stdout
    assert f"{positives} positives" in checked.stdout

    proc = _porto_train("train", "--data", str(data), "--store", f"file://{store}", "--json", *FAST)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads(proc.stdout)
    assert manifest["labels"]["positive_label"] == "Yes"
    assert manifest["labels"]["negative_label"] == "No"
    assert sorted(manifest["labels"]["label_values"]) == ["No", "Yes", "no", "yes"]
    assert manifest["dataset"]["positives"] == positives
    assert manifest["config"]["data"]["positive_label"] is None
    # The column order of the training data, for positional full rows at inference.
    columns = [c for c in frame.columns if c not in ("id", "target")]
    assert manifest["feature_schema"]["dataset_columns"] == columns
    metrics = manifest["metrics"]
    assert metrics["class_balance"]["all"]["positives"] == positives
    assert metrics["roc_auc"] > 0.55  # the planted signal: flipped classes would give < 0.5
    stored = Registry(FileStore(store), "porto").get(CHAMPION)
    assert stored.labels is not None and stored.labels.positive_label == "Yes"
    shown = _porto_train("models", "show", "--store", f"file://{store}")
    assert "classes   positive 'Yes' / negative 'No'" in shown.stdout, shown.stderr

    # Labels porto does not guess: refused with the values and the fix, then accepted.
    frame["target"] = frame["target"].str.lower().map({"yes": "Claim", "no": "NoClaim"})
    frame.to_csv(data, index=False)
    refused = _porto_train("train", "--data", str(data), "--store", f"file://{store}", *FAST)
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[-1] + "\n" == (  # after the stage log lines
        "error: target column 'target' has values ['Claim', 'NoClaim']: set data.positive_label "
        "(--positive-label) to the positive class\n"
    )
    proc = _porto_train(
        "train",
        "--data",
        str(data),
        "--store",
        f"file://{store}",
        "--positive-label",
        "claim",
        "--json",
        *FAST,
    )
    assert proc.returncode == 0, proc.stderr
    labels = json.loads(proc.stdout)["labels"]
    assert (labels["positive_label"], labels["negative_label"]) == ("Claim", "NoClaim")
    assert json.loads(proc.stdout)["dataset"]["positives"] == positives


def test_sigterm_stops_a_run_at_once_without_publishing(tmp_path: Path) -> None:
    """``docker stop`` / a deleted Job's pod: SIGTERM mid-training ends the run like Ctrl-C (one
    ``error:`` line, no traceback, nothing published) with exit 143, so the Job controller never
    takes a stopped run for a finished one. (As PID 1 in a container, a process without a
    handler would ignore SIGTERM until the kubelet kills it.)"""
    from harness.ports import wait_until

    out, err = tmp_path / "out.log", tmp_path / "err.log"
    store = tmp_path / "artifacts"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "porto_training.cli",
                "train",
                "--store",
                str(store),
                "--rows",
                "200000",
                "--metrics-port",
                "0",
            ],
            env={**os.environ, "PORTO_HOME": str(tmp_path)},
            stdout=stdout,
            stderr=stderr,
        )
        try:
            wait_until(
                lambda: "porto_training: train: started" in err.read_text(),
                180,
                "CatBoost iterating",
                alive=lambda: proc.poll() is None,
            )
            proc.terminate()
            assert proc.wait(60) == 143
        finally:
            proc.kill()
    assert err.read_text().strip().splitlines()[-1] == "error: terminated (SIGTERM)"
    assert "Traceback" not in err.read_text()
    assert Registry(FileStore(store), "porto").versions() == []
