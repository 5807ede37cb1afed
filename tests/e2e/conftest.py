"""End-to-end tests against a real cluster: `make cluster images load deploy e2e` (or the
GitHub workflow, which does the same on kind).

They run only with PORTO_E2E=1 (and the `kubernetes` client, which `make e2e` adds with
`uv run --with`); otherwise every test here is skipped with the reason. Which cluster and release
they talk to comes from the environment `make e2e` sets:

    PORTO_E2E_CONTEXT               kube-context        (default kind-porto)
    PORTO_E2E_NAMESPACE             release namespace   (default porto)
    PORTO_E2E_RELEASE               helm release name   (default porto)
    PORTO_E2E_MONITORING_NAMESPACE  kube-prometheus-stack's namespace (default monitoring)
    PORTO_E2E_KUBECTL               the kubectl that port-forwards (default kubectl)

The API key (production requires one) is read from the release's Secret, the one the chart
generates (`<release>-inference-api-key`, key `api-key`), as the chart's NOTES tell users to.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e.cluster import Kube, Target, port_forward

ENABLED = os.environ.get("PORTO_E2E") == "1"
SKIP_REASON = (
    "end-to-end tests need a cluster: run `make cluster images load deploy e2e` "
    "(they run only with PORTO_E2E=1)"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: needs a Kubernetes cluster with porto deployed")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.e2e)
            if not ENABLED:
                item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


@pytest.fixture(scope="session")
def target() -> Target:
    """The cluster, namespace and release under test."""
    return Target(
        context=os.environ.get("PORTO_E2E_CONTEXT", "kind-porto"),
        namespace=os.environ.get("PORTO_E2E_NAMESPACE", "porto"),
        release=os.environ.get("PORTO_E2E_RELEASE", "porto"),
        monitoring=os.environ.get("PORTO_E2E_MONITORING_NAMESPACE", "monitoring"),
    )


@pytest.fixture(scope="session")
def kube(target: Target) -> Kube:
    """API clients from the kubeconfig's ``target.context``."""
    client = pytest.importorskip(
        "kubernetes.client", reason="`make e2e` adds the kubernetes client"
    )
    config = pytest.importorskip("kubernetes.config")
    api = config.new_client_from_config(context=target.context)
    return Kube(client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api))


@pytest.fixture(scope="session")
def api_key(kube: Kube, target: Target) -> str:
    """The release's API key, from the Secret the chart generated."""
    secret = kube.core.read_namespaced_secret(target.api_key_secret, target.namespace)
    key = base64.b64decode(secret.data["api-key"]).decode()
    assert len(key) >= 32, f"Secret {target.api_key_secret}: not the generated key"
    return key


@pytest.fixture(scope="session")
def forward(target: Target) -> Iterator[Callable[[str, str, int], str]]:
    """Open port-forwards for the session: ``forward(namespace, service, port) -> url``."""
    opened: dict[tuple[str, str, int], str] = {}
    stack: list[Any] = []

    def _forward(namespace: str, service: str, port: int) -> str:
        key = (namespace, service, port)
        if key not in opened:
            manager = port_forward(target, namespace, service, port)
            opened[key] = manager.__enter__()
            stack.append(manager)
        return opened[key]

    yield _forward
    for manager in reversed(stack):
        manager.__exit__(None, None, None)
