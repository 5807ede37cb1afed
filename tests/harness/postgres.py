"""A real PostgreSQL server (Debian's package) on a free loopback port, for the prediction log.

initdb and postgres refuse to run as root, so under root the cluster belongs to an unprivileged
account (``postgres`` from the Debian package, or one created here). The cluster lives in a
temporary directory with its own unix-socket directory, so it never touches the system cluster.
It can be stopped and started again on the same port and data, as a database outage would.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import secrets
import signal
import subprocess
import time
from pathlib import Path

from harness.ports import LOOPBACK, port_open, wait_until
from harness.process import is_root, spawn, terminate
from harness.server import LoopbackServer
from harness.timing import DEADLINE
from harness.tools import postgres_bin_dir

_FALLBACK_USER = "porto-pg"

#: Skip what only protects against an OS crash (fsync, torn pages). synchronous_commit stays
#: on: with it off, a commit acknowledged just before ``stop(mode="immediate")`` would vanish,
#: and outage tests must see the same durability as production.
_FAST_SETTINGS = {
    "fsync": "off",
    "full_page_writes": "off",
    "max_connections": "100",
}


def _server_user() -> str | None:
    """The account that owns the cluster: None (this user) unless we are root."""
    if not is_root():
        return None
    for name in ("postgres", _FALLBACK_USER):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            _FALLBACK_USER,
        ],
        check=True,
        capture_output=True,
    )
    return _FALLBACK_USER


class PostgresServer(LoopbackServer):
    """One PostgreSQL cluster with a password-protected role and database named ``porto``."""

    def __init__(self, root: Path | None = None, *, user: str = "porto", database: str = "porto"):
        self.bin_dir = postgres_bin_dir()  # first: a missing tool leaves no temp dir
        self.os_user = _server_user()
        super().__init__(root, "porto-pg-")
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.log = self.root / "postgres.log"
        self.user = user
        self.password = secrets.token_urlsafe(18)
        self.database = database

    @property
    def dsn(self) -> str:
        """``postgresql://user:password@127.0.0.1:port/database`` (password is URL-safe)."""
        return f"postgresql://{self.user}:{self.password}@{LOOPBACK}:{self.port}/{self.database}"

    def create_database(self, name: str) -> str:
        """A fresh database ``name`` (dropped first if it exists, with its connections); its URL.

        For suites that need a database nobody else resets in the middle of their run."""
        import asyncpg

        async def create() -> None:
            conn = await asyncpg.connect(self.dsn, timeout=10)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())
        return self.dsn.rsplit("/", 1)[0] + f"/{name}"

    def _start_once(self, timeout: float) -> None:
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is already taken")
        began = time.monotonic()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        argv = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        argv += ["-c", f"listen_addresses={LOOPBACK}"]
        argv += ["-c", f"unix_socket_directories={self.socket_dir}"]
        for key, value in _FAST_SETTINGS.items():
            argv += ["-c", f"{key}={value}"]
        self._proc = spawn(argv, self.log, env=self._env(), cwd=self.root, user=self.os_user)
        self._await_ready(
            "PostgreSQL",
            lambda: wait_until(self._accepting, timeout, "PostgreSQL", alive=lambda: self.running),
            self.log,
        )
        if not self._started_once:
            self._run(
                "createdb", "-h", LOOPBACK, "-p", str(self.port), "-U", self.user, self.database
            )
        self.startup_seconds = time.monotonic() - began
        self._started_once = True

    def _initdb(self) -> None:
        """Create the cluster: password (scram) auth over TCP, trust on its private socket."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.os_user is not None:
            info = pwd.getpwnam(self.os_user)
            for path in (self.root, self.socket_dir, pwfile):
                os.chown(path, info.pw_uid, info.pw_gid)
        try:
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
                as_server_user=True,
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def _env(self) -> dict[str, str]:
        return {
            "PATH": f"{self.bin_dir}:/usr/bin:/bin",
            "HOME": str(self.root),
            "LC_ALL": "C",
            "PGPASSWORD": self.password,
        }

    def _run(self, exe: str, *args: str, as_server_user: bool = False) -> None:
        result = subprocess.run(
            [str(self.bin_dir / exe), *args],
            env=self._env(),
            cwd=self.root,
            user=self.os_user if as_server_user else None,
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{exe} failed ({result.returncode}): {result.stderr.strip()}")

    def _accepting(self) -> bool:
        try:
            result = subprocess.run(
                [str(self.bin_dir / "pg_isready"), "-q", "-h", LOOPBACK, "-p", str(self.port)],
                env=self._env(),
                capture_output=True,
                timeout=10,
                check=False,
            )
        except subprocess.TimeoutExpired:  # a slow probe on a busy machine: ask again
            return False
        return result.returncode == 0

    def stop(self, *, mode: str = "fast") -> None:
        """Stop the server: ``fast`` disconnects clients and shuts down cleanly, ``immediate``
        aborts like a crash (recovery runs on the next start). Returns once the port is closed."""
        if self._proc is None:
            return
        sig = {"fast": signal.SIGINT, "immediate": signal.SIGQUIT}[mode]
        terminate(self._proc, sig, timeout=30)
        self._proc = None
        wait_until(lambda: not port_open(self.port), 10, f"PostgreSQL port {self.port} to close")
