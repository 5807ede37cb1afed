"""Each image's virtualenv, built the way its Dockerfile builds it (the same `uv sync` flags, read
from the Dockerfile, then deploy/images/trim_venv.py), runs porto's real code paths without what
the image leaves out: training trains a CatBoost and a scikit-learn bundle (Parquet data, plots),
inference loads and scores both and parses a CSV body, the UI imports every module and renders
every page. Each check runs under an import hook that refuses the left-out packages, so an
import caught and ignored somewhere still fails the test. No Docker engine: the venvs are built
offline from uv's cache (what `make install` filled), hard-linked, without bytecode (which
changes no behaviour)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from harness.import_blocker import guarded
from harness.ports import free_port
from images.dockerfile import parse

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = {
    "porto-inference": REPO / "services/inference/Dockerfile",
    "porto-training": REPO / "jobs/training/Dockerfile",
    "porto-ui": REPO / "services/ui/Dockerfile",
}
#: Never imported in an image: parts trim_venv.py removes. (pyarrow._s3fs is removed too, but
#: pyarrow.fs tries it and carries on without it, as in pyarrow builds without S3: the checks
#: below run with it absent rather than refused.)
NEVER = ("kubernetes.aio", "aiohttp", "pyarrow.flight", "pyarrow._flight")
#: What the UI image must not carry, beyond what its Dockerfile leaves out.
#: (plotly is no dependency of the UI any more, but Streamlit probes it, as an optional library.)
UI_NEVER = ("catboost", "sklearn", "skops", "scipy", "boto3", "botocore", "matplotlib")
#: The inference image has no pyarrow at all (CSV bodies are read by pandas, csv_input.py;
#: test_the_trim_leaves_out_only_what_it_names checks it is absent): pandas probes for it, as an
#: optional library, so it is absent rather than refused.
EXTRA_NEVER = {"porto-ui": UI_NEVER}


def left_out(package: str) -> list[str]:
    """The distributions the final `uv sync` of ``package``'s Dockerfile leaves out."""
    stages = parse(DOCKERFILES[package]).stages
    syncs = [r.value for s in stages for r in s.all("RUN") if "uv sync" in r.value]
    return re.findall(r"--no-install-package\s+(\S+)", syncs[-1])


#: Import names of the left-out distributions whose import name differs.
IMPORT_NAMES = {
    "pillow": "PIL",
    "fonttools": "fontTools",
    "aiohttp-retry": "aiohttp_retry",
    "scikit-learn": "sklearn",
}


def blocked(package: str) -> list[str]:
    names = [IMPORT_NAMES.get(d, d.replace("-", "_")) for d in left_out(package)]
    return sorted({*names, *NEVER, *EXTRA_NEVER.get(package, ())})


