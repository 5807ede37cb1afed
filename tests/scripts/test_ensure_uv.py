"""scripts/ensure-uv.sh, run for real with each python3 a user may have: Debian's own
``/usr/bin/python3`` (whose pip puts ``--prefix`` scripts under ``<prefix>/local/bin``) and the
interpreter running the tests. pip installs from a local wheel directory (``PIP_NO_INDEX``), so
nothing is downloaded: the wheel has the layout of uv's real one (the executable under
``uv-<version>.data/scripts/``) and an executable that answers like uv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from harness.tools import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "ensure-uv.sh"
VERSION = "0.13.9"
DEBIAN_PYTHON = Path("/usr/bin/python3")


def _wheel(directory: Path, version: str = VERSION) -> Path:
    """A wheel named and laid out like uv's, whose ``uv`` prints ``uv <version>``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"uv-{version}-py3-none-any.whl"
    info = f"uv-{version}.dist-info"
    files = {
        f"uv-{version}.data/scripts/uv": f'#!/bin/sh\necho "uv {version}"\n',
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: uv\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n"
        "Tag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            entry = zipfile.ZipInfo(name)
            entry.external_attr = 0o100755 << 16  # a regular file, executable
            archive.writestr(entry, text)
        archive.writestr(f"{info}/RECORD", record)
    return path


def _run(python: Path, cache: Path, wheels: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """ensure-uv.sh with ``python`` first on PATH as ``python3``, pip offline on ``wheels``."""
    bin_dir = cache.parent / f"path-{python.parent.name}"
    bin_dir.mkdir(exist_ok=True)
    link = bin_dir / "python3"
    if not link.exists():
        link.symlink_to(python)
    return subprocess.run(
        ["bash", str(SCRIPT)],
        env={
            "HOME": os.environ.get("HOME", "/root"),
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "PORTO_CACHE": str(cache),
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(wheels),
            "PORTO_RETRY_DELAY_S": "0",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=300,
    )


def _pythons() -> list[Path]:
    found = [Path(sys.executable).resolve()]
    if DEBIAN_PYTHON.exists() and DEBIAN_PYTHON.resolve() != found[0]:
        found.append(DEBIAN_PYTHON)
    return found


@pytest.fixture(params=_pythons(), ids=lambda p: str(p))
def python(request: pytest.FixtureRequest) -> Path:
    """Each python3 the script may meet, with pip (the venv's has none: use its base)."""
    path: Path = request.param
    if subprocess.run([path, "-m", "pip", "--version"], capture_output=True).returncode != 0:
        base = Path(sys.base_prefix) / "bin" / "python3"
        if path != DEBIAN_PYTHON and base.exists():
            return base
        pytest.fail(f"{path} has no pip: `apt-get install python3-pip`", pytrace=False)
    return path


def test_debian_python_is_covered() -> None:
    """The interpreter the issue was found with must be among those tested on this machine."""
    assert DEBIAN_PYTHON.exists(), "Debian's python3 is part of the test machine"
    assert DEBIAN_PYTHON in _pythons() or Path(sys.executable).resolve() == DEBIAN_PYTHON


def test_installs_once_and_prints_a_path_that_runs(python: Path, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _wheel(wheels)
    cache = tmp_path / "cache"
    first = _run(python, cache, wheels)
    assert first.returncode == 0, first.stderr
    uv = Path(first.stdout.strip())
    assert uv == cache / f"uv-{VERSION}" / "bin" / "uv"
    assert subprocess.run([uv, "--version"], capture_output=True, text=True).stdout.strip() == (
        f"uv {VERSION}"
    )
    assert not list((cache / f"uv-{VERSION}").glob(".install-*")), "scratch directory left"
    # The second call finds it without pip: with no wheel left to install, it still answers.
    shutil.rmtree(wheels)
    second = _run(python, cache, wheels)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == str(uv)
    assert second.stderr == ""


def test_a_failed_download_is_retried_then_one_error(python: Path, tmp_path: Path) -> None:
    empty = tmp_path / "wheels"
    empty.mkdir()
    result = _run(python, tmp_path / "cache", empty, PORTO_RETRIES="2")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "attempt 1 of 2" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: downloading uv {VERSION} from PyPI failed after 2 attempts "
        "(see the messages above)"
    )
    assert not (tmp_path / "cache" / f"uv-{VERSION}" / "bin" / "uv").exists()


def test_no_pip_is_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "python3"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    result = _run(fake, tmp_path / "cache", tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: installing uv {VERSION} needs pip for {fake.parent.parent / 'path-bin'}/python3 "
        "(apt-get install python3-pip)"
    )
