"""Running the API: gunicorn with uvicorn workers, in this process or as a child process.

:func:`serve` is what ``porto-inference serve`` runs. Before gunicorn forks any worker it
prepares a fresh, empty ``PROMETHEUS_MULTIPROC_DIR`` (before prometheus_client is imported, which
is when it reads that variable) and, in local mode, starts the embedded
PostgreSQL (owned by the gunicorn master, so it outlives worker restarts and stops with the
server); gunicorn's ``child_exit`` hook marks dead workers for the metrics.

:func:`run_server` starts ``porto-inference serve`` as a child process and stops it cleanly (a
graceful SIGTERM: requests finish, the prediction log is flushed) on Ctrl-C or SIGTERM. That is
the function ``make demo`` calls; :func:`start_server` is the non-blocking variant for tests and
benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from porto.child_process import ChildServer, base_url, spawn
from pydantic import SecretStr
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from porto_inference.settings import Settings

log = logging.getLogger("porto_inference.server")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


#: Seconds a stopping worker keeps its open connections before uvicorn's shutdown closes the
#: idle ones: a client whose connection the worker accepted just before SIGTERM has not sent its
#: request yet, and uvicorn would count it idle and close it unanswered.
ACCEPT_GRACE_S = 0.5


class DrainingServer(Server):
    """uvicorn's server, stopping in two steps: stop accepting, give connections accepted a
    moment ago the time to send their request (``ACCEPT_GRACE_S``), then uvicorn's own
    shutdown (idle connections closed, requests in progress finished)."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        if self.server_state.connections:
            await asyncio.sleep(ACCEPT_GRACE_S)
        await super().shutdown()


class PortoWorker(UvicornWorker):  # type: ignore[misc]
    """uvicorn's gunicorn worker (from the ``uvicorn-worker`` package) with the access log off
    (the request middleware writes one structured line per request instead) and the
    :class:`DrainingServer`."""

    CONFIG_KWARGS: dict[str, Any] = {  # noqa: RUF012 - the base class declares it this way
        "loop": "auto",
        "http": "auto",
        "access_log": False,
        "server_header": False,
    }

    async def _serve(self) -> None:
        # uvicorn_worker's own _serve, with the draining server.
        self.config.app = self.wsgi
        server = DrainingServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook: a worker exited, so its live gauges and drift window stop counting."""
    from porto_inference.monitoring.drift import remove_snapshot
    from porto_inference.monitoring.metrics import mark_process_dead

    mark_process_dead(worker.pid)
    remove_snapshot(worker.pid)


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    """gunicorn settings for ``settings``."""
    from porto_inference.logs import JsonFormatter

    return {
        "bind": f"{settings.host}:{settings.port}",
        "workers": settings.workers,
        "worker_class": f"{PortoWorker.__module__}.{PortoWorker.__qualname__}",
        "timeout": settings.timeout_s,
        "graceful_timeout": settings.graceful_timeout_s,
        "keepalive": settings.keepalive_s,
        "accesslog": None,
        "loglevel": settings.log_level.lower(),
        "proc_name": "porto-inference",
        "child_exit": child_exit,
        # gunicorn >= 25.1 opens a control socket at a fixed per-user path by default; two
        # servers on one machine (tests, local + bench) would fight over it, and porto needs none.
        "control_socket_disable": True,
        "logconfig_dict": {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"json": {"()": JsonFormatter}},
            "handlers": {
                "stdout": {
                    "class": "logging.StreamHandler",
                    "formatter": "json",
                    "stream": "ext://sys.stdout",
                }
            },
            "loggers": {
                "gunicorn.error": {
                    "handlers": ["stdout"],
                    "level": settings.log_level,
                    "propagate": False,
                },
                "gunicorn.access": {"handlers": [], "propagate": False},
            },
            # Workers configure the root logger themselves (create_app); the master needs none.
            "root": {"handlers": [], "level": settings.log_level},
        },
    }


class GunicornApplication(BaseApplication):  # type: ignore[misc]
    """gunicorn driven from Python with a ready Settings object (workers inherit it by fork)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        for key, value in gunicorn_options(self.settings).items():
            if key in self.cfg.settings:  # options older gunicorn releases lack are skipped
                self.cfg.set(key, value)

    def load(self) -> Any:
        # Runs in each worker after the fork: the app (and prometheus_client) is created there.
        from porto_inference.api.app import create_app

        return create_app(self.settings)


