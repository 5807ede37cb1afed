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
* botocore's service models except S3's and STS's (``botocore/data/<service>/``, 440-odd folders,
  ~27 MB): porto creates only S3 clients (porto.store); STS stays for the web-identity
  credentials of pod roles. The top-level files (endpoints, partitions, retries) stay.
* ``catboost/hnsw``: CatBoost's nearest-neighbour index, which ``import catboost`` never loads.
* ``--image ui``: the Kubernetes client's bytecode (~25 MB). The UI imports it once per process,
  with the Training page (porto.cluster), and compiles it in memory then (~1 s once). And
  pygments' bytecode (~4 MB): only rich (typer's help and tracebacks) imports pygments, to colour
  the code of a traceback the ``porto-ui`` command prints; Streamlit never does.

And it rewrites two kinds of file without changing what they do:

* ``--strip``: ``strip --strip-unneeded`` on the shared objects (binutils' strip, which the
  Dockerfiles install in their build stage): the symbol tables and debug sections wheels ship
  (uvloop 13 -> 1 MB, asyncpg 10 -> 1, libarrow 49 -> 39, _catboost 264 -> 252); the dynamic
  symbols the loader uses stay. Not the libraries auditwheel bundled (``*.libs/``: patchelf
  rewrote them, and strip would leave them unloadable), and no file whose stripped copy fails
  the loader's segment check.
* identical copies of a shared library in one folder (wheels cannot hold symlinks, so pyarrow
  ships ``libarrow_python.so``, ``.so.2600`` and ``.so.2600.1.0`` three times) become symlinks
  to one of them.

Usage: python3 trim_venv.py VENV [--strip] [--image inference|ui|training]
(prints what it removed, in MB)
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import struct
import subprocess
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
#: botocore service models porto's S3 client needs (plus STS for its credential providers).
BOTOCORE_SERVICES = ("s3", "sts")
IMAGES = ("inference", "ui", "training")


def site_packages(venv: Path) -> Path:
    """The venv's only ``lib/python3.*/site-packages``."""
    found = sorted(venv.glob("lib/python3.*/site-packages"))
    if len(found) != 1:
        raise SystemExit(f"error: {venv} has {len(found)} site-packages folders, expected one")
    return found[0]


def unused_paths(site: Path, image: str | None = None) -> Iterator[Path]:
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
    data = site / "botocore" / "data"
    if data.is_dir():
        yield from sorted(
            p for p in data.iterdir() if p.is_dir() and p.name not in BOTOCORE_SERVICES
        )
    yield site / "catboost" / "hnsw"
    if image == "ui":
        for package in ("kubernetes", "pygments"):
            yield from sorted((site / package).rglob("__pycache__"))


def shared_objects(site: Path) -> list[Path]:
    """Every regular ELF shared object under ``site`` (extension modules and bundled libraries)."""
    found = []
    for path in site.rglob("*.so*"):
        if (
            path.is_file()
            and not path.is_symlink()
            and (".so." in path.name or path.suffix == ".so")
        ):
            with path.open("rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    found.append(path)
    return sorted(found)


def loadable(path: Path) -> bool:
    """Whether the dynamic loader would map ``path``: every PT_LOAD segment's file offset agrees
    with its address modulo its alignment and lies within the file (strip breaks this on
    libraries patchelf rewrote, which then fail with "ELF load command address/offset not
    page-aligned"). ELF64 little-endian only; anything else counts as not loadable."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return False
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for index in range(phnum):
        kind, _, offset, vaddr, _, filesz, _, align = struct.unpack_from(
            "<IIQQQQQQ", data, phoff + index * phentsize
        )
        if kind != 1:  # PT_LOAD
            continue
        if align > 1 and offset % align != vaddr % align:
            return False
        if offset + filesz > len(data):
            return False
    return True


def strip(site: Path) -> int:
    """``strip --strip-unneeded`` the shared objects; return the bytes freed. Each is stripped as
    a copy that then replaces it (strip itself rewrites a hard-linked file in place, and with it
    uv's cache and every venv sharing the file), and only if the copy is still loadable. The
    libraries auditwheel bundled (``<package>.libs/``, patched by patchelf) are left alone."""
    if shutil.which("strip") is None:
        raise SystemExit("error: --strip needs binutils' strip (apt-get install binutils)")
    paths = [p for p in shared_objects(site) if not p.parent.name.endswith(".libs")]
    before = sum(p.stat().st_size for p in paths)
    copies = [p.with_name(p.name + ".stripping") for p in paths]
    for path, copy in zip(paths, copies, strict=True):
        shutil.copy2(path, copy)
    for start in range(0, len(copies), 200):
        batch = [str(c) for c in copies[start : start + 200]]
        subprocess.run(["strip", "--strip-unneeded", *batch], check=True)
    for copy, path in zip(copies, paths, strict=True):
        if loadable(copy) or not loadable(path):
            copy.replace(path)
        else:
            copy.unlink()
    return before - sum(p.stat().st_size for p in paths)


def link_duplicates(site: Path) -> int:
    """Replace identical copies of a shared object in one folder by symlinks to the first (by
    name); return the bytes freed."""
    freed = 0
    groups: dict[tuple[Path, int, str], list[Path]] = {}
    for path in shared_objects(site):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        groups.setdefault((path.parent, path.stat().st_size, digest), []).append(path)
    for (_, size_, _), paths in groups.items():
        keep, *copies = sorted(paths, key=lambda p: p.name)
        for copy in copies:
            copy.unlink()
            copy.symlink_to(keep.name)
            freed += size_
    return freed


def size(path: Path) -> int:
    """Bytes under ``path`` (a file or a folder)."""
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def trim(venv: Path, image: str | None = None, *, strip_objects: bool = False) -> int:
    """Remove the unused paths of ``venv``; return the bytes freed."""
    freed = 0
    site = site_packages(venv)
    for path in unused_paths(site, image):
        if path.is_symlink() or path.is_file():
            freed += size(path)
            path.unlink()
        elif path.is_dir():
            freed += size(path)
            shutil.rmtree(path)
    if strip_objects:
        freed += strip(site)
    return freed + link_duplicates(site)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="trim_venv.py")
    parser.add_argument("venv", type=Path)
    parser.add_argument("--strip", action="store_true", help="strip every shared object")
    parser.add_argument("--image", choices=IMAGES, help="the image's own rules")
    args = parser.parse_args(argv)
    venv: Path = args.venv
    if not (venv / "pyvenv.cfg").is_file():
        sys.stderr.write(f"error: {venv} is not a virtualenv (no pyvenv.cfg)\n")
        return 2
    freed = trim(venv, args.image, strip_objects=args.strip)
    sys.stdout.write(f"trim_venv: {freed / 1e6:.0f} MB removed from {venv}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
