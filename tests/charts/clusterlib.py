"""charts/porto installed on the test API server, and reading back what it stored.

A ``Release`` is one ``helm install`` of charts/porto into a namespace of its own on the
session's kube-apiserver (``kube_cluster``), with ``ControllerStandIns`` completing the hook Jobs
helm waits for (``harness.kube_helm``, which also runs kubectl: ``run_tool``). ``stored(doc)``
reads an object back through the API with the ``kubernetes`` client's dynamic client, so tests
compare what the chart intends with what the server accepted, defaulted and kept.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from typing import Any

import yaml
from charts.chartlib import CHART, SCENARIOS
from harness import kube_helm
from harness.kube import KubeControlPlane
from kubernetes import dynamic
from kubernetes.client.exceptions import ApiException

HELM_TIMEOUT = kube_helm.HELM_TIMEOUT


def values_args(scenario: str) -> list[str]:
    """``-f`` for a scenario's values file."""
    return ["-f", str(SCENARIOS[scenario])]


@dataclass
class Release:
    """One installed release of charts/porto on the test API server."""

    plane: KubeControlPlane
    name: str
    namespace: str
    scenario: str
    history: list[str] = field(default_factory=list)
    #: stdout + stderr of the last install or upgrade (the server's warnings are in stderr).
    install_output: str = ""

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """helm with the admin kubeconfig, in this release's namespace."""
        return kube_helm.helm(self.plane, self.namespace, *args, check=check)

    def install(self, *extra: str) -> subprocess.CompletedProcess[str]:
        """``helm install`` the scenario (plus ``extra`` flags), hooks completed by stand-ins."""
        return self._with_standins(
            "install", self.name, str(CHART), *values_args(self.scenario), *extra
        )

    def upgrade(self, *extra: str) -> subprocess.CompletedProcess[str]:
        """``helm upgrade`` with the scenario's values plus ``extra`` flags."""
        return self._with_standins(
            "upgrade", self.name, str(CHART), *values_args(self.scenario), *extra
        )

    def _with_standins(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = kube_helm.helm_with_standins(
            self.plane, self.namespace, *args, "--timeout", HELM_TIMEOUT
        )
        self.history.append(args[0])
        self.install_output = result.stdout + result.stderr
        return result

    def manifest(self) -> list[dict[str, Any]]:
        """The objects of the current revision (``helm get manifest``; hooks excluded)."""
        text = self.helm("get", "manifest", self.name).stdout
        return [doc for doc in yaml.safe_load_all(text) if doc]

    def hooks(self) -> list[dict[str, Any]]:
        """The hook objects of the current revision (``helm get hooks``)."""
        text = self.helm("get", "hooks", self.name).stdout
        return [doc for doc in yaml.safe_load_all(text) if doc]

    def stored(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        """The object ``doc`` names as the API server stores it; None if it does not exist."""
        meta = doc["metadata"]
        with self.plane.api_client() as api:
            client = dynamic.DynamicClient(api)
            resource = client.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
            namespace = meta.get("namespace", self.namespace) if resource.namespaced else None
            try:
                found = resource.get(name=meta["name"], namespace=namespace)
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise
            result: dict[str, Any] = found.to_dict()
            return result

    def list_stored(self, api_version: str, kind: str, namespace: str | None = None) -> list[Any]:
        """Every stored ``kind`` object of ``namespace`` (default: the release's)."""
        with self.plane.api_client() as api:
            resource = dynamic.DynamicClient(api).resources.get(api_version=api_version, kind=kind)
            items = resource.get(namespace=namespace or self.namespace).to_dict()["items"]
            return list(items)
