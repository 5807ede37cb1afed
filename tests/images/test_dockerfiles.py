"""The Dockerfiles, read without a Docker engine (tests/images/test_containers.py builds and runs
them): multi-stage builds from the lockfile on one BASE_IMAGE argument (default: the pinned slim
base), no frontend to pull, a numeric non-root user, entrypoints that exist, COPY sources that
exist and pass the .dockerignore, OCI labels, no secrets, and agreement with the chart (user,
ports, writable paths and volumes, arguments)."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from charts.chartlib import pod_templates, render
from images.dockerfile import Dockerfile, DockerIgnore, parse, substitute

REPO = Path(__file__).resolve().parents[2]
IMAGES = {
    "inference": (REPO / "services/inference/Dockerfile", "porto-inference"),
    "training": (REPO / "jobs/training/Dockerfile", "porto-training"),
    "ui": (REPO / "services/ui/Dockerfile", "porto-ui"),
}
CHART = REPO / "charts" / "porto"
BASE = re.compile(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?")
OCI_LABELS = {"title", "description", "source", "version", "revision", "created"}


@pytest.fixture(params=sorted(IMAGES))
def image(request: pytest.FixtureRequest) -> tuple[str, Dockerfile, str]:
    """(name, parsed Dockerfile, workspace package) of each image."""
    path, package = IMAGES[request.param]
    return request.param, parse(path), package


def _chart_values(name: str) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHART / "charts" / name / "values.yaml").read_text())
    return values


def test_builds_with_the_engines_own_frontend_in_three_stages(
    image: tuple[str, Dockerfile, str],
) -> None:
    """No `# syntax=` line: it makes BuildKit pull a frontend image, which fails with no
    registry. deps (downloads) -> build (porto's code, offline-capable) -> runtime."""
    _, dockerfile, _ = image
    assert "syntax" not in dockerfile.directives
    assert [stage.name for stage in dockerfile.stages] == ["deps", "build", "runtime"]
    assert dockerfile.stages[1].base == "deps"
    # Nothing from the build stage's tool chain reaches the image except the virtualenv.
    copies = [i.copy() for i in dockerfile.final.all("COPY")]
    assert [src for flags, src, _ in copies if flags.get("from")] == [["/app/.venv"]]


def test_every_stage_uses_the_same_pinned_slim_base(image: tuple[str, Dockerfile, str]) -> None:
    _, dockerfile, _ = image
    bases = {stage.base for stage in dockerfile.stages if stage.base != "deps"}
    assert len(bases) == 1, bases
    (base,) = bases
    assert BASE.fullmatch(base), f"{base}: pin python:3.11.<patch>-slim-bookworm (or a digest)"
    other = parse(IMAGES["inference"][0]).final.base
    assert base == other, "every image builds on the same base"
    text = dockerfile.path.read_text()
    assert text.count("FROM ${BASE_IMAGE} AS") == 2, "deps and runtime take the BASE_IMAGE arg"


def test_python_matches_the_workspace(image: tuple[str, Dockerfile, str]) -> None:
    _, dockerfile, _ = image
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())
    members = requires["tool"]["uv"]["workspace"]["members"]
    for member in members:
        spec = tomllib.loads((REPO / member / "pyproject.toml").read_text())
        assert spec["project"]["requires-python"] == ">=3.11,<3.12"
    assert dockerfile.final.base.startswith("python:3.11.")


def test_uv_is_the_pinned_version(image: tuple[str, Dockerfile, str]) -> None:
    _, dockerfile, _ = image
    pinned = re.search(
        r'UV_VERSION="\$\{UV_VERSION:-([\d.]+)\}"', (REPO / "scripts/ensure-uv.sh").read_text()
    )
    assert pinned
    args = dockerfile.stages[0].all("ARG")
    (uv,) = [a.pairs()["UV_VERSION"] for a in args if "UV_VERSION" in a.pairs()]
    assert uv == pinned.group(1)
    runs = " ".join(r.value for r in dockerfile.stages[0].all("RUN"))
    assert '"uv==${UV_VERSION}"' in runs


