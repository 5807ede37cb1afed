"""Fixtures of the image tests that run containers: porto's service images, built once per
session on the suite's Docker engine (``docker_engine``), and containers on a network of each
test's own, removed with their volumes afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness.docker import DockerEngine, EngineError, make_images
from images.containers import Containers

#: The tag the suite builds under (never a developer's IMAGE_TAG).
TEST_TAG = "porto-test"
#: CAs the build trusts besides the base image's (a TLS-intercepting proxy's live here too).
EXTRA_CA = Path("/etc/ssl/certs/ca-certificates.crt")


@dataclass(frozen=True)
class ServiceImages:
    """The built images' references."""

    minio: str
    postgres: str


@pytest.fixture(scope="session")
def service_images(docker_engine: DockerEngine) -> ServiceImages:
    """porto-minio and porto-postgres, built by ``make images`` on the offline base. The
    downloads (the base's packages, apt's) happen at the first build; the BuildKit cache makes
    every later one a cached rebuild that downloads nothing."""
    args = ["IMAGES=minio postgres", "BASE_IMAGE=offline", f"IMAGE_TAG={TEST_TAG}"]
    if EXTRA_CA.is_file():
        args.append(f"EXTRA_CA={EXTRA_CA}")
    try:
        make_images(docker_engine, *args)
    except EngineError as exc:
        pytest.fail(str(exc), pytrace=False)
    return ServiceImages(minio=f"porto-minio:{TEST_TAG}", postgres=f"porto-postgres:{TEST_TAG}")


@pytest.fixture
def containers(docker_engine: DockerEngine) -> Iterator[Containers]:
    """Runs hardened containers on an internal network of this test's own; removes them, their
    volumes and the network at the end."""
    box = Containers(docker_engine)
    try:
        yield box
    finally:
        box.close()
