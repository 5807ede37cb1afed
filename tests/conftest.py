"""Session fixtures for the real servers the integration tests run against.

Each server starts once per session and only if some selected test asks for it, so
``make test-fast`` (``-m "not integration"``) starts nothing. A missing binary fails the test
with instructions instead of skipping it: CI must never pass without its integration tests.
Tests that use these fixtures carry ``@pytest.mark.integration``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Protocol, TypeVar

import pytest
from harness.containers import remove_leftovers
from harness.crds import cluster_crd_documents
from harness.docker import DockerEngine, EngineError, trim_build_cache
from harness.kube import KubeControlPlane
from harness.minio import MinioServer
from harness.postgres import PostgresServer
from harness.timing import SLOW_MACHINE
from harness.tools import MissingToolError
from porto.store import S3Options

#: Fixtures that start a real server; a test using any of them is an integration test.
SERVER_FIXTURES = frozenset(
    {"minio_server", "s3_options", "postgres_server", "kube_cluster", "docker_engine"}
)


@pytest.hookimpl(tryfirst=True)  # before pytest-timeout reads its setting
def pytest_configure(config: pytest.Config) -> None:
    """Scale pytest-timeout's per-test limit by ``PORTO_TEST_SLOW_MACHINE`` as every wait in
    the suite is (harness.timing), unless ``--timeout`` or ``PYTEST_TIMEOUT`` set it."""
    ini = config.getini("timeout")
    given = config.getoption("timeout", None) is not None or "PYTEST_TIMEOUT" in os.environ
    if SLOW_MACHINE != 1 and ini and not given:
        config.option.timeout = float(ini) * SLOW_MACHINE


@pytest.hookimpl(tryfirst=True)  # before `-m` deselection reads the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that use a server as ``integration`` even when the author forgot to, so
    ``make test-fast`` never starts a server."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


class _Server(Protocol):
    def start(self) -> None: ...
    def close(self) -> None: ...


S = TypeVar("S", bound=_Server)


@contextmanager
def _served(factory: Callable[[], S]) -> Iterator[S]:
    """Create, start and finally close a harness server; a missing binary fails the test with
    the command that builds it (never a skip)."""
    try:
        server = factory()
    except MissingToolError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def minio_server() -> Iterator[MinioServer]:
    """A MinIO server on a free loopback port (``endpoint``, ``access_key``, ``secret_key``,
    ``stop()``, ``start()``). A test that stops it must start it again before it ends."""
    with _served(MinioServer) as server:
        yield server


@pytest.fixture(scope="session")
def s3_options(minio_server: MinioServer) -> S3Options:
    """S3Options for ``minio_server`` with short timeouts and one retry, so failure tests are
    fast. Session-wide and mutable: derive variants with ``dataclasses.replace``."""
    return S3Options(
        endpoint_url=minio_server.endpoint,
        access_key=minio_server.access_key,
        secret_key=minio_server.secret_key,
        connect_timeout=2.0,
        read_timeout=10.0,
        max_attempts=2,
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server on a free loopback port (``dsn``, ``stop()``, ``start()``).
    A test that stops it must start it again before it ends."""
    with _served(PostgresServer) as server:
        yield server


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator[KubeControlPlane]:
    """etcd + kube-apiserver on loopback with the prometheus-operator and Gateway API CRDs
    installed (``kubeconfig`` of an admin, ``api_client()``, ``create_namespace()``, tokens).
    No kubelet or controllers: tests see what the API server accepts and stores. Each test
    works in a namespace of its own."""
    with _served(KubeControlPlane) as plane:
        plane.install_crds(cluster_crd_documents())
        yield plane


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """A Docker engine of the suite's own (harness.docker: Debian's dockerd on its own socket and
    bridge; ``PORTO_TEST_DOCKER_HOST`` names an existing one instead), started once per session.
    An engine that cannot start fails the test with what to install or set (never a skip)."""
    engine = DockerEngine()
    try:
        engine.start()
    except EngineError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield engine
    finally:
        remove_leftovers(engine)
        with suppress(EngineError):  # a full disk must not hide the run's results
            trim_build_cache(engine)
        engine.stop()
