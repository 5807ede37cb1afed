"""Every port a porto command binds, taken by another process: the command exits 1 with one
``error:`` line naming the port, the address and the option that moves it — no traceback, no
silent collision, nothing left running or half done.

Each command runs for real (``subprocess``) while a test socket listens on the port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.ports import free_port, port_open

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
#: What stands for the held port, and for a free one, in a command line.
HELD = "{held}"
FREE = "{free}"


@pytest.fixture
def held() -> Iterator[int]:
    """A loopback port another process (this test) listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        yield int(listener.getsockname()[1])


def clash(port: int, option: str, host: str = "127.0.0.1") -> str:
    return (
        f"error: port {port} ({option}) is already in use on {host}: pick another with {option} "
        "or stop what holds it"
    )


def run(argv: list[str], home: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=home.parent,
        env={**os.environ, "PORTO_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_line(done: subprocess.CompletedProcess[str], line: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [line], done.stderr
    assert "Traceback" not in done.stdout + done.stderr


DEMO = [PY, str(REPO / "scripts" / "demo.py")]


@pytest.mark.parametrize("option", ["--api-port", "--ui-port", "--ui-metrics-port"])
def test_make_demo_refuses_a_taken_port_before_starting_anything(
    option: str, held: int, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    ports = {o: free_port() for o in ("--api-port", "--ui-port", "--ui-metrics-port")}
    ports[option] = held
    argv = [*DEMO, *(x for o, p in ports.items() for x in (o, str(p)))]
    done = run(argv, home)
    assert_one_line(done, clash(held, option))
    # Nothing trained, nothing started.
    assert not (home / "artifacts").exists()
    assert not any(port_open(p) for o, p in ports.items() if o != option)


def test_make_demo_refuses_one_port_for_two_servers(tmp_path: Path) -> None:
    port = free_port()
    done = run([*DEMO, "--api-port", str(port), "--ui-port", str(port)], tmp_path / "home")
    assert_one_line(
        done,
        f"error: port {port} is given to both --api-port and --ui-port: pick another with "
        "--ui-port",
    )


@pytest.mark.parametrize(
    ("argv", "option", "host"),
    [
        pytest.param(
            [PY, "-m", "porto_inference", "serve", "--port", HELD],
            "--port",
            "127.0.0.1",
            id="porto-inference serve",
        ),
        pytest.param(
            [PY, "-m", "porto_ui", "serve", "--port", HELD, "--metrics-port", "0"],
            "--port",
            "127.0.0.1",
            id="porto-ui serve --port",
        ),
        pytest.param(
            [PY, "-m", "porto_ui", "serve", "--port", FREE, "--metrics-port", HELD],
            "--metrics-port",
            "127.0.0.1",
            id="porto-ui serve --metrics-port",
        ),
        pytest.param(
            [PY, "-m", "porto_training.cli", "train", "--rows", "2000", "--metrics-port", HELD],
            "--metrics-port",
            "0.0.0.0",
            id="porto-train train --metrics-port",
        ),
        pytest.param(
            [PY, str(REPO / "dashboards" / "monitor.py"), "--listen", f"127.0.0.1:{HELD}"],
            "--listen",
            "127.0.0.1",
            id="make monitor --listen",
        ),
        pytest.param(
            [PY, str(REPO / "dashboards" / "monitor.py"), "--node-listen", f"127.0.0.1:{HELD}"],
            "--node-listen",
            "127.0.0.1",
            id="make monitor --node-listen",
        ),
    ],
)
def test_each_command_refuses_a_taken_port_in_one_line(
    argv: list[str], option: str, host: str, held: int, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    done = run([a.replace(HELD, str(held)).replace(FREE, str(free_port())) for a in argv], home)
    assert_one_line(done, clash(held, option, host))
    assert not (home / "artifacts").exists()  # porto-train stopped before training


def test_the_ui_launcher_exits_when_its_metrics_port_is_taken(held: int, tmp_path: Path) -> None:
    """The process ``porto-ui serve`` and ``make demo`` start: if the metrics port is taken
    after their check, it exits (the demo then stops the API) instead of serving without
    metrics."""
    from porto_ui.server import streamlit_command
    from porto_ui.settings import load_settings

    settings = load_settings(port=free_port(), metrics_port=held)
    env = {"PORTO_UI_METRICS_PORT": str(held)}
    done = subprocess.run(
        streamlit_command(settings),
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert_one_line(done, clash(held, "PORTO_UI_METRICS_PORT"))
    assert not port_open(settings.port)
