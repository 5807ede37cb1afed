"""The prometheus-operator CRDs (ServiceMonitor, PodMonitor, PrometheusRule, ...) at a pinned
version, read from the operator's Go module (``go mod download`` through the module proxy, into
the porto cache). Used by the kubeconform schemas and installed into the test API server.

v0.85.0 is the operator of the pinned kube-prometheus-stack 77.x (Makefile ``KPS_VERSION``).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from harness.tools import cache_bin

PROMETHEUS_OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator"
PROMETHEUS_OPERATOR = "v0.85.0"
CRD_DIR = "example/prometheus-operator-crd"
#: The kinds porto's chart creates.
MONITORING_PLURALS = ("servicemonitors", "podmonitors", "prometheusrules")


class CrdLoader(yaml.SafeLoader):
    """SafeLoader that reads a bare ``=`` (an enum value in the CRDs) as the string it is:
    YAML 1.1 resolves it to the ``value`` tag, which PyYAML cannot construct."""


CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: node.value)


def operator_module_dir() -> Path:
    """``go mod download`` the prometheus-operator module; return its directory."""
    env = {
        **os.environ,
        "GOPATH": str(cache_bin().parent / "gopath"),
        "GOFLAGS": "-mod=mod",
    }
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{PROMETHEUS_OPERATOR_MODULE}@{PROMETHEUS_OPERATOR}"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
    )
    return Path(json.loads(out.stdout)["Dir"])


def crd_dir() -> Path:
    """The directory of the operator's CRD manifests."""
    return operator_module_dir() / CRD_DIR


def crd_documents(plurals: Iterable[str] = MONITORING_PLURALS) -> Iterator[dict[str, Any]]:
    """The CRD manifests whose resource plural is one of ``plurals``."""
    wanted = set(plurals)
    for path in sorted(crd_dir().glob("*.yaml")):
        for doc in yaml.load_all(path.read_text(), Loader=CrdLoader):  # a SafeLoader subclass
            is_crd = bool(doc) and doc.get("kind") == "CustomResourceDefinition"
            if is_crd and doc["spec"]["names"]["plural"] in wanted:
                yield doc
