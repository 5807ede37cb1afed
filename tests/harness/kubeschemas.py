"""Offline JSON schemas for kubeconform, built once into ``~/.cache/porto/kubeconform/``.

No test may reach the internet, and kubeconform's default schema location is GitHub. So the
install phase (``make test-deps``: ``python -m harness.kubeschemas build``) fetches and converts,
and the tests only read the result (a missing set fails them with the command that builds it):

* **Kubernetes** (``v1.34.0``, the version helm v3.19 and the pinned kind node image speak): the
  PyPI wheel ``kubernetes-validate==1.37.0`` (sha256-pinned, fetched with the pinned uv) vendors
  the Kubernetes OpenAPI as JSON schemas per version. Its ``v1.34.0-local-strict`` set is used
  (strict: ``additionalProperties: false``, so a misspelt field fails). Each file's ``$id`` is
  dropped and its ``/api/_definitions.json`` references made relative, so kubeconform's file
  loader resolves them next to the file instead of at kubernetes.io.
* **CRDs of the cluster add-ons** (harness/crds.py, versions in deploy/versions.mk): the
  prometheus-operator's (ServiceMonitor, PodMonitor, PrometheusRule, ...; the operator the pinned
  kube-prometheus-stack runs) and the Gateway API's standard channel (Gateway, HTTPRoute, ...),
  the CRD YAML of their Go modules, fetched with ``go mod download`` through the Go module proxy.
  Each version's ``openAPIV3Schema`` is converted the way kubeconform's ``openapi2jsonschema.py``
  does, strict.

Every set is named ``<kind>-<group>-<version>.json`` (kubeconform's ``{{ .ResourceKind }}{{
.KindSuffix }}``) and cached under a directory keyed by every pinned version, so a bump rebuilds.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from harness.crds import CRD_MODULES, CrdLoader, CrdModule
from harness.tools import REPO_ROOT, MissingToolError, cache_bin

K8S_VERSION = "1.34.0"
KUBERNETES_VALIDATE = "1.37.0"
KUBERNETES_VALIDATE_SHA256 = "85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9"

#: kubeconform's file name template, relative to a schema directory.
NAME_TEMPLATE = "{{ .ResourceKind }}{{ .KindSuffix }}.json"


def cache_root() -> Path:
    """``~/.cache/porto/kubeconform`` (next to the pinned tool binaries)."""
    return cache_bin().parent / "kubeconform"


def _publish(build: Path, target: Path) -> Path:
    """Move a finished build into place atomically (a concurrent builder may have won)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        build.rename(target)
    except OSError:
        if not target.is_dir():
            raise
        shutil.rmtree(build, ignore_errors=True)
    return target


def _built(target: Path, marker: str) -> Path:
    """``target`` if the install phase built it; MissingToolError naming the command otherwise."""
    if (target / marker).is_file():
        return target
    raise MissingToolError(
        f"kubeconform schemas {target} are missing: run `make test-deps` (the install phase "
        "of `make test` and `.ci/run`; tests never download)"
    )


def _kubernetes_target() -> Path:
    return cache_root() / f"k8s-v{K8S_VERSION}-kubernetes-validate-{KUBERNETES_VALIDATE}"


def kubernetes_schemas() -> Path:
    """Return the directory of Kubernetes ``K8S_VERSION`` schemas (built by ``build()``)."""
    return _built(_kubernetes_target(), "deployment-apps-v1.json")