def prepare_multiprocess_dir(path: Path | None) -> Path:
    """Return an empty directory for ``PROMETHEUS_MULTIPROC_DIR``: ``path`` emptied, or a new
    temporary one. Stale files from a previous run would add old counts to new ones."""
    if path is None:
        return Path(tempfile.mkdtemp(prefix="porto-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for child in path.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
    return path


def use_metrics_dir(path: Path | None) -> Path:
    """Point ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory (see
    :func:`prepare_multiprocess_dir`) and return it; the workers inherit it by fork.

    prometheus_client chooses between one-process and multiprocess values once, when it is
    first imported, from this variable: that is its documented switch. So this must run before
    anything imports it; RuntimeError if something already did in one-process mode (each worker
    would then count alone and /metrics would show one worker's share).
    """
    if "prometheus_client" in sys.modules and not os.environ.get(MULTIPROC_ENV):
        raise RuntimeError(
            "prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set: "
            "serve() must run before anything imports it"
        )
    metrics_dir = prepare_multiprocess_dir(path)
    os.environ[MULTIPROC_ENV] = str(metrics_dir)
    return metrics_dir


def serve(settings: Settings) -> None:
    """Run gunicorn in this process until it is stopped (SIGTERM: graceful, SIGINT: fast)."""
    metrics_dir = use_metrics_dir(settings.metrics_dir)
    worker_settings = settings
    if settings.prediction_log and settings.database_url is None:
        from porto_inference.log.database import migrate_url, start_embedded

        url = start_embedded(settings)
        worker_settings = settings.model_copy(update={"database_url": SecretStr(url)})
        # Workers migrate too (under a lock); doing it first here means they find it done.
        with contextlib.suppress(Exception):
            asyncio.run(migrate_url(url))
    try:
        GunicornApplication(worker_settings).run()
    finally:
        if settings.metrics_dir is None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


# --- as a child process ----------------------------------------------------------------------
class ServerProcess(ChildServer):
    """A ``porto-inference serve`` child process."""

    label = "the server"
    ready_path = "/ready"

    def __init__(self, process: subprocess.Popen[bytes], host: str, port: int) -> None:
        super().__init__(process, base_url(host, port))
        self.host = host
        self.port = port


def server_command(host: str, port: int, workers: int | None) -> list[str]:
    """The argv of ``porto-inference serve`` with this interpreter."""
    argv = [sys.executable, "-m", "porto_inference", "serve", "--host", host, "--port", str(port)]
    if workers is not None:
        argv += ["--workers", str(workers)]
    return argv


def start_server(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int | None = None,
    env: Mapping[str, str] | None = None,
    log_file: Path | None = None,
    cwd: Path | None = None,
) -> ServerProcess:
    """Start ``porto-inference serve`` in its own session (the terminal's Ctrl-C goes to the
    caller, which decides how to stop it); ``env`` adds to this process's environment."""
    process = spawn(
        server_command(host, port, workers),
        env={**os.environ, **(env or {})},
        log_file=log_file,
        cwd=cwd,
    )
    return ServerProcess(process, host, port)


@contextlib.contextmanager
def _forward_signals(server: ServerProcess) -> Iterator[None]:
    def forward(signum: int, frame: FrameType | None) -> None:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGHUP)}
    # Ctrl-C raises KeyboardInterrupt even when SIGINT came in ignored: a process started in the
    # background by a shell without job control (CI runners, `cmd &` in a script) inherits
    # SIGINT as SIG_IGN, and Python then leaves it ignored, so Ctrl-C would do nothing.
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_server(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int | None = None,
    env: Mapping[str, str] | None = None,
    ready_timeout: float = 120.0,
    on_ready: Any = None,
) -> int:
    """Run the API as a child process until it exits, Ctrl-C or SIGTERM; return its exit code.

    Ctrl-C and SIGTERM stop it gracefully (in-flight requests finish, the prediction log is
    flushed). ``on_ready(url)`` is called once ``/ready`` answers (or immediately with the URL
    if it does not within ``ready_timeout``: the server keeps running, e.g. to train first).
    """
    server = start_server(host=host, port=port, workers=workers, env=env)
    with _forward_signals(server):
        try:
            if on_ready is not None:
                with contextlib.suppress(TimeoutError):
                    server.wait_ready(ready_timeout)
                on_ready(server.url)
            return server.process.wait()
        except KeyboardInterrupt:
            return server.stop()
        finally:
            if server.process.poll() is None:
                server.stop()
