"""kubeconform, strict, against offline Kubernetes 1.34, Prometheus Operator and Gateway API CRD
schemas (see harness/kubeschemas.py for where they come from), on every rendered scenario.

A missing schema is an error, not a skip: every kind the chart renders must be validated.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from charts.chartlib import KUBE_VERSION, SCENARIOS, job_templates, render, render_text

#: Scenarios validated: each with the monitoring API present (as in a kube-prometheus-stack
#: cluster), and the default without it.
CASES = {
    **{name: (name, True) for name in SCENARIOS},
    "default-no-monitoring-api": ("default", False),
}


def _kubeconform(binary: Path, locations: list[str], files: list[Path]) -> list[dict[str, Any]]:
    args = [
        str(binary),
        "-strict",
        "-verbose",
        "-output",
        "json",
        "-kubernetes-version",
        KUBE_VERSION,
    ]
    for location in locations:
        args += ["-schema-location", location]
    out = subprocess.run([*args, *map(str, files)], capture_output=True, text=True)
    resources: list[dict[str, Any]] = json.loads(out.stdout)["resources"]
    return resources


@pytest.fixture(scope="module")
def results(
    kubeconform: Path, schema_locations: list[str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[dict[str, Any]]]:
    """kubeconform's verdict per resource, by case (one kubeconform run for all of them)."""
    tmp = tmp_path_factory.mktemp("kubeconform")
    files: dict[Path, str] = {}
    for case, (scenario, api) in CASES.items():
        path = tmp / f"{case}.yaml"
        path.write_text(render_text(scenario, monitoring_api=api))
        files[path] = case
        # The on-demand Job lives as text in a ConfigMap: validate it as the Job it becomes.
        jobs = job_templates(render(scenario, monitoring_api=api))
        if jobs:
            path = tmp / f"{case}-job-template.yaml"
            path.write_text(yaml.safe_dump_all(jobs))
            files[path] = case
    by_case: dict[str, list[dict[str, Any]]] = {case: [] for case in CASES}
    for resource in _kubeconform(kubeconform, schema_locations, list(files)):
        by_case[files[Path(resource["filename"])]].append(resource)
    return by_case


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_resource_is_valid(case: str, results: dict[str, list[dict[str, Any]]]) -> None:
    resources = results[case]
    assert resources, f"kubeconform saw no resource in {case}"
    bad = [
        f"{r['kind']}/{r['name']}: {r['status']} {r.get('msg', '')}"
        for r in resources
        if r["status"] != "statusValid"
    ]
    assert not bad, "\n".join(bad)


def test_monitoring_kinds_are_validated_against_crd_schemas(
    results: dict[str, list[dict[str, Any]]],
) -> None:
    kinds = {r["kind"] for r in results["monitoring"] if r["status"] == "statusValid"}
    assert {"ServiceMonitor", "PodMonitor", "PrometheusRule"} <= kinds


def test_httproutes_are_validated_against_the_gateway_api_schema(
    kubeconform: Path,
    schema_locations: list[str],
    tmp_path: Path,
    results: dict[str, list[dict[str, Any]]],
) -> None:
    """The HTTPRoutes pass the Gateway API's schema, and a misspelt field in one fails it."""
    for case in ("httproute", "kind"):
        routes = [r for r in results[case] if r["kind"] == "HTTPRoute"]
        assert len(routes) == 2 and all(r["status"] == "statusValid" for r in routes), routes
    route = next(d for d in render("httproute") if d["kind"] == "HTTPRoute")
    route["spec"]["rules"][0]["backendRefz"] = route["spec"]["rules"][0].pop("backendRefs")
    path = tmp_path / "broken-route.yaml"
    path.write_text(yaml.safe_dump(route))
    (verdict,) = _kubeconform(kubeconform, schema_locations, [path])
    assert verdict["status"] == "statusInvalid" and "backendRefz" in verdict["msg"], verdict


def test_the_schemas_are_strict(
    kubeconform: Path, schema_locations: list[str], tmp_path: Path
) -> None:
    """A control: a misspelt field in a Deployment and in a ServiceMonitor must fail, so a
    passing run means the schemas were applied, not skipped."""
    docs = render("monitoring")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["resourcez"] = {}
    monitor = next(d for d in docs if d["kind"] == "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["pathh"] = "/metrics"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump_all([deployment, monitor]))
    verdicts = {r["kind"]: r for r in _kubeconform(kubeconform, schema_locations, [path])}
    assert verdicts["Deployment"]["status"] == "statusInvalid"
    assert "resourcez" in verdicts["Deployment"]["msg"]
    assert verdicts["ServiceMonitor"]["status"] == "statusInvalid"
    assert "pathh" in verdicts["ServiceMonitor"]["msg"]
