"""Containers of the suite's own Docker engine, run the way the chart runs porto's pods.

Every container runs hardened as in the chart's pods: a read-only root filesystem (only the
image's declared VOLUMEs are writable), every capability dropped, no privilege escalation, the
image's own non-root user. They sit on an ``--internal`` network the harness creates (no route
out of the machine); the tests reach them at their addresses on that network's bridge, which
lives on this machine. Everything carries the label ``porto.test`` so a session's leftovers are
removed even after an interrupted run.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.docker import DockerEngine, EngineError
from harness.timing import DEADLINE

LABEL = "porto.test"
HARDENED = ("--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges")


@dataclass
class Container:
    """One container; ``name`` is unique per session."""

    engine: DockerEngine
    name: str
    network: str

    def inspect(self) -> dict[str, Any]:
        """``docker inspect`` of the container."""
        out = self.engine.docker("inspect", self.name)
        result: list[dict[str, Any]] = json.loads(out.stdout)
        return result[0]

    @property
    def ip(self) -> str:
        """The container's address on its network."""
        return str(self.inspect()["NetworkSettings"]["Networks"][self.network]["IPAddress"])

    def url(self, port: int) -> str:
        """``http://<ip>:<port>``."""
        return f"http://{self.ip}:{port}"

    def logs(self) -> str:
        """Everything the container wrote (stdout and stderr, interleaved)."""
        out = self.engine.docker("logs", self.name, check=False)
        return out.stdout + out.stderr

    def exec(self, *argv: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the running container (as its user unless ``user``)."""
        return self.engine.docker(
            "exec", *(("--user", user) if user else ()), self.name, *argv, check=False
        )

    def state(self) -> dict[str, Any]:
        """``.State`` of the container (Running, ExitCode, ...)."""
        state: dict[str, Any] = self.inspect()["State"]
        return state

    def wait(self, timeout: float = DEADLINE) -> int:
        """Wait for the container to exit; return its exit code."""
        out = self.engine.docker("wait", self.name, timeout=timeout)
        return int(out.stdout.strip())

    def stop(self, grace: int = 30) -> int:
        """``docker stop`` (SIGTERM, then SIGKILL after ``grace`` s); return the exit code."""
        self.engine.docker("stop", "--time", str(grace), self.name, timeout=grace + 60)
        return int(self.state()["ExitCode"])

    def restart(self) -> None:
        """``docker restart``: SIGTERM, then the same container (and volumes) started again."""
        self.engine.docker("restart", "--time", "30", self.name, timeout=120)

    def remove(self) -> None:
        """Remove the container and its anonymous volumes."""
        self.engine.docker("rm", "--force", "--volumes", self.name, check=False)


def run_container(
    engine: DockerEngine,
    image: str,
    *args: str,
    network: str,
    role: str,
    env: Mapping[str, str] | None = None,
    options: Sequence[str] = (),
    hardened: bool = True,
) -> Container:
    """Start ``image`` (with ``args`` after the image) detached on ``network``."""
    name = f"porto-test-{role}-{secrets.token_hex(3)}"
    argv = ["run", "--detach", "--name", name, "--network", network, "--label", LABEL]
    if hardened:
        argv += HARDENED
    for key, value in (env or {}).items():
        argv += ["--env", f"{key}={value}"]
    engine.docker(*argv, *options, image, *args)
    return Container(engine, name, network)


def run_once(
    engine: DockerEngine,
    image: str,
    *args: str,
    network: str = "none",
    env: Mapping[str, str] | None = None,
    options: Sequence[str] = (),
    timeout: float = DEADLINE,
) -> subprocess.CompletedProcess[str]:
    """Run a hardened throwaway container to completion; its exit code and output."""
    argv = ["run", "--rm", "--network", network, "--label", LABEL, *HARDENED]
    for key, value in (env or {}).items():
        argv += ["--env", f"{key}={value}"]
    return engine.docker(*argv, *options, image, *args, check=False, timeout=timeout)


def create_network(engine: DockerEngine) -> str:
    """A new ``--internal`` network: containers on it reach each other and this machine's
    bridge address, nothing beyond."""
    name = f"porto-test-{secrets.token_hex(3)}"
    engine.docker("network", "create", "--internal", "--label", LABEL, name)
    return name


def remove_leftovers(engine: DockerEngine) -> None:
    """Remove every container and network of the suite (``porto.test``), and dangling images
    that rebuilds left behind."""
    ids = engine.docker("ps", "--all", "--quiet", "--filter", f"label={LABEL}").stdout.split()
    if ids:
        engine.docker("rm", "--force", "--volumes", *ids, check=False)
    nets = engine.docker("network", "ls", "--quiet", "--filter", f"label={LABEL}").stdout.split()
    if nets:
        engine.docker("network", "rm", *nets, check=False)
    engine.docker("image", "prune", "--force", check=False)


def wait_healthy(url: str, container: Container, timeout: float = DEADLINE) -> None:
    """Wait until GET ``url`` answers 200; EngineError with the container's log if it exits
    first or never answers."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = str(exc)
        if not container.state().get("Running"):
            break
        time.sleep(0.5)
    tail = "\n".join(container.logs().splitlines()[-40:])
    raise EngineError(f"{container.name}: {url} did not answer 200 ({last}):\n{tail}")
