"""A Docker engine of the suite's own: Debian's ``dockerd`` on its own socket, bridge and data root.

The engine is a real ``dockerd`` (Debian's docker.io, which ``make test-deps`` installs), started
as root with a socket and exec root in a fresh temporary directory, a bridge of its own
(``portodk0``, 10.213.0.1/24; user networks from 10.214.0.0/16) and a data root under the porto
cache (``~/.cache/porto/docker``), kept between runs: the BuildKit cache and the imported offline
base image in it are what make a warm rebuild of the images take seconds, and what lets the suite
build them with no download (the install phase, ``python -m harness.docker prebuild``, fills it).

One engine per data root at a time (a lock file says which process holds it). With
``PORTO_TEST_DOCKER_HOST`` set (``unix:///path/to/docker.sock``), the harness uses that engine
instead and starts nothing: for a developer who already runs one.

The client is Debian's ``docker`` CLI (``/usr/bin/docker``), whose ``docker build`` has BuildKit
built in: newer CLIs (Docker 23+) hand ``build`` to the buildx plugin, which Debian does not ship.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from harness.process import is_root, log_tail
from harness.timing import DEADLINE
from harness.tools import REPO_ROOT, cache_bin

ENGINE_ENV = "PORTO_TEST_DOCKER_HOST"
BRIDGE = "portodk0"
BRIDGE_ADDRESS = "10.213.0.1/24"
ADDRESS_POOL = "base=10.214.0.0/16,size=24"
DEBIAN_CLI = Path("/usr/bin/docker")
DOCKERD = Path("/usr/sbin/dockerd")
#: The tag of the install phase's prebuild and of the suite's build (same tag: same cache).
TEST_TAG = "porto-test"
ALL_IMAGES = ("inference", "ui", "training", "minio", "postgres")
#: The host's CA bundle: package downloads from this machine go through a TLS-intercepting proxy
#: whose CA it holds (make images EXTRA_CA=...). Only the install phase's build downloads.
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
#: How much BuildKit cache the harness's own engine keeps (``docker builder prune
#: --keep-storage``: least recently used first goes). Every code change leaves new layers (the
#: venv copies are ~0.8 GB each): unbounded, the cache had grown to 44 GB of a machine's disk
#: and a run failed with "no space left on device". 12 GB holds a full build's layers and the
#: package cache mounts, so the suite's offline rebuild still finds every download.
BUILD_CACHE_KEEP_ENV = "PORTO_BUILD_CACHE_KEEP"
BUILD_CACHE_KEEP = "12GB"


class EngineError(RuntimeError):
    """The engine cannot be started or used; the message names what to install or fix."""


def docker_cli() -> Path:
    """The docker client to run: ``PORTO_DOCKER``, else Debian's CLI (BuildKit without buildx)."""
    chosen = os.environ.get("PORTO_DOCKER")
    path = Path(chosen) if chosen else DEBIAN_CLI
    if not os.access(path, os.X_OK):
        raise EngineError(
            f"docker client {path} is missing: run `make test-deps` (installs Debian's docker.io)"
        )
    return path


