"""The contracts are read by the UI, which installs no model library: importing them pulls in
pydantic and porto's light modules only."""

from __future__ import annotations

import subprocess
import sys

from harness.import_blocker import guarded

HEAVY = ("catboost", "sklearn", "skops", "scipy", "boto3", "botocore", "matplotlib", "fastapi")

CODE = """
import porto.contracts.api, porto.contracts.insights, porto.contracts.plots, porto.contracts.run
print("ok")
"""


def test_contracts_import_no_model_library() -> None:
    done = subprocess.run(
        [sys.executable, "-c", guarded(HEAVY, CODE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == "ok"
