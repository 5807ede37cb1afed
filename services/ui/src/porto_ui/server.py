"""Running the UI: ``streamlit run`` on the packaged app with headless, production settings.

:func:`serve` replaces this process with Streamlit (what ``porto-ui serve`` and a container
run: signals reach Streamlit directly). :func:`start_ui` starts it as a child process and
returns at once (``make demo`` and the tests); :meth:`UIProcess.wait_ready` polls Streamlit's
health endpoint.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from porto_ui.settings import ENV_PREFIX, UISettings

#: Streamlit's own liveness endpoint.
HEALTH_PATH = "/_stcore/health"


def app_path() -> Path:
    """The Streamlit entry script inside the installed package."""
    return Path(__file__).resolve().parent / "app.py"


def streamlit_command(settings: UISettings) -> list[str]:
    """The argv of ``streamlit run`` (through :mod:`porto_ui.launch`, which starts the metrics
    endpoint first) for ``settings``: headless, no usage statistics, no file watcher (nothing is
    edited in production, and it costs CPU), no developer menu."""
    return [
        sys.executable,
        "-m",
        "porto_ui.launch",
        "run",
        str(app_path()),
        "--server.headless=true",
        f"--server.address={settings.host}",
        f"--server.port={settings.port}",
        f"--server.maxUploadSize={settings.max_upload_mb}",
        "--server.fileWatcherType=none",
        "--server.runOnSave=false",
        "--browser.gatherUsageStats=false",
        "--client.toolbarMode=viewer",
        "--client.showErrorDetails=none",
        "--global.developmentMode=false",
        "--logger.level=warning",
        "--theme.base=light",
    ]


def settings_env(settings: UISettings) -> dict[str, str]:
    """``settings`` as PORTO_UI_* variables for the Streamlit process (which reads them)."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        env[f"{ENV_PREFIX}{name.upper()}"] = str(value)
    return env


def serve(settings: UISettings) -> None:
    """Become the Streamlit server (never returns)."""
    env = {**os.environ, **settings_env(settings)}
    argv = streamlit_command(settings)
    os.execve(argv[0], argv, env)


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: SIGTERM the UI if the process that started it dies (no orphaned servers)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class UIProcess:
    """A Streamlit child process serving the porto UI."""

    def __init__(self, process: subprocess.Popen[bytes], settings: UISettings) -> None:
        self.process = process
        self.settings = settings

    @property
    def url(self) -> str:
        """The UI's URL."""
        host = self.settings.host
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{host}:{self.settings.port}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until Streamlit answers its health check; RuntimeError if it exits first."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the UI exited with code {self.process.returncode}")
            try:
                with urllib.request.urlopen(self.url + HEALTH_PATH, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.url} not ready after {timeout:.0f}s")
            time.sleep(0.2)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout``; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def start_ui(
    settings: UISettings,
    *,
    env: Mapping[str, str] | None = None,
    log_file: Path | None = None,
    cwd: Path | None = None,
) -> UIProcess:
    """Start the UI as a child process in its own session and return at once."""
    full_env = {**os.environ, **(env or {}), **settings_env(settings)}
    out: Any = None
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        out = log_file.open("ab")
    try:
        process = subprocess.Popen(
            streamlit_command(settings),
            env=full_env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    finally:
        if out is not None:
            out.close()
    return UIProcess(process, settings)