class DockerEngine:
    """Start with :meth:`start` (or ``with``); :meth:`docker` runs the CLI against it."""

    def __init__(self, data_root: Path | None = None, host: str | None = None) -> None:
        self.cli = docker_cli()
        self.external = host or os.environ.get(ENGINE_ENV) or None
        self.data_root = data_root or cache_bin().parent / "docker" / "data"
        self.run_dir: Path | None = None
        self.log: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock: IO[str] | None = None
        self._made_bridge = False

    @property
    def host(self) -> str:
        """The engine's address, as ``DOCKER_HOST`` takes it."""
        if self.external:
            return self.external
        if self.run_dir is None:
            raise EngineError("the docker engine is not started")
        return f"unix://{self.run_dir / 'docker.sock'}"

    def env(self) -> dict[str, str]:
        """Environment for a process that talks to this engine (``make images``, the CLI)."""
        env = dict(os.environ)
        env.update({"DOCKER_HOST": self.host, "DOCKER_BUILDKIT": "1", "DOCKER": str(self.cli)})
        return env

    def docker(
        self,
        *args: str,
        check: bool = True,
        timeout: float | None = DEADLINE,
        stdin: bytes | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``docker ARGS`` against this engine; on failure with ``check``, raise EngineError
        with the command's stderr."""
        out = subprocess.run(
            [str(self.cli), *args],
            env=self.env(),
            capture_output=True,
            timeout=timeout,
            input=stdin,
        )
        result = subprocess.CompletedProcess(
            out.args,
            out.returncode,
            out.stdout.decode(errors="replace"),
            out.stderr.decode(errors="replace"),
        )
        if check and out.returncode != 0:
            raise EngineError(f"docker {' '.join(args[:3])} failed: {result.stderr.strip()}")
        return result

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = DEADLINE) -> Self:
        """Start dockerd (or check the external engine answers)."""
        if self.external:
            self._wait_ready(timeout)
            return self
        if not os.access(DOCKERD, os.X_OK):
            raise EngineError(
                f"{DOCKERD} is missing: run `make test-deps` as root (installs Debian's docker.io)"
            )
        if not is_root():
            raise EngineError(
                "the test harness starts its own Docker engine, which needs root: run the tests "
                f"as root, or point {ENGINE_ENV} at an engine you can use (unix:///...)"
            )
        self.data_root.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        # A short path: a unix socket's path must fit in 108 bytes.
        self.run_dir = Path(tempfile.mkdtemp(prefix="porto-dockerd-", dir="/tmp"))
        self.log = self.run_dir / "dockerd.log"
        self._make_bridge()
        argv = [
            str(DOCKERD),
            f"--host={self.host}",
            f"--data-root={self.data_root}",
            f"--exec-root={self.run_dir / 'exec'}",
            f"--pidfile={self.run_dir / 'dockerd.pid'}",
            f"--bridge={BRIDGE}",
            f"--default-address-pool={ADDRESS_POOL}",
            "--storage-driver=overlay2",
            "--log-level=warn",
        ]
        with self.log.open("wb") as log:
            self._proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _take_lock(self) -> None:
        lock_path = self.data_root.parent / "engine.lock"
        lock = lock_path.open("a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            lock.close()
            raise EngineError(
                f"another porto Docker engine uses {self.data_root} ({holder}): wait for it to "
                f"stop, or point {ENGINE_ENV} at a running engine"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}\n")
        lock.flush()
        self._lock = lock

    def _make_bridge(self) -> None:
        """The engine's default bridge, made here so it never meets another dockerd's docker0."""
        ip = shutil.which("ip") or "/usr/sbin/ip"
        subprocess.run([ip, "link", "delete", BRIDGE], capture_output=True)  # a killed run's
        for argv in (
            [ip, "link", "add", BRIDGE, "type", "bridge"],
            [ip, "addr", "add", BRIDGE_ADDRESS, "dev", BRIDGE],
            [ip, "link", "set", BRIDGE, "up"],
        ):
            out = subprocess.run(argv, capture_output=True, text=True)
            if out.returncode != 0:
                raise EngineError(f"cannot make bridge {BRIDGE}: {out.stderr.strip()}")
        self._made_bridge = True

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise EngineError(f"dockerd exited ({self._proc.returncode}):\n{self._log_tail()}")
            out = self.docker("version", "--format", "{{.Server.Version}}", check=False, timeout=30)
            if out.returncode == 0:
                return
            last = out.stderr.strip()
            time.sleep(0.5)
        raise EngineError(
            f"the Docker engine at {self.host} did not answer in {timeout:.0f} s: {last}\n"
            f"{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        return log_tail(self.log) if self.log else ""

    def stop(self) -> None:
        """Stop dockerd (containers it runs stop with it), remove the bridge, free the lock."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._proc = None
        if self._made_bridge:
            subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True)
            self._made_bridge = False
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def make_images(engine: DockerEngine, *args: str, timeout: float = 3600) -> str:
    """Run ``make images ARGS`` against ``engine``; return its output, EngineError on failure
    (the message carries the output's tail, where BuildKit names the failing step)."""
    out = subprocess.run(
        ["make", "--no-print-directory", "images", *args],
        cwd=REPO_ROOT,
        env=engine.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    text = out.stdout + out.stderr
    if out.returncode != 0:
        tail = "\n".join(text.splitlines()[-40:])
        raise EngineError(f"make images {' '.join(args)} failed ({out.returncode}):\n{tail}")
    return text


def trim_build_cache(engine: DockerEngine) -> str | None:
    """Prune the engine's BuildKit cache down to ``PORTO_BUILD_CACHE_KEEP`` (default
    :data:`BUILD_CACHE_KEEP`), least recently used first; the CLI's summary line, or None for an
    engine the harness did not start (a developer's own is never pruned). EngineError when the
    engine refuses."""
    if engine.external:
        return None
    keep = os.environ.get(BUILD_CACHE_KEEP_ENV) or BUILD_CACHE_KEEP
    out = engine.docker(
        "builder", "prune", "--force", "--keep-storage", keep, check=False, timeout=900
    )
    if out.returncode != 0:
        raise EngineError(
            f"trimming the build cache to {BUILD_CACHE_KEEP_ENV}={keep} failed: "
            f"{out.stderr.strip()}"
        )
    lines = out.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def suite_build_args(*, offline: bool, images: Sequence[str] = ALL_IMAGES) -> list[str]:
    """``make images`` arguments of the install phase's prebuild (``offline=False``: it
    downloads) and of the suite's build (``offline=True``: Python steps from the cache alone)."""
    args = [f"IMAGES={' '.join(images)}", "BASE_IMAGE=offline", f"IMAGE_TAG={TEST_TAG}"]
    if HOST_CA.is_file():
        args.append(f"EXTRA_CA={HOST_CA}")
    if offline:
        args.append("UV_OFFLINE=1")
    return args


def _main(argv: Sequence[str]) -> int:
    """``python -m harness.docker prebuild [image ...]``: the install phase's build of the images
    (with the network), so the suite's rebuild finds every download in the BuildKit cache."""
    if not argv or argv[0] != "prebuild" or not set(argv[1:]) <= set(ALL_IMAGES):
        print(f"usage: python -m harness.docker prebuild [{'|'.join(ALL_IMAGES)} ...]")
        return 2
    images = argv[1:] or ALL_IMAGES
    try:
        with DockerEngine() as engine:
            print(make_images(engine, *suite_build_args(offline=False, images=images)).strip())
            print(f"build cache trimmed: {trim_build_cache(engine)}")
    except EngineError as err:
        print(f"error: {err}")
        return 1
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(_main(sys.argv[1:]))