def build_kubernetes_schemas(uv: str) -> Path:
    """Fetch the sha256-pinned kubernetes-validate wheel with ``uv`` and convert its strict
    schema set into the cache; a no-op when it is already there."""
    target = _kubernetes_target()
    if (target / "deployment-apps-v1.json").is_file():
        return target
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=_mkdir(cache_root())))
    try:
        requirements = work / "requirements.txt"
        requirements.write_text(
            f"kubernetes-validate=={KUBERNETES_VALIDATE} "
            f"--hash=sha256:{KUBERNETES_VALIDATE_SHA256}\n"
        )
        site = work / "site"
        # Only this one pure-Python wheel, hash-checked; --python just names the interpreter whose
        # tags the wheel must match (any 3.x does for a py3-none-any wheel).
        subprocess.run(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--require-hashes",
                "--python",
                sys.executable,
                "--target",
                str(site),
                "-r",
                str(requirements),
            ],
            check=True,
        )
        source = (
            site
            / "kubernetes_validate"
            / "kubernetes-json-schema"
            / (f"v{K8S_VERSION}-local-strict")
        )
        out = work / "schemas"
        out.mkdir()
        for path in source.glob("*.json"):
            text = path.read_text().replace('"/api/_definitions.json#', '"_definitions.json#')
            data = json.loads(text)
            data.pop("$id", None)
            (out / path.name).write_text(json.dumps(data))
        if not (out / "deployment-apps-v1.json").is_file():
            raise RuntimeError(f"kubernetes-validate {KUBERNETES_VALIDATE} has no {source.name}")
        return _publish(out, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _strict(node: Any) -> Any:
    """kubeconform's openapi2jsonschema, strict flavour: objects that list properties reject
    others (unless they preserve unknown fields), int-or-string becomes a oneOf."""
    if isinstance(node, list):
        return [_strict(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items()}
    if out.get("x-kubernetes-int-or-string"):
        rest = {k: v for k, v in out.items() if k not in ("type", "x-kubernetes-int-or-string")}
        return {**rest, "oneOf": [{"type": "string"}, {"type": "integer"}]}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def crd_schema(version_schema: dict[str, Any], group: str, version: str, kind: str) -> Any:
    """The JSON schema of one CRD version, with apiVersion/kind pinned like built-in kinds."""
    schema = _strict(copy.deepcopy(version_schema))
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"type": "string", "enum": [f"{group}/{version}"]}
    props["kind"] = {"type": "string", "enum": [kind]}
    # metadata is checked by the API server, not by the CRD's schema: accept any object.
    props["metadata"] = {"type": "object"}
    return schema


#: A schema each module's set must contain (a finished build has it).
_MARKERS = {
    "prometheus-operator": "servicemonitor-monitoring-v1.json",
    "gateway-api": "httproute-gateway-v1.json",
}


def _crd_target(module: CrdModule) -> Path:
    return cache_root() / f"crds-{module.name}-{module.version}"


def crd_schemas(module: CrdModule) -> Path:
    """Return the directory of ``module``'s CRD schemas (built by ``build()``)."""
    return _built(_crd_target(module), _MARKERS[module.name])


def build_crd_schemas(module: CrdModule) -> Path:
    """Convert ``module``'s CRDs (already downloaded) into the cache; a no-op when they are
    already there."""
    target = _crd_target(module)
    if (target / _MARKERS[module.name]).is_file():
        return target
    source = module.directory()
    out = Path(tempfile.mkdtemp(prefix=".build-", dir=_mkdir(cache_root())))
    try:
        _convert_crds(source, out, _MARKERS[module.name])
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return _publish(out, target)


def _convert_crds(source: Path, out: Path, marker: str) -> None:
    for path in sorted(source.glob("*.yaml")):
        for crd in yaml.load_all(path.read_text(), Loader=CrdLoader):  # a SafeLoader subclass
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue  # e.g. the Gateway API's ValidatingAdmissionPolicy
            spec = crd["spec"]
            group, kind = spec["group"], spec["names"]["kind"]
            for version in spec["versions"]:
                schema = crd_schema(
                    version["schema"]["openAPIV3Schema"], group, version["name"], kind
                )
                name = f"{kind.lower()}-{group.split('.')[0]}-{version['name']}.json"
                (out / name).write_text(json.dumps(schema))
    if not (out / marker).is_file():
        raise RuntimeError(f"no {marker} converted from {source}")


def schema_locations() -> list[str]:
    """kubeconform ``-schema-location`` values: Kubernetes first, then the CRDs."""
    dirs = [kubernetes_schemas(), *(crd_schemas(m) for m in CRD_MODULES)]
    return [f"{d}/{NAME_TEMPLATE}" for d in dirs]


def build(uv: str) -> list[str]:
    """Everything the chart tests read from the cache, fetched and converted (the install
    phase's step; each part is skipped when already built). Returns the schema locations."""
    for module in CRD_MODULES:
        module.ensure()
    build_kubernetes_schemas(uv)
    for module in CRD_MODULES:
        build_crd_schemas(module)
    return schema_locations()


def main(argv: list[str]) -> int:
    """``python -m harness.kubeschemas build`` (uv from ``$UV`` or scripts/ensure-uv.sh)."""
    if argv != ["build"]:
        print("usage: python -m harness.kubeschemas build", file=sys.stderr)
        return 2
    uv = (
        os.environ.get("UV")
        or subprocess.run(
            [str(REPO_ROOT / "scripts" / "ensure-uv.sh")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    try:
        build(uv)
    except (subprocess.CalledProcessError, RuntimeError, OSError) as exc:
        print(f"error: building the kubeconform schemas failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
