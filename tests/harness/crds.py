"""CustomResourceDefinitions of the cluster add-ons, at the versions of ``deploy/versions.mk``,
read from the add-ons' Go modules: the install phase (``make test-deps``) downloads them through
the module proxy into the porto cache; tests read that cache with ``GOPROXY=off``. Used by the
kubeconform schemas and installed into the test API server.

* prometheus-operator (ServiceMonitor, PodMonitor, PrometheusRule, ...): the operator the pinned
  kube-prometheus-stack runs (``KPS_OPERATOR_<KPS_VERSION>``), ``example/prometheus-operator-crd``.
* Gateway API (Gateway, HTTPRoute, ...): ``GATEWAY_API_VERSION``, the standard channel
  (``config/crd/standard``), the release the ingress controller (Traefik) implements.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.tools import MissingToolError, cache_bin
from harness.versions import VERSIONS


class CrdLoader(yaml.SafeLoader):
    """SafeLoader that reads a bare ``=`` (an enum value in the CRDs) as the string it is:
    YAML 1.1 resolves it to the ``value`` tag, which PyYAML cannot construct."""


CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: node.value)


@dataclass(frozen=True)
class CrdModule:
    """A Go module holding CRD manifests in one directory, at a pinned version."""

    #: Short name, for cache directories and messages.
    name: str
    module: str
    version: str
    #: Directory of the CRD manifests inside the module.
    crd_dir: str
    #: Annotation each CRD carries with the release it belongs to, and that release's value
    #: (checked: the manifests must be those of the pinned version).
    version_annotation: str
    annotated_version: str

    @property
    def ref(self) -> str:
        """``module@version``."""
        return f"{self.module}@{self.version}"

    def _go_mod_download(self, *, offline: bool) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "GOPATH": str(cache_bin().parent / "gopath"),
            "GOFLAGS": "-mod=mod",
        }
        if offline:
            env["GOPROXY"] = "off"  # the module cache only: tests never download
        return subprocess.run(
            ["go", "mod", "download", "-json", self.ref],
            capture_output=True,
            text=True,
            env=env,
            cwd=tempfile.gettempdir(),
        )

    def download(self) -> Path:
        """``go mod download`` the module through the module proxy into the porto cache (the
        install phase, ``make test-deps``); return its directory."""
        out = self._go_mod_download(offline=False)
        if out.returncode != 0:
            raise RuntimeError(
                f"go mod download {self.ref} failed: {(out.stdout + out.stderr).strip()}"
            )
        return Path(json.loads(out.stdout)["Dir"])

    def module_dir(self) -> Path:
        """The module's directory in the module cache, without the network; MissingToolError
        naming ``make test-deps`` when the install phase has not fetched it."""
        out = self._go_mod_download(offline=True)
        if out.returncode != 0:
            raise MissingToolError(
                f"{self.ref} is not in the Go module cache: run `make test-deps` (the install "
                "phase of `make test` and `.ci/run`)"
            )
        return Path(json.loads(out.stdout)["Dir"])

    def ensure(self) -> Path:
        """The module's directory, downloaded first if the cache lacks it (install phase)."""
        try:
            return self.module_dir()  # already in the module cache: no network at all
        except MissingToolError:
            return self.download()

    def directory(self) -> Path:
        """The directory of the CRD manifests."""
        return self.module_dir() / self.crd_dir

    def documents(self, plurals: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
        """The CRDs of the directory (other objects skipped), those whose resource plural is
        one of ``plurals`` when given."""
        wanted = None if plurals is None else set(plurals)
        for path in sorted(self.directory().glob("*.yaml")):
            for doc in yaml.load_all(path.read_text(), Loader=CrdLoader):  # a SafeLoader subclass
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                if wanted is None or doc["spec"]["names"]["plural"] in wanted:
                    yield doc


PROMETHEUS_OPERATOR_CRDS = CrdModule(
    name="prometheus-operator",
    module="github.com/prometheus-operator/prometheus-operator",
    version=VERSIONS.prometheus_operator,
    crd_dir="example/prometheus-operator-crd",
    version_annotation="operator.prometheus.io/version",
    annotated_version=VERSIONS.prometheus_operator.removeprefix("v"),
)
GATEWAY_API_CRDS = CrdModule(
    name="gateway-api",
    module="sigs.k8s.io/gateway-api",
    version=VERSIONS.gateway_api,
    crd_dir="config/crd/standard",
    version_annotation="gateway.networking.k8s.io/bundle-version",
    annotated_version=VERSIONS.gateway_api,
)
#: Every CRD module the tests read.
CRD_MODULES = (PROMETHEUS_OPERATOR_CRDS, GATEWAY_API_CRDS)

#: The prometheus-operator version (the operator of the pinned kube-prometheus-stack).
PROMETHEUS_OPERATOR = PROMETHEUS_OPERATOR_CRDS.version
#: The monitoring kinds porto's chart creates.
MONITORING_PLURALS = ("servicemonitors", "podmonitors", "prometheusrules")


def crd_documents(plurals: Iterable[str] = MONITORING_PLURALS) -> Iterator[dict[str, Any]]:
    """The prometheus-operator CRDs whose resource plural is one of ``plurals``."""
    return PROMETHEUS_OPERATOR_CRDS.documents(plurals)


def cluster_crd_documents() -> Iterator[dict[str, Any]]:
    """What the test API server gets: the monitoring kinds porto creates and every standard
    Gateway API CRD (GatewayClass, Gateway, HTTPRoute, ...)."""
    yield from crd_documents()
    yield from GATEWAY_API_CRDS.documents()
