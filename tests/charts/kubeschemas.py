"""Offline JSON schemas for kubeconform, built once into ``~/.cache/porto/kubeconform/``.

No test may reach the internet, and kubeconform's default schema location is GitHub. So:

* **Kubernetes** (``v1.34.0``, the version helm v3.19 and the pinned kind node image speak): the
  PyPI wheel ``kubernetes-validate==1.37.0`` (sha256-pinned, fetched with ``pip download``) vendors
  the Kubernetes OpenAPI as JSON schemas per version. Its ``v1.34.0-local-strict`` set is used
  (strict: ``additionalProperties: false``, so a misspelt field fails). Each file's ``$id`` is
  dropped and its ``/api/_definitions.json`` references made relative, so kubeconform's file
  loader resolves them next to the file instead of at kubernetes.io.
* **Prometheus Operator CRDs** (ServiceMonitor, PodMonitor, PrometheusRule, ...): the CRD YAML in
  the Go module ``github.com/prometheus-operator/prometheus-operator@v0.85.0``
  (``example/prometheus-operator-crd``, fetched with ``go mod download`` through the Go module
  proxy; v0.85.0 is the operator of the pinned kube-prometheus-stack 77.x). Each version's
  ``openAPIV3Schema`` is converted the way kubeconform's ``openapi2jsonschema.py`` does, strict.

Both sets are named ``<kind>-<group>-<version>.json`` (kubeconform's ``{{ .ResourceKind }}{{
.KindSuffix }}``) and cached under a directory keyed by every pinned version, so a bump rebuilds.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import yaml
from harness.crds import PROMETHEUS_OPERATOR, CrdLoader, crd_dir
from harness.tools import cache_bin

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


def kubernetes_schemas() -> Path:
    """Return the directory of Kubernetes ``K8S_VERSION`` schemas, building it on first use."""
    target = cache_root() / f"k8s-v{K8S_VERSION}-kubernetes-validate-{KUBERNETES_VALIDATE}"
    if (target / "deployment-apps-v1.json").is_file():
        return target
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=_mkdir(cache_root())))
    try:
        return _build_kubernetes(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build_kubernetes(work: Path, target: Path) -> Path:
    requirements = work / "requirements.txt"
    requirements.write_text(
        f"kubernetes-validate=={KUBERNETES_VALIDATE} --hash=sha256:{KUBERNETES_VALIDATE_SHA256}\n"
    )
    pip = [sys.executable, "-m", "pip"]
    if subprocess.run([*pip, "--version"], capture_output=True).returncode != 0:
        pip = ["python3", "-m", "pip"]  # uv's virtualenvs have no pip; the system one will do
    subprocess.run(
        [
            *pip,
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
            "--require-hashes",
            "-r",
            str(requirements),
            "-d",
            str(work),
        ],
        check=True,
    )
    wheel = next(work.glob("kubernetes_validate-*.whl"))
    prefix = f"kubernetes_validate/kubernetes-json-schema/v{K8S_VERSION}-local-strict/"
    out = work / "schemas"
    out.mkdir()
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.startswith(prefix) and name.endswith(".json"):
                text = archive.read(name).decode()
                text = text.replace('"/api/_definitions.json#', '"_definitions.json#')
                data = json.loads(text)
                data.pop("$id", None)
                (out / Path(name).name).write_text(json.dumps(data))
    if not (out / "deployment-apps-v1.json").is_file():
        raise RuntimeError(f"{wheel.name} has no {prefix} schemas")
    return _publish(out, target)


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


def crd_schemas() -> Path:
    """Return the directory of the Prometheus Operator CRD schemas, building it on first use."""
    target = cache_root() / f"crds-prometheus-operator-{PROMETHEUS_OPERATOR}"
    if (target / "servicemonitor-monitoring-v1.json").is_file():
        return target
    source = crd_dir()
    out = Path(tempfile.mkdtemp(prefix=".build-", dir=_mkdir(cache_root())))
    try:
        _convert_crds(source, out)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return _publish(out, target)


def _convert_crds(source: Path, out: Path) -> None:
    for path in sorted(source.glob("*.yaml")):
        crd = yaml.load(path.read_text(), Loader=CrdLoader)  # a SafeLoader subclass
        spec = crd["spec"]
        group, kind = spec["group"], spec["names"]["kind"]
        for version in spec["versions"]:
            schema = crd_schema(version["schema"]["openAPIV3Schema"], group, version["name"], kind)
            name = f"{kind.lower()}-{group.split('.')[0]}-{version['name']}.json"
            (out / name).write_text(json.dumps(schema))
    if not (out / "servicemonitor-monitoring-v1.json").is_file():
        raise RuntimeError(f"no ServiceMonitor CRD under {source}")


def schema_locations() -> list[str]:
    """kubeconform ``-schema-location`` values: Kubernetes first, then the CRDs."""
    return [f"{d}/{NAME_TEMPLATE}" for d in (kubernetes_schemas(), crd_schemas())]


if __name__ == "__main__":
    print("\n".join(schema_locations()))
