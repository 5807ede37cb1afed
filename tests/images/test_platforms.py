"""Every image installs on linux/amd64 and linux/arm64 (Apple Silicon's Docker Desktop, ARM
servers): each `uv sync` of each Dockerfile's build stage, exactly as written there, is resolved by
uv for both platforms (`--python-platform ... --dry-run`) against uv.lock, offline, and every
package it would install comes as a wheel (nothing is compiled during `docker build`).

The platforms carry the glibc of the images' Debian base (manylinux_2_36 for bookworm): a wheel
needing a newer glibc would not install there, one needing an older one does.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from images.dockerfile import parse
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import parse_wheel_filename

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = {
    "inference": REPO / "services/inference/Dockerfile",
    "training": REPO / "jobs/training/Dockerfile",
    "ui": REPO / "services/ui/Dockerfile",
}
ARCHITECTURES = ("x86_64", "aarch64")  # linux/amd64, linux/arm64
#: glibc of each Debian release a base image may be built on (manylinux tag suffix).
DEBIAN_GLIBC = {"bookworm": "2_36", "trixie": "2_41"}
#: `+ name==version` lines of `uv sync --dry-run`; workspace members are `+ name @ file://...`.
WOULD_INSTALL = re.compile(
    r"^ \+ (?P<name>[\w.-]+)(?:==(?P<version>\S+)| @ (?P<local>file://\S+))$"
)


def _uv() -> str:
    return subprocess.run(
        [str(REPO / "scripts/ensure-uv.sh")], capture_output=True, text=True, check=True
    ).stdout.strip()


def uv_syncs(dockerfile: Path) -> tuple[list[list[str]], dict[str, str]]:
    """The `uv sync` commands of the deps and build stages (argv after `uv`, without the
    `with-extra-ca` wrapper and what follows `&&`) and the deps stage's ENV."""
    stages = parse(dockerfile).stages[:2]
    commands = []
    for run in (r for stage in stages for r in stage.all("RUN")):
        argv = shlex.split(re.sub(r"--mount=\S+\s*", "", run.value))
        if argv[:1] == ["with-extra-ca"]:
            argv = argv[1:]
        if argv[:2] == ["uv", "sync"]:
            commands.append(argv[1 : argv.index("&&")] if "&&" in argv else argv[1:])
    return commands, stages[0].env()


def platform_of(dockerfile: Path, arch: str) -> str:
    """uv's `--python-platform` for ``arch`` on the glibc of the image's base."""
    base = parse(dockerfile).final.base
    codename = base.rsplit("-", 1)[-1]
    assert codename in DEBIAN_GLIBC, f"{base}: add the glibc of Debian {codename} to DEBIAN_GLIBC"
    return f"{arch}-manylinux_{DEBIAN_GLIBC[codename]}"


def wheel_tags(platform: str) -> set[Tag]:
    """The wheel tags CPython 3.11 installs on ``platform`` (`<arch>-manylinux_2_<glibc>`), as
    pip and uv rank them: manylinux tags down to 2_17 (manylinux2014), then pure wheels."""
    arch, _, manylinux = platform.partition("-")
    glibc = int(manylinux.rsplit("_", 1)[-1])
    platforms = [f"manylinux_2_{minor}_{arch}" for minor in range(glibc, 16, -1)]
    platforms.append(f"manylinux2014_{arch}")
    return set(cpython_tags((3, 11), platforms=platforms)) | set(
        compatible_tags((3, 11), interpreter="cp311", platforms=platforms)
    )


def lock_packages() -> dict[tuple[str, str], dict[str, Any]]:
    """uv.lock's packages by (name, version)."""
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    return {(p["name"], p["version"]): p for p in lock["package"]}


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_image_dependencies_install_on_amd64_and_arm64(
    image: str, arch: str, tmp_path: Path
) -> None:
    dockerfile = DOCKERFILES[image]
    commands, stage_env = uv_syncs(dockerfile)
    assert len(commands) == 2, f"{dockerfile}: expected the dependency and the project sync"
    platform = platform_of(dockerfile, arch)
    env = {
        **{k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
        **stage_env,
        "UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv"),
        "UV_CACHE_DIR": str(tmp_path / "cache"),  # empty: nothing can come from a cache
        "UV_PYTHON": sys.executable,
        "UV_OFFLINE": "1",
    }
    locked = lock_packages()
    supported = wheel_tags(platform)
    installed: set[str] = set()
    for command in commands:
        argv = [_uv(), *command, "--python-platform", platform, "--dry-run"]
        out = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"{shlex.join(command)} on {platform}:\n{out.stderr}"
        assert not (tmp_path / "venv").exists(), "a dry run creates nothing"
        lines = [line for line in out.stderr.splitlines() if line.startswith(" + ")]
        found = [m for line in lines if (m := WOULD_INSTALL.match(line))]
        assert found and len(found) == len(lines), out.stderr
        for match in found:
            installed.add(match["name"])
            if match["local"]:
                continue  # porto's own packages, built from the copied sources
            package = locked[(match["name"], match["version"])]
            wheels = [w["url"].rsplit("/", 1)[-1] for w in package.get("wheels", [])]
            assert any(parse_wheel_filename(w)[3] & supported for w in wheels), (
                f"{match['name']} {match['version']}: no wheel for {platform} (would compile)"
            )
    assert f"porto-{image}" in installed
    assert "pgserver" not in installed, "the embedded PostgreSQL is for local mode only"
