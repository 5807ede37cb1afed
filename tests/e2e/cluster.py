"""Helpers of the end-to-end tests: where porto runs, API clients, port-forwards, waiting."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class Target:
    """Where porto is deployed."""

    context: str
    namespace: str
    release: str
    monitoring: str

    @property
    def inference(self) -> str:
        """The inference Service (and Deployment) name."""
        return f"{self.release}-inference"

    @property
    def api_key_secret(self) -> str:
        """The Secret the chart generates the API key into (key ``api-key``)."""
        return f"{self.inference}-api-key"

    @property
    def ui(self) -> str:
        """The UI Service (and Deployment) name; Prometheus' `service` label of its metrics."""
        return f"{self.release}-ui"


@dataclass
class Kube:
    """Kubernetes API clients for one context."""

    core: Any
    apps: Any
    batch: Any


@contextmanager
def port_forward(
    target: Target,
    namespace: str,
    service: str,
    port: int,
    *,
    kubectl: str | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """``kubectl port-forward`` to a Service on a free local port; yields ``http://127.0.0.1:N``.
    ``kubectl`` defaults to ``$PORTO_E2E_KUBECTL``, else ``kubectl``; ``env`` to this one's."""
    process = subprocess.Popen(
        [
            kubectl or os.environ.get("PORTO_E2E_KUBECTL", "kubectl"),
            "--context",
            target.context,
            "-n",
            namespace,
            "port-forward",
            f"svc/{service}",
            f":{port}",
            "--address",
            "127.0.0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert match, f"kubectl port-forward svc/{service}: {line}"
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        process.terminate()
        process.wait(10)


def eventually(check: Callable[[], Any], timeout: float, what: str, every: float = 5.0) -> Any:
    """Call ``check`` until it returns a truthy value or ``timeout`` passes (then fail, with the
    last exception or value)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
            last = result
        except Exception as exc:
            last = exc
        time.sleep(every)
    pytest.fail(f"{what}: not within {timeout:.0f}s (last: {last!r})")
