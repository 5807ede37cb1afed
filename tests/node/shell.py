"""A user's shell on the node (`make`, kubectl, helm, port-forwards on context porto-node), and
the figures the user-path tests measure (printed at the end of the session)."""

from __future__ import annotations

import os
import subprocess
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from e2e.cluster import Target, port_forward
from harness.docker import TEST_TAG, DockerEngine
from harness.node import CONTEXT, Node
from harness.tools import REPO_ROOT, tool_path

#: Seconds each step of the user path took (the figures README and the notes quote).
FIGURES: dict[str, float] = {}


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
            *([] if any(a.startswith("IMAGE_TAG=") for a in args) else [f"IMAGE_TAG={TEST_TAG}"]),
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

    def release_leftovers(self, namespace: str, release: str, timeout: float = 180) -> str:
        """After ``helm uninstall``: wait until none of the release's objects but Secrets and
        PVCs is left (AssertionError naming them otherwise); return the Secrets and PVCs left."""
        kinds = (
            "deployments,statefulsets,services,jobs,cronjobs,configmaps,pods,serviceaccounts,"
            "roles,rolebindings,servicemonitors,podmonitors,prometheusrules,httproutes,ingresses,"
            "networkpolicies,poddisruptionbudgets"
        )
        selector = f"app.kubernetes.io/instance={release}"
        deadline = time.monotonic() + timeout
        while left := self.kubectl("-n", namespace, "get", kinds, "-l", selector, "-o", "name"):
            assert time.monotonic() < deadline, f"left after helm uninstall: {left}"
            time.sleep(2)
        return self.kubectl("-n", namespace, "get", "secrets,pvc", "-l", selector, "-o", "name")

    def port_forward(self, namespace: str, service: str, port: int) -> AbstractContextManager[str]:
        """``kubectl port-forward svc/<service>`` on a free local port: ``http://127.0.0.1:N``
        (a context manager)."""
        target = Target(context=CONTEXT, namespace=namespace, release="", monitoring="")
        return port_forward(
            target, namespace, service, port, kubectl=str(tool_path("kubectl")), env=self.env
        )
