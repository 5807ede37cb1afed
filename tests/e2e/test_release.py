"""porto as deployed by `make deploy`: the training Job publishes a model, the API serves it
through a port-forward and the ingress, the prediction log reaches PostgreSQL, Prometheus scrapes
the API and loaded the alert rules, the UI runs a page against the API (port-forward and ingress)
and its page views reach Prometheus as the dashboards read them, Grafana has the dashboards,
`helm test` passes."""

from __future__ import annotations

import base64
import importlib.util
import json
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from e2e.cluster import Kube, Target, eventually
from harness.tools import tool_path
from harness.ui_session import PageRun, open_page

REPO = Path(__file__).resolve().parents[2]
Forward = Callable[[str, str, int], str]


def _helm_test_script() -> ModuleType:
    path = REPO / "charts/porto/files/helm_test.py"
    spec = importlib.util.spec_from_file_location("helm_test", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _get(url: str, headers: dict[str, str] | None = None, timeout: float = 10) -> Any:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        return json.loads(resp.read())


def test_training_job_publishes_a_model(kube: Kube, target: Target) -> None:
    selector = f"app.kubernetes.io/name=training,app.kubernetes.io/instance={target.release}"

    def finished() -> Any:
        jobs = kube.batch.list_namespaced_job(target.namespace, label_selector=selector).items
        release_jobs = [j for j in jobs if j.metadata.labels.get("porto.dev/trigger") == "release"]
        assert release_jobs, f"no training Job labelled {selector}"
        job = max(release_jobs, key=lambda j: j.metadata.creation_timestamp)
        if job.status.failed and job.status.failed > job.spec.backoff_limit:
            pytest.fail(f"training Job {job.metadata.name} failed")
        return job if job.status.succeeded else None

    job = eventually(finished, timeout=1800, what="the training Job to succeed", every=10)
    assert job.spec.ttl_seconds_after_finished > 0


def test_api_serves_predictions(
    target: Target, forward: Forward, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The helm test's checks through a port-forward, with the key from the release's Secret:
    a prediction, and POST /models/reload answered with the key and refused (401) without it."""
    base = forward(target.namespace, target.inference, 8000)
    script = _helm_test_script()
    monkeypatch.setenv("PORTO_API_KEY", api_key)
    lines = script.check(base, "champion", 600)
    for line in lines:
        print(line)
    assert any(line.startswith("/models/reload: 200 with the API key") for line in lines), lines


def test_prediction_log_reaches_postgres(target: Target, forward: Forward) -> None:
    base = forward(target.namespace, target.inference, 8000)

    def written() -> bool:
        database = _get(f"{base}/ready")["database"]
        assert database["state"] in ("up", "connecting"), database
        return bool(database["state"] == "up" and database["written_rows"] > 0)

    eventually(written, timeout=120, what="a prediction written to PostgreSQL")


def test_report_of_the_served_version(target: Target, forward: Forward, api_key: str) -> None:
    """GET /models/champion/report in the chart: card and training from the bundle in MinIO,
    the log sections from the chart's PostgreSQL (the predictions above); the key required."""
    base = forward(target.namespace, target.inference, 8000)
    url = f"{base}/models/champion/report?days=1"
    with pytest.raises(urllib.error.HTTPError) as refused:
        _get(url)
    assert refused.value.code == 401
    report = _get(url, {"X-API-Key": api_key}, timeout=60)
    assert report["card"]["data"]["fingerprint"] and report["training"]["plots"]
    assert report["training"]["mutual_information"]["values"]
    quality, drift = report["data_quality"], report["drift"]
    assert quality["available"] and quality["served"] > 0, (quality, report["window"])
    assert drift["available"] and drift["features"], drift
    request = urllib.request.Request(
        f"{url}&format=html&download=true", headers={"X-API-Key": api_key}
    )
    with urllib.request.urlopen(request, timeout=60) as resp:
        assert resp.headers["Content-Type"].startswith("text/html")
        assert resp.headers["Content-Disposition"].startswith("attachment; filename=")
        body = resp.read().decode()
    assert "Model card" in body and "<script" not in body


def test_api_through_the_ingress(target: Target) -> None:
    with socket.socket() as sock:
        sock.settimeout(2)
        if sock.connect_ex(("127.0.0.1", 80)) != 0:
            pytest.skip("nothing listens on 127.0.0.1:80 (not the kind cluster of `make cluster`)")
    ready = eventually(
        lambda: _get("http://127.0.0.1/ready", {"Host": "api.porto.localhost"}),
        timeout=120,
        what="the API through Traefik (HTTPRoute)",
    )
    assert ready["status"] == "ready"


def test_prometheus_scrapes_the_api_and_loaded_the_rules(target: Target, forward: Forward) -> None:
    prometheus = forward(target.monitoring, "kube-prometheus-stack-prometheus", 9090)

    def scraped() -> bool:
        targets = _get(f"{prometheus}/api/v1/targets?state=active")["data"]["activeTargets"]
        ours = [t for t in targets if t["labels"].get("job") == target.inference]
        return bool(ours) and all(t["health"] == "up" for t in ours)

    eventually(scraped, timeout=300, what=f"Prometheus target job={target.inference} up")
    query = urllib.parse.quote(f'sum(up{{job="{target.inference}"}})')
    result = _get(f"{prometheus}/api/v1/query?query={query}")["data"]["result"]
    assert float(result[0]["value"][1]) >= 1

    def rules_loaded() -> bool:
        groups = _get(f"{prometheus}/api/v1/rules")["data"]["groups"]
        return any(g["name"] == "porto-inference" for g in groups)

    eventually(rules_loaded, timeout=300, what="porto's alert rules loaded by Prometheus")


def _text(url: str, headers: dict[str, str] | None = None, timeout: float = 10) -> str:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        return str(resp.read().decode())


def test_ui_runs_a_page_against_the_api(target: Target, forward: Forward) -> None:
    """Through `kubectl port-forward svc/<release>-ui 8501` (what `make port-forward` opens): a
    browser session runs the inference page, which reads the served model from the API."""
    ui = forward(target.namespace, target.ui, 8501)
    assert _text(f"{ui}/_stcore/health") == "ok"

    def page_without_errors() -> PageRun:
        run = open_page(ui, "inference")
        assert not run.errors, run.errors
        return run

    run = eventually(
        page_without_errors,
        timeout=300,
        what="the UI's inference page without an error (the API ready behind it)",
        every=10,
    )
    assert run.status == "FINISHED_SUCCESSFULLY", run
    metrics = forward(target.namespace, target.ui, 8502)
    assert 'page_views_total{page="inference"}' in _text(f"{metrics}/metrics")


def test_ui_through_the_ingress(target: Target) -> None:
    with socket.socket() as sock:
        sock.settimeout(2)
        if sock.connect_ex(("127.0.0.1", 80)) != 0:
            pytest.skip("nothing listens on 127.0.0.1:80 (not the kind cluster of `make cluster`)")
    host = "ui.porto.localhost"
    health = eventually(
        lambda: _text("http://127.0.0.1/_stcore/health", {"Host": host}),
        timeout=120,
        what="the UI through Traefik (HTTPRoute)",
    )
    assert health == "ok"
    # A session needs the WebSocket upgrade through Traefik; the client names the host in
    # the URL, so this part needs *.localhost to resolve (systemd-resolved and most browsers do).
    try:
        socket.getaddrinfo(host, 80)
    except OSError:
        pytest.skip(f"{host} does not resolve here; the health check above passed")
    run = open_page(f"http://{host}", "training")
    assert run.status == "FINISHED_SUCCESSFULLY" and not run.errors, run


def test_prometheus_has_the_ui_page_views_as_the_dashboards_read_them(
    target: Target, forward: Forward
) -> None:
    """The Grafana page-view panel sums page_views_total by `service`: the UI's ServiceMonitor
    target must be up and its samples labelled service="<release>-ui"."""
    ui = forward(target.namespace, target.ui, 8501)
    open_page(ui, "monitoring")
    prometheus = forward(target.monitoring, "kube-prometheus-stack-prometheus", 9090)
    selector = f'namespace="{target.namespace}", service="{target.ui}"'

    def scraped() -> bool:
        query = urllib.parse.quote(f'sum(page_views_total{{{selector}, page="monitoring"}})')
        result = _get(f"{prometheus}/api/v1/query?query={query}")["data"]["result"]
        return bool(result) and float(result[0]["value"][1]) >= 1

    eventually(scraped, timeout=300, what=f"page_views_total{{{selector}}} in Prometheus")
    query = urllib.parse.quote(f"sum(up{{{selector}}})")
    assert float(_get(f"{prometheus}/api/v1/query?query={query}")["data"]["result"][0]["value"][1])


def test_grafana_has_the_dashboards_in_the_mlops_folder(
    kube: Kube, target: Target, forward: Forward
) -> None:
    services = kube.core.list_namespaced_service(target.monitoring).items
    if "kube-prometheus-stack-grafana" not in {s.metadata.name for s in services}:
        pytest.skip(f"no Grafana in namespace {target.monitoring} (the node of `make node-up`)")
    secret = kube.core.read_namespaced_secret("grafana-admin", target.monitoring)
    user = base64.b64decode(secret.data["admin-user"]).decode()
    password = base64.b64decode(secret.data["admin-password"]).decode()
    assert password != "admin"
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    grafana = forward(target.monitoring, "kube-prometheus-stack-grafana", 80)

    def dashboards() -> dict[str, str]:
        found = _get(f"{grafana}/api/search?tag=porto", {"Authorization": f"Basic {auth}"})
        by_uid = {d["uid"]: d.get("folderTitle", "") for d in found}
        return by_uid if {"porto-inference", "porto-model-quality"} <= set(by_uid) else {}

    found = eventually(dashboards, timeout=300, what="porto's dashboards in Grafana")
    assert found["porto-inference"] == "MLOps"


def test_helm_test_passes(target: Target) -> None:
    subprocess.run([str(REPO / "scripts/tools.sh"), "helm"], check=True)
    out = subprocess.run(
        [
            str(tool_path("helm")),
            "--kube-context",
            target.context,
            "test",
            target.release,
            "--namespace",
            target.namespace,
            "--logs",
            "--timeout",
            "15m",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "porto helm test passed" in out.stdout
