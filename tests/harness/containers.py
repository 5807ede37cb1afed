"""Containers the tests run on the suite's Docker engine, hardened as the chart runs them.

Every container runs with a read-only root filesystem, a fixed non-root user, no capabilities
and no privilege escalation (``docker run --read-only --user --cap-drop ALL --security-opt
no-new-privileges``), on an internal bridge network of the test's own: nothing is published, the
host reaches each container at its address on that bridge, and the containers reach nothing
beyond it. :class:`Containers` removes what it started (with their anonymous volumes); every
container and network carries the label ``porto.test``, so :func:`remove_leftovers` clears what an
interrupted session left.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from harness.docker import DockerEngine
from harness.ports import wait_for_http, wait_until
from harness.timing import DEADLINE

LABEL = "porto.test"
#: Hardening flags of every `docker run` here (the chart's securityContext, in Docker's words).
HARDENED = ("--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges")


@dataclass
class Container:
    """A container started by :class:`Containers`."""

    engine: DockerEngine
    id: str
    network: str

    def inspect(self) -> dict[str, Any]:
        """``docker inspect`` of the container."""
        data: list[dict[str, Any]] = json.loads(self.engine.docker("inspect", self.id).stdout)
        return data[0]

    @property
    def ip(self) -> str:
        """Its address on the test network (the host reaches it over the bridge)."""
        address: str = self.inspect()["NetworkSettings"]["Networks"][self.network]["IPAddress"]
        assert address, f"container {self.id[:12]} has no address on {self.network}"
        return address

    def logs(self) -> str:
        """Its output so far, stdout and stderr together (across restarts)."""
        out = self.engine.docker("logs", self.id)
        return out.stdout + out.stderr

    def url(self, port: int) -> str:
        """``http://<its address>:<port>``."""
        return f"http://{self.ip}:{port}"

    def running(self) -> bool:
        return bool(self.inspect()["State"]["Running"])

    def stop(self, grace: int = 30) -> int:
        """``docker stop``: SIGTERM, SIGKILL after ``grace`` s; returns the exit code."""
        self.engine.docker("stop", "--time", str(grace), self.id, timeout=grace + 60)
        return int(self.inspect()["State"]["ExitCode"])

    def restart(self) -> None:
        """``docker restart``: stopped (SIGTERM) and started again, same volumes."""
        self.engine.docker("restart", "--time", "30", self.id, timeout=120)

    def exec(self, *argv: str) -> tuple[int, str]:
        """Run ``argv`` in the container: (exit status, stdout + stderr)."""
        out = self.engine.docker("exec", self.id, *argv, check=False)
        return out.returncode, out.stdout + out.stderr

    def wait_exit(self, timeout: float = DEADLINE) -> int:
        """Wait for the container to stop; return its exit code."""
        out = self.engine.docker("wait", self.id, timeout=timeout)
        return int(out.stdout.strip())

    def wait_log(self, text: str, count: int = 1, timeout: float = DEADLINE) -> None:
        """Wait until ``text`` occurs ``count`` times in the logs (fails at once if the container
        stopped without it)."""

        def seen() -> bool:
            return self.logs().count(text) >= count

        try:
            wait_until(seen, timeout, f"{text!r} in the logs", alive=self.running, interval=0.2)
        except (TimeoutError, RuntimeError) as exc:
            raise AssertionError(f"{exc}; the logs:\n{self.logs()[-3000:]}") from None


@dataclass
class Containers:
    """Runs containers on one internal network; :meth:`close` removes them and the network."""

    engine: DockerEngine
    network: str = field(default_factory=lambda: f"porto-test-{uuid.uuid4().hex[:10]}")
    started: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.engine.docker("network", "create", "--internal", "--label", LABEL, self.network)

    def run(
        self,
        image: str,
        *args: str,
        user: str | None = None,
        env: dict[str, str] | None = None,
        mounts: tuple[str, ...] = (),
        aliases: tuple[str, ...] = (),
        entrypoint: str | None = None,
        detach: bool = True,
    ) -> Container:
        """``docker run`` ``image`` hardened (see the module) with ``args`` as its command;
        ``mounts`` are ``--mount`` specifications, ``aliases`` its names on the network.
        Detached, it returns once started; otherwise once it exited (``wait_exit`` then gives
        its status). Without ``user``, the image's own USER (which must not be root)."""
        name = f"{self.network}-{len(self.started)}"
        argv = ["run", "--name", name, "--network", self.network, "--label", LABEL, *HARDENED]
        if user is not None:
            argv += ["--user", user]
        if entrypoint is not None:
            argv += ["--entrypoint", entrypoint]
        for alias in aliases:
            argv += ["--network-alias", alias]
        for key, value in (env or {}).items():
            argv += ["--env", f"{key}={value}"]
        for mount in mounts:
            argv += ["--mount", mount]
        self.started.append(name)
        if detach:
            argv.append("--detach")
        self.engine.docker(*argv, image, *args, check=detach)
        return Container(self.engine, name, self.network)

    def close(self) -> None:
        for name in reversed(self.started):
            self.engine.docker("rm", "--force", "--volumes", name, check=False)
        # A just-removed container may hold the network for a moment.
        for _ in range(20):
            if self.engine.docker("network", "rm", self.network, check=False).returncode == 0:
                return
            time.sleep(0.5)


def run_once(
    engine: DockerEngine,
    image: str,
    *args: str,
    options: tuple[str, ...] = (),
    timeout: float = DEADLINE,
) -> subprocess.CompletedProcess[str]:
    """Run ``image`` hardened, without a network, to completion and remove it: its exit code
    and output."""
    argv = ["run", "--rm", "--network", "none", "--label", LABEL, *HARDENED, *options]
    return engine.docker(*argv, image, *args, check=False, timeout=timeout)


def remove_leftovers(engine: DockerEngine) -> None:
    """Remove every container and network of the suite (label ``porto.test``), and the dangling
    images that rebuilds leave."""
    ids = engine.docker("ps", "--all", "--quiet", "--filter", f"label={LABEL}").stdout.split()
    if ids:
        engine.docker("rm", "--force", "--volumes", *ids, check=False)
    nets = engine.docker("network", "ls", "--quiet", "--filter", f"label={LABEL}").stdout.split()
    if nets:
        engine.docker("network", "rm", *nets, check=False)
    engine.docker("image", "prune", "--force", check=False)


def wait_healthy(url: str, container: Container, timeout: float = DEADLINE) -> None:
    """Wait until GET ``url`` answers 2xx; AssertionError with the container's log if it exits
    first or never answers."""
    try:
        wait_for_http(url, timeout, alive=container.running)
    except (TimeoutError, RuntimeError) as exc:
        raise AssertionError(f"{exc}; the logs:\n{container.logs()[-3000:]}") from None
