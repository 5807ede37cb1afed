"""The suite's Docker engine and porto's images, built once per session by ``make images``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from harness.containers import create_network, remove_leftovers
from harness.docker import TEST_TAG, DockerEngine, make_images, suite_build_args


@dataclass(frozen=True)
class BuiltImages:
    """What ``make images`` printed, and BuildKit's output per image."""

    output: str
    logs: dict[str, str]

    def ref(self, image: str) -> str:
        """``porto-<image>:<test tag>``."""
        return f"porto-{image}:{TEST_TAG}"


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """The suite's own dockerd (harness.docker), started once, stopped at the end."""
    with DockerEngine() as engine:
        remove_leftovers(engine)
        try:
            yield engine
        finally:
            remove_leftovers(engine)


@pytest.fixture(scope="session")
def built_images(
    docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory
) -> BuiltImages:
    """All five images, built for real by ``make images`` with the BuildKit cache the install
    phase filled, Python steps offline (UV_OFFLINE=1)."""
    logs = tmp_path_factory.mktemp("build-logs")
    os.environ["BUILD_LOG_DIR"] = str(logs)
    try:
        output = make_images(docker_engine, *suite_build_args(offline=True))
    finally:
        del os.environ["BUILD_LOG_DIR"]
    return BuiltImages(output, {p.stem: p.read_text() for p in logs.glob("*.log")})


@pytest.fixture(scope="module")
def network(docker_engine: DockerEngine) -> Iterator[str]:
    """An --internal network for one test module's containers."""
    name = create_network(docker_engine)
    yield name
    docker_engine.docker("network", "rm", name, check=False)
