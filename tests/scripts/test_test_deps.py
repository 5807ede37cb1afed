"""scripts/test-deps.sh (`make test-deps`, the install phase of `make test`): every prerequisite
it cannot install stops it at once with one line naming what is missing and how to get it, before
anything is installed. Run for real, with PATH and the user changed as a newcomer's machine would
differ; the success path runs at the start of every `make test`."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from harness.tools import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "test-deps.sh"
GO_MIN = max(
    (
        line.split()[1]
        for mod in (REPO_ROOT / "tools").glob("*/go.mod")
        for line in mod.read_text().splitlines()
        if line.startswith("go ")
    ),
    key=lambda v: tuple(int(x) for x in v.split(".")),
)


def _run(
    tmp_path: Path, path: str, *, user: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    argv = ["bash", str(SCRIPT)]
    if user is not None:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
    return subprocess.run(
        argv,
        env={"HOME": str(tmp_path), "PATH": path, "PORTO_CACHE": str(tmp_path / "cache"), **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


def _fake_go(tmp_path: Path, version: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    go = bin_dir / "go"
    go.write_text(f'#!/bin/sh\n[ "$1 $2" = "env GOVERSION" ] && echo go{version}\n')
    go.chmod(0o755)
    return bin_dir


def _assert_stopped_at_once(result: subprocess.CompletedProcess[str], tmp_path: Path) -> str:
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "cache").exists(), "nothing is installed before every check passed"
    return lines[0]


def test_no_go_is_one_line(tmp_path: Path) -> None:
    line = _assert_stopped_at_once(_run(tmp_path, "/usr/bin:/bin"), tmp_path)
    assert line == (
        f"error: Go >= {GO_MIN} is required to build the pinned test tools and is not on PATH: "
        "install it (https://go.dev/doc/install)"
    )


def test_an_old_go_is_one_line(tmp_path: Path) -> None:
    bin_dir = _fake_go(tmp_path, "1.20.3")
    line = _assert_stopped_at_once(_run(tmp_path, f"{bin_dir}:/usr/bin:/bin"), tmp_path)
    assert line == (
        f"error: Go >= {GO_MIN} is required (tools/*/go.mod), found 1.20.3 at {bin_dir}/go: "
        "upgrade it (https://go.dev/doc/install)"
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")
def test_missing_debian_packages_without_root_is_one_line() -> None:
    """Not root: it cannot apt-get, so it names the packages and the command, and stops."""
    # pytest's tmp_path sits under a root-only directory: the unprivileged user needs its own.
    home = Path(tempfile.mkdtemp(prefix="porto-test-deps-"))
    try:
        home.chmod(0o777)
        bin_dir = _fake_go(home, GO_MIN)
        bin_dir.chmod(0o755)
        result = _run(
            home,
            f"{bin_dir}:/usr/bin:/bin",
            user="65534",  # nobody
            PORTO_TEST_DEBIAN_PACKAGES="postgresql porto-no-such-package",
        )
        line = _assert_stopped_at_once(result, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert line == (
        "error: missing Debian packages: porto-no-such-package: run `sudo apt-get install -y "
        "--no-install-recommends porto-no-such-package` (or run make test as root on "
        "Debian/Ubuntu, which installs them)"
    )