@pytest.fixture(scope="module")
def venvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """package → its image's venv (built once for the module)."""
    uv = subprocess.run(
        [str(REPO / "scripts/ensure-uv.sh")], capture_output=True, text=True, check=True
    ).stdout.strip()
    root = tmp_path_factory.mktemp("image-venvs")
    built: dict[str, Path] = {}
    for package in DOCKERFILES:
        venv = root / package
        flags = [f for name in left_out(package) for f in ("--no-install-package", name)]
        env = {
            **os.environ,
            "UV_PROJECT_ENVIRONMENT": str(venv),
            "UV_OFFLINE": "1",
            "UV_LINK_MODE": "hardlink",
            "UV_COMPILE_BYTECODE": "0",
        }
        command = [uv, "sync", "--frozen", "--no-dev", "--no-editable", "--package", package]
        done = subprocess.run(
            [*command, *flags], cwd=REPO, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        # as the Dockerfile's build stage runs it (tests/images/test_dockerfiles.py checks that)
        image = package.removeprefix("porto-")
        trim = [sys.executable, str(REPO / "deploy/images/trim_venv.py"), str(venv)]
        trim += ["--strip", "--image", image]
        subprocess.run(trim, check=True, capture_output=True)
        if package == "porto-training":
            # as the Dockerfile does: the default config next to the installed package
            (installed,) = venv.glob("lib/python3.*/site-packages/porto_training")
            shutil.copy(REPO / "jobs/training/config.yaml", installed / "config.yaml")
        built[package] = venv
    return built


def run_in(venv: Path, package: str, code: str, cwd: Path, **env: str) -> str:
    """Run ``code`` with ``venv``'s Python under the import blocker; return its stdout."""
    script = guarded(blocked(package), textwrap.dedent(code))
    done = subprocess.run(
        [str(venv / "bin/python"), "-c", script],
        cwd=cwd,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "MPLCONFIGDIR": str(cwd), **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_the_trim_leaves_out_only_what_it_names(venvs: dict[str, Path]) -> None:
    for package, venv in venvs.items():
        (site,) = venv.glob("lib/python3.*/site-packages")
        assert not list(site.glob("*/tests")), package
        if package == "porto-inference":
            assert not (site / "pyarrow").exists()
            continue
        assert not (site / "pyarrow" / "include").exists()
        assert list((site / "pyarrow").glob("_csv.*.so"))
        for name in left_out(package):
            assert not list(site.glob(f"{name.replace('-', '_')}-*.dist-info")), (package, name)


def test_training_then_inference_without_what_their_images_leave_out(
    venvs: dict[str, Path], tmp_path: Path
) -> None:
    training, inference = venvs["porto-training"], venvs["porto-inference"]
    store = tmp_path / "artifacts"
    fast = [
        "--set=model.catboost.iterations=30",
        "--set=insights.shap_rows=100",
        "--set=insights.mutual_info_rows=500",
        "--metrics-port=0",
    ]
    trained = run_in(
        training,
        "porto-training",
        f"""
        import json, sys
        from typer.testing import CliRunner
        from porto_training.cli import app
        runner = CliRunner()
        data = {str(tmp_path / "train.parquet")!r}
        result = runner.invoke(app, ["generate", "--rows", "1500", "--seed", "4", "--out", data])
        assert result.exit_code == 0, result.output
        for extra in ([], ["--set=model.type=sklearn"]):
            args = ["train", "--store", {str(store)!r}, "--data", data, "--json", *{fast!r}, *extra]
            result = runner.invoke(app, args)
            assert result.exit_code == 0, result.output
            manifest = json.loads(result.stdout)
            print(manifest["version"], manifest["model_type"])
        """,
        tmp_path,
    )
    out = run_in(
        inference,
        "porto-inference",
        f"""
        import numpy as np
        from porto.registry import Registry
        from porto.store import FileStore
        from porto.schema import typical_record
        from porto_inference.scoring.batch import Problems
        from porto_inference.scoring.csv_input import encode_csv
        from porto_inference.scoring.model import ServedModel
        store = FileStore({str(store)!r})
        for version in Registry(store, "porto").versions():
            served = ServedModel.load(store, "porto", version)
            record = typical_record(served.manifest.feature_schema)
            names = list(record)
            body = (",".join(names) + "\\n" + ",".join(
                "" if record[n] is None else str(record[n]) for n in names) + "\\n").encode()
            batch = encode_csv(served.codec, body, Problems())
            proba = served.predict(batch)
            assert proba.shape == (1,) and 0.0 <= float(proba[0]) <= 1.0, proba
            print(served.manifest.model_type, float(proba[0]))
        """,
        tmp_path,
    )
    assert sorted(line.split()[0] for line in out.splitlines()) == ["catboost", "sklearn"], (
        trained,
        out,
    )


def test_the_ui_imports_and_renders_every_page_without_what_its_image_leaves_out(
    venvs: dict[str, Path], tmp_path: Path
) -> None:
    ui = venvs["porto-ui"]
    app = REPO / "services/ui/src/porto_ui/app.py"
    out = run_in(
        ui,
        "porto-ui",
        f"""
        import importlib, pkgutil
        import porto_ui
        for module in pkgutil.walk_packages(porto_ui.__path__, "porto_ui."):
            if module.name not in ("porto_ui.app", "porto_ui.__main__") and (
                ".app_pages." not in module.name
            ):
                importlib.import_module(module.name)
        import porto.cluster, porto.labels, porto.reference, porto.schema
        from streamlit.testing.v1 import AppTest
        for page in ("inference", "training", "comparison", "monitoring"):
            at = AppTest.from_file({str(app)!r}, default_timeout=60)
            at.run()
            if page != "inference":
                at.switch_page(f"app_pages/{{page}}.py")
                at.run()
            assert not at.exception, [e.value for e in at.exception]
            print(page, len(at.error))
        """,
        tmp_path,
        PORTO_UI_API_URL=f"http://127.0.0.1:{free_port()}",
        PORTO_UI_METRICS_PORT="0",
        PORTO_UI_MONITOR_REFRESH_S="0",
        PORTO_UI_CONNECT_TIMEOUT_S="0.5",
    )
    assert len(out.splitlines()) == 4, out
