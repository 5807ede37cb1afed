"""Running the UI: ``streamlit run`` on the packaged app with headless, production settings.

:func:`serve` replaces this process with Streamlit (what ``porto-ui serve`` and a container
run: signals reach Streamlit directly). :func:`start_ui` starts it as a child process and
returns at once (``make demo`` and the tests); :meth:`UIProcess.wait_ready` polls Streamlit's
health endpoint.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from porto.child_process import ChildServer, base_url, spawn

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


class UIProcess(ChildServer):
    """A Streamlit child process serving the porto UI."""

    label = "the UI"
    ready_path = HEALTH_PATH
    poll_interval = 0.2

    def __init__(self, process: subprocess.Popen[bytes], settings: UISettings) -> None:
        super().__init__(process, base_url(settings.host, settings.port))
        self.settings = settings

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout``; the exit code."""
        return super().stop(timeout)


def start_ui(
    settings: UISettings,
    *,
    env: Mapping[str, str] | None = None,
    log_file: Path | None = None,
    cwd: Path | None = None,
) -> UIProcess:
    """Start the UI as a child process in its own session and return at once."""
    process = spawn(
        streamlit_command(settings),
        env={**os.environ, **(env or {}), **settings_env(settings)},
        log_file=log_file,
        cwd=cwd,
    )
    return UIProcess(process, settings)
