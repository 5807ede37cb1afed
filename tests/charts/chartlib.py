"""Render the porto chart with the pinned helm and walk the manifests.

Every test renders through :func:`render`, which caches by arguments: a scenario is rendered once
per session however many tests read it. Scenarios are every ``charts/porto/ci/*-values.yaml``
file (``default`` is the chart's defaults plus ``images.local=true``, the one value a plain
install must add: porto's images name no registry) and the kind values ``make deploy`` uses.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from harness.tools import tool_path

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "porto"
SUBCHARTS = ("inference", "ui", "training", "postgres", "minio", "dashboards")
#: The library chart holding every chart's helpers (charts/porto/charts/porto-lib).
LIBRARY = "porto-lib"
RELEASE = "porto"
NAMESPACE = "porto"
#: The Kubernetes version rendered for and validated against (kubeschemas.K8S_VERSION). The
#: pinned helm assumes it without a cluster too (test_lint); renders still name it, so a helm bump
#: cannot move what the schemas check.
KUBE_VERSION = "1.34.0"
MONITORING_API = "monitoring.coreos.com/v1"

SCENARIOS: dict[str, Path] = {
    **{
        p.name.removesuffix("-values.yaml"): p for p in sorted((CHART / "ci").glob("*-values.yaml"))
    },
    "kind": REPO / "deploy" / "porto-values-kind.yaml",
}

#: Kinds whose objects carry a pod template (CronJob's is one level deeper).
WORKLOADS = ("Deployment", "StatefulSet", "Job", "CronJob", "Pod")


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the pinned helm."""
    return subprocess.run(
        [str(tool_path("helm")), *args], capture_output=True, text=True, check=check
    )


def standalone(subchart: str, scratch: Path) -> Path:
    """A subchart as a chart of its own under ``scratch``: a copy, with its one dependency, the
    helper library (``file://../porto-lib``), vendored by ``helm dependency build`` as it would be
    for a standalone install (the tree keeps one library, which the umbrella loads for all)."""
    charts = scratch / "charts"
    shutil.copytree(CHART / "charts" / subchart, charts / subchart)
    shutil.copytree(CHART / "charts" / LIBRARY, charts / LIBRARY)
    built = helm("dependency", "build", "--skip-refresh", str(charts / subchart), check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    return charts / subchart


def template_args(
    scenario: str,
    *sets: str,
    release: str = RELEASE,
    monitoring_api: bool = True,
    upgrade: bool = False,
) -> list[str]:
    """Arguments of ``helm template`` for a scenario (``sets`` are ``--set`` expressions), as
    ``helm install`` renders it, or ``helm upgrade`` with ``upgrade``."""
    args = [
        "template",
        release,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--kube-version",
        KUBE_VERSION,
    ]
    args += ["-f", str(SCENARIOS[scenario])]
    if monitoring_api:
        args += ["--api-versions", MONITORING_API]
    if upgrade:
        args.append("--is-upgrade")
    for expression in sets:
        args += ["--set", expression]
    return args


@functools.cache
def render_text(
    scenario: str,
    *sets: str,
    release: str = RELEASE,
    monitoring_api: bool = True,
    upgrade: bool = False,
) -> str:
    """The rendered manifests as one YAML stream (cached)."""
    args = template_args(
        scenario, *sets, release=release, monitoring_api=monitoring_api, upgrade=upgrade
    )
    out = helm(*args, check=False)
    if out.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout


def render(
    scenario: str,
    *sets: str,
    release: str = RELEASE,
    monitoring_api: bool = True,
    upgrade: bool = False,
) -> list[dict[str, Any]]:
    """The rendered objects (a fresh copy: tests may modify them)."""
    text = render_text(
        scenario, *sets, release=release, monitoring_api=monitoring_api, upgrade=upgrade
    )
    return [doc for doc in yaml.safe_load_all(text) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Objects of ``kind``."""
    return [d for d in docs if d.get("kind") == kind]


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The object of ``kind`` called ``name``; AssertionError naming what exists otherwise."""
    found = [d for d in by_kind(docs, kind) if d["metadata"].get("name") == name]
    if not found:
        names = [d["metadata"].get("name") for d in by_kind(docs, kind)]
        raise AssertionError(f"no {kind} {name!r}; rendered: {names}")
    return found[0]


def job_templates(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Jobs kept as text in the training chart's job-template ConfigMaps."""
    out = []
    for cm in by_kind(docs, "ConfigMap"):
        if cm["metadata"]["name"].endswith("-job-template"):
            out.append(yaml.safe_load(cm["data"]["job.yaml"]))
    return out


@dataclass
class PodTemplate:
    """A pod template and the object that owns it."""

    owner: dict[str, Any]
    metadata: dict[str, Any]
    spec: dict[str, Any]

    @property
    def where(self) -> str:
        """``Kind/name`` of the owner, for messages."""
        meta = self.owner["metadata"]
        return f"{self.owner['kind']}/{meta.get('name') or meta.get('generateName')}"


def pod_templates(docs: list[dict[str, Any]]) -> Iterator[PodTemplate]:
    """Every pod template: workloads, CronJob job templates, Pods, and the on-demand Job."""
    for doc in [*docs, *job_templates(docs)]:
        kind = doc.get("kind")
        if kind == "Pod":
            yield PodTemplate(doc, doc["metadata"], doc["spec"])
        elif kind == "CronJob":
            template = doc["spec"]["jobTemplate"]["spec"]["template"]
            yield PodTemplate(doc, template["metadata"], template["spec"])
        elif kind in WORKLOADS:
            template = doc["spec"]["template"]
            yield PodTemplate(doc, template["metadata"], template["spec"])


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Init containers and containers of a pod spec."""
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def env_of(container: dict[str, Any], docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every environment variable a container gets: ``env`` entries, and the data of the
    ConfigMaps it loads with ``envFrom`` (as ``{"value": ...}``)."""
    env: dict[str, dict[str, Any]] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        assert ref, f"{container['name']}: envFrom other than a ConfigMap: {source}"
        for key, value in named(docs, "ConfigMap", ref["name"]).get("data", {}).items():
            env[key] = {"value": value}
    for entry in container.get("env", []):
        env[entry["name"]] = entry
    return env


def labels_match(selector: dict[str, str], labels: dict[str, str] | None) -> bool:
    """Whether ``matchLabels``-style ``selector`` selects ``labels``."""
    return bool(selector) and all((labels or {}).get(k) == v for k, v in selector.items())
