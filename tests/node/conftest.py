"""Fixtures of the user-path tests: the real node (``harness.node``), brought up once per session
as `make node-up` does, and the commands users type, run against it.

The node is root-only and takes minutes; it is started only when a test here asks for it. A node
already up (`make node-up` before `make test`) is used as it is and left running; one this
session started is taken down at the end, and what ``down`` leaves behind fails the session.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from harness.docker import TEST_TAG, DockerEngine, suite_build_args
from harness.node import CONTEXT, Node, NodeError, leftovers
from harness.tools import REPO_ROOT, tool_path

#: Seconds each step of the user path took, printed at the end of the session (the figures the
#: README and the release notes quote).
FIGURES: dict[str, float] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("porto-node figures (seconds)")
        for name, seconds in FIGURES.items():
            terminalreporter.write_line(f"{name:<55} {seconds:8.1f}")


def _say(message: str) -> None:
    print(f"porto-node: {message}", file=sys.stderr, flush=True)


@pytest.fixture(scope="session")
def porto_node() -> Iterator[Node]:
    """The node, up: Kubernetes, CoreDNS, StorageClass ``standard``, the monitoring stack."""
    node = Node()
    reused = node.is_up()
    began = time.monotonic()
    try:
        node.up(log=_say)
    except NodeError as exc:
        pytest.fail(f"the node did not come up: {exc}", pytrace=False)
    if not reused:
        FIGURES["node up (make node-up)"] = time.monotonic() - began
    try:
        yield node
    finally:
        if not reused:
            node.down(log=_say)
            left = leftovers(node.paths)
            assert not left, f"`node down` left: {left}"


@dataclass
class UserShell:
    """Runs `make` as a user would, with context porto-node in the kubeconfig and the suite's
    Docker engine as DOCKER_HOST."""

    node: Node
    engine: DockerEngine
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = {
            **os.environ,
            **self.engine.env(),
            "KUBECONFIG": str(self.node.paths.kubeconfig),
            "KUBECTL": str(tool_path("kubectl")),
            "UV_OFFLINE": "1",
        }

    def make(self, *args: str, timeout: float = 3600, check: bool = True) -> str:
        """``make ARGS KUBE_CONTEXT=porto-node IMAGE_TAG=<suite tag>``; output (stdout+stderr),
        AssertionError with its tail when it fails and ``check``."""
        argv = [
            "make",
            "--no-print-directory",
            *args,
            f"KUBE_CONTEXT={CONTEXT}",
            f"IMAGE_TAG={TEST_TAG}",
        ]
        began = time.monotonic()
        out = subprocess.run(
            argv,
            cwd=REPO_ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        FIGURES[f"make {' '.join(args)}"] = time.monotonic() - began
        if check:
            assert out.returncode == 0, f"{' '.join(argv)} failed:\n{out.stdout[-6000:]}"
        return out.stdout

    def kubectl(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        out = subprocess.run(
            [str(tool_path("kubectl")), "--context", CONTEXT, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            assert out.returncode == 0, f"kubectl {' '.join(args)}: {out.stderr}"
        return out.stdout

    def helm(self, *args: str, check: bool = True, timeout: float = 1800) -> str:
        out = subprocess.run(
            [str(tool_path("helm")), "--kube-context", CONTEXT, *args],
            env=self.env,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        if check:
            assert out.returncode == 0, f"helm {' '.join(args)}:\n{out.stdout[-4000:]}"
        return out.stdout


@pytest.fixture(scope="session")
def user(porto_node: Node, docker_engine: DockerEngine) -> UserShell:
    """A shell of a user of the node: `make`, kubectl and helm on context porto-node."""
    return UserShell(porto_node, docker_engine)


@pytest.fixture(scope="session")
def images_on_node(user: UserShell) -> str:
    """`make images load KUBE_CONTEXT=porto-node`: porto's images built offline on the suite's
    engine (the BuildKit cache the install phase filled) and copied into the node."""
    build = [arg for arg in suite_build_args(offline=True) if not arg.startswith("IMAGE_TAG=")]
    return user.make("images", "load", *build)


def repo_path(*parts: str) -> Path:
    return REPO_ROOT.joinpath(*parts)