def test_dependencies_come_from_the_lockfile_without_dev_tools(
    image: tuple[str, Dockerfile, str],
) -> None:
    _, dockerfile, package = image
    # deps syncs the lockfile's packages, build (FROM deps) the project
    syncs = [r.value for s in dockerfile.stages for r in s.all("RUN") if "uv sync" in r.value]
    assert len(syncs) == 2, "dependencies first (cached layer), then the project"
    for command in syncs:
        for flag in ("--frozen", "--no-dev", f"--package {package}"):
            assert flag in command, f"{flag} missing in: {command}"
    assert "--no-install-workspace" in syncs[0]
    # uv reads the whole workspace: every member's pyproject.toml comes before the first sync.
    first_sync = next(i for i in dockerfile.stages[0].instructions if "uv sync" in i.value)
    before = dockerfile.stages[0].instructions[
        : dockerfile.stages[0].instructions.index(first_sync)
    ]
    copied = {src for i in before if i.keyword == "COPY" for src in i.copy()[1]}
    workspace = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    wanted = {f"{member}/pyproject.toml" for member in workspace["members"]}
    assert wanted | {"pyproject.toml", "uv.lock"} <= copied, wanted - copied
    assert "--no-editable" in syncs[1]
    # The project step can run offline (UV_OFFLINE=1: the suite), so nothing downloads after deps.
    assert [a.value for a in dockerfile.stages[1].all("ARG")] == ["UV_OFFLINE"]
    # What the image leaves out is left out by both syncs (the second would add it back), and
    # the venv is trimmed after the last one (tests/images/test_image_venvs.py runs it so).
    left_out = [re.findall(r"--no-install-package\s+(\S+)", s) for s in syncs]
    assert left_out[0] == left_out[1], left_out
    trim = (
        f"&& python3 /tmp/trim_venv.py /app/.venv --strip --image {package.removeprefix('porto-')}"
    )
    assert syncs[1].rstrip().endswith(trim), syncs[1]
    assert "source=deploy/images/trim_venv.py,target=/tmp/trim_venv.py" in syncs[1]
    env = dockerfile.stages[0].env()
    assert env["UV_PROJECT_ENVIRONMENT"] == "/app/.venv"
    assert env["UV_PYTHON_DOWNLOADS"] == "never"


def test_runs_as_a_numeric_non_root_user_the_chart_expects(
    image: tuple[str, Dockerfile, str],
) -> None:
    name, dockerfile, _ = image
    (user,) = dockerfile.final.all("USER")
    uid, _, gid = user.value.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    last = [i for i in dockerfile.final.instructions if i.keyword not in ("ARG", "LABEL")][-1]
    assert last.keyword in ("ENTRYPOINT", "CMD")
    after_user = dockerfile.final.instructions[dockerfile.final.instructions.index(user) :]
    assert not [i for i in after_user if i.keyword == "RUN"], "nothing runs as root after USER"
    context = _chart_values(name)["podSecurityContext"]
    assert (context["runAsUser"], context["runAsGroup"]) == (int(uid), int(gid))


def test_entrypoint_exists(image: tuple[str, Dockerfile, str]) -> None:
    name, dockerfile, package = image
    (entrypoint,) = dockerfile.final.all("ENTRYPOINT")
    program = entrypoint.exec_form()[0]
    if name == "inference":
        copied = {
            dest: src for flags, (src, *_), dest in (i.copy() for i in dockerfile.final.all("COPY"))
        }
        source = REPO / copied[f"/usr/local/bin/{program}"]
        assert source.read_text().startswith("#!/bin/sh\n")
        assert source.stat().st_mode & 0o111, f"{source} is not executable"
    else:
        project = dockerfile.path.parent / "pyproject.toml"
        spec = tomllib.loads(project.read_text())["project"]
        assert spec["name"] == package
        assert program in spec["scripts"], f"{program} is not a console script of {package}"


def test_copy_sources_exist_and_pass_the_dockerignore(image: tuple[str, Dockerfile, str]) -> None:
    _, dockerfile, _ = image
    ignore = DockerIgnore.read(REPO / ".dockerignore")
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True
    ).stdout.split()
    for stage in dockerfile.stages:
        for instruction in stage.all("COPY"):
            flags, sources, _ = instruction.copy()
            if "from" in flags:
                continue
            for source in sources:
                path = REPO / source
                assert path.exists(), f"line {instruction.line}: {source} does not exist"
                assert not ignore.excluded(source), f"{source} is excluded by .dockerignore"
                if path.is_dir():
                    inside = [f for f in tracked if f.startswith(source.rstrip("/") + "/")]
                    sent = [f for f in inside if not ignore.excluded(f)]
                    assert sent, f"{source}: .dockerignore leaves no file of it in the context"


def test_dockerignore_keeps_local_state_out() -> None:
    ignore = DockerIgnore.read(REPO / ".dockerignore")
    for path in (".venv/bin/python", ".porto/artifacts/x", "data/train.csv", ".git/config",
                 "tests/conftest.py", "packages/porto/src/porto/__pycache__/x.pyc",
                 "charts/porto/values.yaml", ".env"):  # fmt: skip
        assert ignore.excluded(path), path
    assert not ignore.excluded("packages/porto/src/porto/store.py")


