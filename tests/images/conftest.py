"""Fixtures of the image tests: porto's five images, built once per session by ``make images`` on
the suite's Docker engine (``docker_engine``, tests/conftest.py), and containers on a network of
each test's own, removed with their volumes afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from harness.containers import Containers, remove_leftovers
from harness.docker import TEST_TAG, DockerEngine, EngineError, make_images, suite_build_args


@dataclass(frozen=True)
class BuiltImages:
    """What ``make images`` printed, and BuildKit's output per image."""

    output: str
    logs: dict[str, str]

    def ref(self, image: str) -> str:
        """``porto-<image>:<test tag>``."""
        return f"porto-{image}:{TEST_TAG}"


@dataclass(frozen=True)
class ServiceImages:
    """The references of the object store's and the database's images."""

    minio: str
    postgres: str


@pytest.fixture(scope="session")
def built_images(
    docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory
) -> BuiltImages:
    """All five images (inference, UI, training, MinIO, PostgreSQL), built for real by
    ``make images BASE_IMAGE=offline`` with the BuildKit cache the install phase filled
    (``python -m harness.docker prebuild``), porto's packages installed offline (UV_OFFLINE=1):
    the suite downloads nothing."""
    remove_leftovers(docker_engine)
    logs = tmp_path_factory.mktemp("build-logs")
    os.environ["BUILD_LOG_DIR"] = str(logs)
    try:
        output = make_images(docker_engine, *suite_build_args(offline=True))
    except EngineError as exc:
        pytest.fail(str(exc), pytrace=False)
    finally:
        del os.environ["BUILD_LOG_DIR"]
    return BuiltImages(output, {p.stem: p.read_text() for p in logs.glob("*.log")})


@pytest.fixture(scope="session")
def service_images(built_images: BuiltImages) -> ServiceImages:
    """porto-minio and porto-postgres (built with the others by ``built_images``)."""
    return ServiceImages(minio=built_images.ref("minio"), postgres=built_images.ref("postgres"))


@pytest.fixture
def containers(docker_engine: DockerEngine) -> Iterator[Containers]:
    """Runs hardened containers on an internal network of this test's own; removes them, their
    volumes and the network at the end."""
    box = Containers(docker_engine)
    try:
        yield box
    finally:
        box.close()
