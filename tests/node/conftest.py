"""Fixtures of the user-path tests: the real node (``harness.node``), brought up once for this
directory as `make node-up` does, and the commands users type, run against it.

The node is root-only and takes minutes; it is started only when a test here asks for it. A node
already up (`make node-up` before `make test`) is used as it is and left running; one this
session started is taken down at the end, and what ``down`` leaves behind fails the session.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import pytest
from harness.dashboards_package import import_porto_dashboards
from harness.docker import DockerEngine, suite_build_args
from harness.node import Node, NodeError, leftovers

from node.shell import FIGURES, UserShell

import_porto_dashboards()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("porto-node figures (seconds)")
        for name, seconds in FIGURES.items():
            terminalreporter.write_line(f"{name:<55} {seconds:8.1f}")


def _say(message: str) -> None:
    print(f"porto-node: {message}", file=sys.stderr, flush=True)


@pytest.fixture(scope="package")
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


@pytest.fixture(scope="package")
def user(docker_engine: DockerEngine, porto_node: Node) -> UserShell:
    """A shell of a user of the node: `make`, kubectl and helm on context porto-node. (The
    engine starts first: Docker puts its FORWARD rules on top when it starts, the node's go
    above them.)"""
    return UserShell(porto_node, docker_engine)


@pytest.fixture(scope="package")
def images_on_node(user: UserShell) -> str:
    """`make images load KUBE_CONTEXT=porto-node`: porto's images built offline on the suite's
    engine (the BuildKit cache the install phase filled) and copied into the node."""
    build = [arg for arg in suite_build_args(offline=True) if not arg.startswith("IMAGE_TAG=")]
    return user.make("images", "load", *build)
