"""The prometheus-operator CRDs (ServiceMonitor, PodMonitor, PrometheusRule, ...) at a pinned
version, read from the operator's Go module: the install phase (``make test-deps``) downloads it
through the module proxy into the porto cache; tests read that cache with ``GOPROXY=off``. Used by
the kubeconform schemas and installed into the test API server.

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

from harness.tools import MissingToolError, cache_bin

PROMETHEUS_OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator"
PROMETHEUS_OPERATOR = "v0.85.0"
CRD_DIR = "example/prometheus-operator-crd"
#: The kinds porto's chart creates.
MONITORING_PLURALS = ("servicemonitors", "podmonitors", "prometheusrules")


class CrdLoader(yaml.SafeLoader):
    """SafeLoader that reads a bare ``=`` (an enum value in the CRDs) as the string it is:
    YAML 1.1 resolves it to the ``value`` tag, which PyYAML cannot construct."""


CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: node.value)


def _go_mod_download(*, offline: bool) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GOPATH": str(cache_bin().parent / "gopath"),
        "GOFLAGS": "-mod=mod",
    }
    if offline:
        env["GOPROXY"] = "off"  # the module cache only: tests never download
    return subprocess.run(
        ["go", "mod", "download", "-json", f"{PROMETHEUS_OPERATOR_MODULE}@{PROMETHEUS_OPERATOR}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
    )


def download_operator_module() -> Path:
    """``go mod download`` the prometheus-operator module through the module proxy into the
    porto cache (the install phase, ``make test-deps``); return its directory."""
    out = _go_mod_download(offline=False)
    if out.returncode != 0:
        raise RuntimeError(
            f"go mod download {PROMETHEUS_OPERATOR_MODULE}@{PROMETHEUS_OPERATOR} failed: "
            f"{(out.stdout + out.stderr).strip()}"
        )
    return Path(json.loads(out.stdout)["Dir"])


def operator_module_dir() -> Path:
    """The prometheus-operator module's directory in the module cache, without the network;
    MissingToolError naming ``make test-deps`` when the install phase has not fetched it."""
    out = _go_mod_download(offline=True)
    if out.returncode != 0:
        raise MissingToolError(
            f"{PROMETHEUS_OPERATOR_MODULE}@{PROMETHEUS_OPERATOR} is not in the Go module cache: "
            "run `make test-deps` (the install phase of `make test` and `.ci/run`)"
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
