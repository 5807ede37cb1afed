"""Remove what a runtime image never loads from an installed virtualenv's site-packages.

Run by the build stage of each image right after the last `uv sync` (`make images`), and by
tests/images/test_trim_venv.py on a venv built the same way, which then runs porto's real code
paths in it. Only files no import of porto's code reaches go; each rule says why:

* ``<package>/**/tests/``: the test suites wheels ship (pandas, numpy, scipy, scikit-learn,
  pyarrow, ...); nothing imports them outside their own test runs.
* ``kubernetes/aio/``: the client's asyncio copy (kubernetes >= 37); porto.cluster uses the
  synchronous client, and the image leaves out aiohttp, which only that copy imports.
* pyarrow's Arrow Flight (RPC) and S3 filesystem libraries: separate shared objects that only
  ``pyarrow.flight`` and ``pyarrow.fs.S3FileSystem`` load (pyarrow's own builds can leave them
  out: ``pyarrow.fs`` imports without them); porto reads S3 through boto3, never through pyarrow.
* pyarrow's C++ headers and Cython sources: for compiling extensions against pyarrow.

Usage: python3 trim_venv.py VENV    (prints what it removed, in MB)
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

#: Shared objects and extension modules of the parts of pyarrow porto never loads.
PYARROW_UNUSED = (
    "libarrow_flight.so*",
    "libarrow_python_flight.so*",
    "_flight.*.so",
    "libarrow_s3.so*",
    "_s3fs.*.so",
    "*.pxd",
    "*.pyx",
    "*.pxi",
)
PYARROW_UNUSED_DIRS = ("include", "src", "includes")


def site_packages(venv: Path) -> Path:
    """The venv's only ``lib/python3.*/site-packages``."""
    found = sorted(venv.glob("lib/python3.*/site-packages"))
    if len(found) != 1:
        raise SystemExit(f"error: {venv} has {len(found)} site-packages folders, expected one")
    return found[0]


def unused_paths(site: Path) -> Iterator[Path]:
    """Every file or folder the rules above remove (folders once, not their contents)."""
    for package in sorted(p for p in site.iterdir() if p.is_dir() and "." not in p.name):
        # sub-folders only: a top-level package called "tests" would be someone's real code
        yield from sorted(package.rglob("tests"))
    yield site / "kubernetes" / "aio"
    pyarrow = site / "pyarrow"
    for pattern in PYARROW_UNUSED:
        yield from sorted(pyarrow.glob(pattern))
    for name in PYARROW_UNUSED_DIRS:
        yield pyarrow / name


def size(path: Path) -> int:
    """Bytes under ``path`` (a file or a folder)."""
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def trim(venv: Path) -> int:
    """Remove the unused paths of ``venv``; return the bytes freed."""
    freed = 0
    for path in unused_paths(site_packages(venv)):
        if path.is_symlink() or path.is_file():
            freed += size(path)
            path.unlink()
        elif path.is_dir():
            freed += size(path)
            shutil.rmtree(path)
    return freed


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: trim_venv.py VENV\n")
        return 2
    venv = Path(argv[0])
    if not (venv / "pyvenv.cfg").is_file():
        sys.stderr.write(f"error: {venv} is not a virtualenv (no pyvenv.cfg)\n")
        return 2
    freed = trim(venv)
    sys.stdout.write(f"trim_venv: {freed / 1e6:.0f} MB removed from {venv}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
