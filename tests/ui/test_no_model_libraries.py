"""The UI's code imports no model library (the UI image carries none): every porto_ui module and
the porto modules it uses, imported in the dev environment (where catboost and the rest are
installed) behind an import hook that refuses them."""

from __future__ import annotations

import subprocess
import sys

from harness.import_blocker import guarded

#: The libraries of porto[models] and porto[s3], and catboost's matplotlib. (Not plotly: Streamlit
#: probes it on import, as an optional library of its own.)
MODEL_LIBRARIES = (
    "catboost",
    "sklearn",
    "skops",
    "scipy",
    "boto3",
    "botocore",
    "matplotlib",
)

IMPORT_EVERYTHING = """
import importlib, pkgutil
import porto_ui
names = [m.name for m in pkgutil.walk_packages(porto_ui.__path__, "porto_ui.")]
for name in names:
    # the entry script and the page scripts run under Streamlit, not as imports
    if name not in ("porto_ui.app", "porto_ui.__main__") and ".app_pages." not in name:
        importlib.import_module(name)
import porto.cluster, porto.labels, porto.reference, porto.schema
print(len(names))
"""


def test_no_porto_ui_module_imports_a_model_library() -> None:
    done = subprocess.run(
        [sys.executable, "-c", guarded(MODEL_LIBRARIES, IMPORT_EVERYTHING)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.split()[-1]) >= 20, done.stdout


def test_the_hook_catches_a_model_library() -> None:
    code = "import porto.flavors as f\nf.load_model('catboost', b'')"
    done = subprocess.run(
        [sys.executable, "-c", guarded(MODEL_LIBRARIES, code)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode != 0 and "catboost" in done.stderr, done.stderr
