"""A real MinIO server on a free loopback port, for S3Store and everything built on it.

It can be stopped and started again on the same port and data directory, so tests can take the
object store away in the middle of an operation and check what readers see afterwards.
"""

from __future__ import annotations

import secrets
import signal
import time
from pathlib import Path

from harness.ports import LOOPBACK, http_ok, port_open, wait_for_http, wait_until
from harness.process import spawn, terminate
from harness.server import LoopbackServer
from harness.tools import tool_path


class MinioServer(LoopbackServer):
    """One MinIO process with a throwaway data directory and generated root credentials."""

    def __init__(self, binary: Path | None = None, root: Path | None = None) -> None:
        self.binary = binary or tool_path("minio")  # first: a missing tool leaves no temp dir
        super().__init__(root, "porto-minio-")
        self.data_dir = self.root / "data"
        self.log = self.root / "minio.log"
        self.access_key = f"porto-{secrets.token_hex(4)}"
        self.secret_key = secrets.token_urlsafe(24)

    @property
    def endpoint(self) -> str:
        """The S3 endpoint URL, e.g. ``http://127.0.0.1:41234``."""
        return f"http://{LOOPBACK}:{self.port}"

    def _start_once(self, timeout: float) -> None:
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is already taken")
        began = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.root),
            "MINIO_ROOT_USER": self.access_key,
            "MINIO_ROOT_PASSWORD": self.secret_key,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
        }
        argv = [
            str(self.binary),
            "server",
            str(self.data_dir),
            "--address",
            f"{LOOPBACK}:{self.port}",
            "--certs-dir",
            str(self.root / "certs"),
            "--quiet",
        ]
        self._proc = spawn(argv, self.log, env=env, cwd=self.root)
        ready = f"{self.endpoint}/minio/health/ready"
        self._await_ready(
            "MinIO", lambda: wait_for_http(ready, timeout, alive=lambda: self.running), self.log
        )
        self.startup_seconds = time.monotonic() - began
        self._started_once = True

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server; ``kill`` sends SIGKILL (a crash) instead of a graceful SIGTERM.

        Returns once the port refuses connections, so the next request fails at once.
        """
        if self._proc is None:
            return
        terminate(self._proc, signal.SIGKILL if kill else signal.SIGTERM)
        self._proc = None
        wait_until(lambda: not port_open(self.port), 10, f"MinIO port {self.port} to close")

    def ready(self) -> bool:
        """Whether the server answers its readiness probe right now."""
        return http_ok(f"{self.endpoint}/minio/health/ready")
