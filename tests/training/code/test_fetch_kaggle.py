"""``scripts/fetch-kaggle.sh`` (``make data-kaggle``): clear messages when the kaggle CLI or the
credentials are missing, and the download itself, against a stand-in ``kaggle`` command."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "fetch-kaggle.sh"

FAKE_KAGGLE = """#!/bin/sh
# Stand-in for the kaggle CLI: $FAKE_MODE picks the outcome.
[ "$FAKE_MODE" = forbidden ] && { echo "403 - Forbidden"; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in -f) file="$2"; shift;; -p) dest="$2"; shift;; esac
  shift
done
printf 'zip-of-%s' "$file" > "$dest/$file.zip"
"""


def _run(tmp_path: Path, *, with_cli: bool, **env: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if with_cli:
        fake = bin_dir / "kaggle"
        fake.write_text(FAKE_KAGGLE)
        fake.chmod(0o755)
    base = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "PORTO_DATA_DIR": str(tmp_path / "data"),
    }
    return subprocess.run(
        ["bash", str(SCRIPT)], env={**base, **env}, capture_output=True, text=True, check=False
    )


def test_missing_cli_is_explained(tmp_path: Path) -> None:
    proc = _run(tmp_path, with_cli=False)
    assert proc.returncode == 1
    assert "kaggle CLI is not installed" in proc.stderr


def test_missing_credentials_are_explained(tmp_path: Path) -> None:
    proc = _run(tmp_path, with_cli=True)
    assert proc.returncode == 1
    assert "no Kaggle credentials" in proc.stderr and "kaggle.json" in proc.stderr


@pytest.mark.parametrize("how", ["env", "file"])
def test_download_with_credentials(tmp_path: Path, how: str) -> None:
    env = {"KAGGLE_USERNAME": "u", "KAGGLE_KEY": "k"} if how == "env" else {}
    if how == "file":
        (tmp_path / "home" / ".kaggle").mkdir(parents=True)
        (tmp_path / "home" / ".kaggle" / "kaggle.json").write_text("{}")
    proc = _run(tmp_path, with_cli=True, **env)
    assert proc.returncode == 0, proc.stderr
    data = tmp_path / "data"
    assert (data / "train.csv.zip").read_text() == "zip-of-train.csv"
    assert (data / "test.csv.zip").exists()
    assert f"--data {data}/train.csv.zip" in proc.stdout


def test_rules_not_accepted(tmp_path: Path) -> None:
    proc = _run(tmp_path, with_cli=True, KAGGLE_USERNAME="u", KAGGLE_KEY="k", FAKE_MODE="forbidden")
    assert proc.returncode == 1
    assert "accept the rules" in proc.stderr