def test_oci_labels(image: tuple[str, Dockerfile, str]) -> None:
    name, dockerfile, _ = image
    labels: dict[str, str] = {}
    for instruction in dockerfile.final.all("LABEL"):
        labels.update(instruction.pairs())
    keys = {k.removeprefix("org.opencontainers.image.") for k in labels}
    assert keys >= OCI_LABELS, OCI_LABELS - keys
    assert labels["org.opencontainers.image.title"] == f"porto-{name}"


def test_no_secrets_in_the_image(image: tuple[str, Dockerfile, str]) -> None:
    _, dockerfile, _ = image
    secret = re.compile(r"(SECRET|PASSWORD|TOKEN|ACCESS_KEY|API_KEY|DATABASE_URL)", re.I)
    for stage in dockerfile.stages:
        for instruction in stage.all("ENV") + stage.all("ARG"):
            assert not [k for k in instruction.pairs() if secret.search(k)], instruction.value
        assert not stage.all("ADD"), "ADD fetches or unpacks implicitly: use COPY"


def test_writable_paths_are_the_chart_volumes(image: tuple[str, Dockerfile, str]) -> None:
    """Every directory the image expects to write is a volume in the chart (read-only root)."""
    name, dockerfile, _ = image
    env = dockerfile.final.env()
    writable = {"/tmp"}
    for key in ("PORTO_INFERENCE_METRICS_DIR", "PORTO_INFERENCE_HOME", "PORTO_HOME", "HOME"):
        if key in env:
            writable.add(env[key])
    if "MPLCONFIGDIR" in env:
        assert env["MPLCONFIGDIR"].startswith("/tmp/")
    (workdir,) = dockerfile.final.all("WORKDIR")
    writable.add(workdir.value)
    mounts = {m["mountPath"] for m in _chart_container(name)["volumeMounts"]}
    assert writable <= mounts, f"not mounted writable: {writable - mounts}"
    # ...and a declared VOLUME of the image, writable under `docker run --read-only`.
    (volume,) = dockerfile.final.all("VOLUME")
    assert set(volume.exec_form()) == writable


def _chart_container(name: str) -> dict[str, Any]:
    """The chart's container of this image, rendered with the default values."""
    return next(
        c
        for pod in pod_templates(render("default"))
        for c in pod.spec["containers"]
        if c["name"] == name
    )


def test_ports_and_arguments_agree_with_the_chart(image: tuple[str, Dockerfile, str]) -> None:
    name, dockerfile, _ = image
    container = _chart_container(name)
    exposed = {int(p) for i in dockerfile.final.all("EXPOSE") for p in i.value.split()}
    assert {p["containerPort"] for p in container["ports"]} == exposed
    assert "command" not in container, "the chart keeps the image's ENTRYPOINT"
    (cmd,) = dockerfile.final.all("CMD")
    assert container["args"][0] == cmd.exec_form()[0]


def test_build_args_substitute_into_the_base() -> None:
    dockerfile = parse(IMAGES["training"][0])
    assert substitute("${BASE_IMAGE}", dockerfile.global_args) == dockerfile.final.base


def test_ui_image_runs_streamlit_headless_without_usage_statistics() -> None:
    """`porto-ui serve` passes these as flags; the image's STREAMLIT_* variables give the same
    defaults to anything else started in it, and both ports bind every interface of the pod."""
    env = parse(IMAGES["ui"][0]).final.env()
    assert env["STREAMLIT_SERVER_HEADLESS"] == "true"
    assert env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] == "false"
    assert env["PORTO_UI_HOST"] == env["PORTO_UI_METRICS_HOST"] == "0.0.0.0"
    exposed = {int(p) for i in parse(IMAGES["ui"][0]).final.all("EXPOSE") for p in i.value.split()}
    assert exposed == {int(env["PORTO_UI_PORT"]), int(env["PORTO_UI_METRICS_PORT"])}
    # Each STREAMLIT_* variable is the one Streamlit's CLI reads for an option it has.
    from streamlit import config

    options = {o.env_var: key for key, o in config._config_options_template.items()}
    for var in (v for v in env if v.startswith("STREAMLIT_")):
        assert var in options, f"{var}: no Streamlit option reads it"
    # HOME is writable (a chart volume, test_writable_paths_are_the_chart_volumes): Streamlit
    # reads ~/.streamlit and writes there when an option asks it to.
    assert env["HOME"] == "/var/lib/porto-ui"
