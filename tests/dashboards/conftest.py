"""Fixtures of the dashboard and alert tests.

``monitoring`` is the live stack the panel queries run against: a real Prometheus (Debian's
package) scraping every second a real ``porto-inference serve`` (gunicorn, two workers, a model
trained by the real training pipeline, PostgreSQL from the harness), a real node exporter, and
a fixture exporter for the series only a Kubernetes cluster has (cAdvisor, kube-state-metrics).
The fixture series carry ``porto_fixture="kube"`` so nobody mistakes them for measurements.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from harness.browser import chromium_page
from harness.dashboards_package import DASHBOARDS_DIR, import_porto_dashboards
from harness.ports import LOOPBACK, free_port
from harness.postgres import PostgresServer
from harness.process import await_child
from harness.prometheus import (
    FixtureExporter,
    NodeExporter,
    PrometheusServer,
    debian_binary,
    static_job,
)
from harness.tools import REPO_ROOT, MissingToolError

RULES = DASHBOARDS_DIR / "alerts" / "porto.rules.yml"
RULE_TESTS = DASHBOARDS_DIR / "alerts" / "porto.rules.test.yml"


import_porto_dashboards()

#: What kube-prometheus-stack would attach to the inference pod's scrape target.
NAMESPACE = "porto"
SERVICE = "porto-inference"
POD = "porto-inference-6b7c9d8f5-x2x4q"
#: The UI's metrics target (page views), as its ServiceMonitor would label it.
UI_SERVICE = "porto-ui"
UI_POD = "porto-ui-5f8d7c6b4-q9w2e"
#: UI pages a browser opens during the traffic, each one page view.
UI_PAGES = {"": "Inference", "training": "Training"}
SCRAPE_SECONDS = 1.0
WORKERS = 2
#: The fixture's training Jobs: given up, succeeded, succeeded on retry after a failed pod.
FAILED_JOB = "porto-training-fixture-failed"
OK_JOB = "porto-training-fixture-ok"
RETRIED_JOB = "porto-training-fixture-retried"


@pytest.fixture(scope="session")
def promtool() -> Path:
    """Debian's promtool (package ``prometheus``)."""
    try:
        return debian_binary("promtool", "prometheus")
    except MissingToolError as exc:
        pytest.fail(str(exc), pytrace=False)


# --- fixture series of a Kubernetes cluster -------------------------------------------------


class KubeFixture:
    """cAdvisor and kube-state-metrics series for the inference pod and a training Job.

    Values are plausible, not measured: CPU grows at 0.35 cores, memory stays near 600 MiB under
    2 cores / 2 GiB limits, the pod restarted once; of three training Jobs, one gave up (its
    Failed condition is true, so PortoTrainingJobFailed has something to fire on), one succeeded,
    and one succeeded after a failed pod was retried (which must not fire it).
    """

    def __init__(self) -> None:
        self.started = time.time()

    def kubelet(self) -> str:
        """cAdvisor's view (the kubelet's /metrics/cadvisor)."""
        seconds = time.time() - self.started
        pod = f'namespace="{NAMESPACE}",pod="{POD}",porto_fixture="kube"'
        cgroup = f"/kubepods/burstable/pod0000/{POD}"
        return "\n".join(
            [
                "# TYPE container_cpu_usage_seconds_total counter",
                f'container_cpu_usage_seconds_total{{{pod},container="inference",id="{cgroup}/c1"}}'
                f" {100 + 0.35 * seconds:.3f}",
                f'container_cpu_usage_seconds_total{{{pod},container="POD",id="{cgroup}/p"}}'
                f" {0.01 * seconds:.3f}",
                f'container_cpu_usage_seconds_total{{{pod},container="",id="{cgroup}"}}'
                f" {100 + 0.36 * seconds:.3f}",
                "# TYPE container_memory_working_set_bytes gauge",
                f'container_memory_working_set_bytes{{{pod},container="inference",id="{cgroup}/c1"}}'
                f" {600 * 2**20 + int(2**20 * math.sin(seconds))}",
                f'container_memory_working_set_bytes{{{pod},container="",id="{cgroup}"}}'
                f" {610 * 2**20}",
                "",
            ]
        )

    def kube_state(self) -> str:
        """kube-state-metrics' view of the Deployment, its pod and the training Jobs."""
        ns = f'namespace="{NAMESPACE}",porto_fixture="kube"'
        pod = f'{ns},pod="{POD}",container="inference"'
        deploy = f'{ns},deployment="{SERVICE}"'
        return "\n".join(
            [
                "# TYPE kube_pod_container_resource_limits gauge",
                f'kube_pod_container_resource_limits{{{pod},node="node-1",resource="cpu",'
                'unit="core"} 2',
                f'kube_pod_container_resource_limits{{{pod},node="node-1",resource="memory",'
                f'unit="byte"}} {2 * 2**30}',
                "# TYPE kube_pod_container_status_restarts_total counter",
                f"kube_pod_container_status_restarts_total{{{pod}}} 1",
                "# TYPE kube_deployment_spec_replicas gauge",
                f"kube_deployment_spec_replicas{{{deploy}}} 1",
                "# TYPE kube_deployment_status_replicas_available gauge",
                f"kube_deployment_status_replicas_available{{{deploy}}} 1",
                "# TYPE kube_deployment_status_replicas_unavailable gauge",
                f"kube_deployment_status_replicas_unavailable{{{deploy}}} 0",
                "# TYPE kube_job_status_failed gauge",
                f'kube_job_status_failed{{{ns},job_name="{FAILED_JOB}",reason="BackoffLimitExceeded"}}'
                " 3",
                f'kube_job_status_failed{{{ns},job_name="{OK_JOB}"}} 0',
                f'kube_job_status_failed{{{ns},job_name="{RETRIED_JOB}"}} 1',
                "# TYPE kube_job_status_succeeded gauge",
                f'kube_job_status_succeeded{{{ns},job_name="{FAILED_JOB}"}} 0',
                f'kube_job_status_succeeded{{{ns},job_name="{OK_JOB}"}} 1',
                f'kube_job_status_succeeded{{{ns},job_name="{RETRIED_JOB}"}} 1',
                # One series per condition status, and only for a Job that has the condition
                # (kube-state-metrics' kube_job_failed / kube_job_complete).
                "# TYPE kube_job_failed gauge",
                *(
                    f'kube_job_failed{{{ns},job_name="{FAILED_JOB}",condition="{c}"}} '
                    f"{int(c == 'true')}"
                    for c in ("true", "false", "unknown")
                ),
                "# TYPE kube_job_complete gauge",
                *(
                    f'kube_job_complete{{{ns},job_name="{job}",condition="{c}"}} {int(c == "true")}'
                    for job in (OK_JOB, RETRIED_JOB)
                    for c in ("true", "false", "unknown")
                ),
                "",
            ]
        )


# --- the live stack -------------------------------------------------------------------------


@dataclass
class Monitoring:
    """The running stack and what the traffic did."""

    prometheus: PrometheusServer
    api_url: str
    model_version: str
    node_instance: str
    started: float
    traffic: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def _train(store_dir: Path) -> tuple[str, list[str]]:
    """A small model trained by the real training pipeline, promoted champion: its version and
    feature names (the default config drops ps_calc_*, and the API refuses unknown columns)."""
    from porto_training.config import load_config
    from porto_training.pipeline import run_training

    config = load_config(
        updates={
            "output.store": str(store_dir),
            "data.synthetic.rows": 4000,
            "model.catboost.iterations": 60,
            "model.catboost.thread_count": 2,
            "insights.shap_rows": 200,
            "insights.mutual_info_rows": 2000,
        }
    )
    manifest = run_training(config, promote=True, live=False).manifest
    return str(manifest.version), list(manifest.feature_schema.names)


def _copy_as_challenger(store_dir: Path, version: str) -> str:
    """The champion's bundle again under a new version, aliased ``challenger``: shadow scores it
    beside the champion, so the "Challengers" row has figures (equal ones) to draw."""
    from porto.bundle import new_version, read_file, read_manifest, write_bundle
    from porto.registry import Registry
    from porto.store import FileStore

    store = FileStore(store_dir)
    manifest = read_manifest(store, "porto", version)
    files = {rel: read_file(store, manifest, rel) for rel in manifest.files}
    copy = write_bundle(store, manifest.model_copy(update={"version": new_version()}), files)
    Registry(store, "porto").set_alias("challenger", copy.version)
    return copy.version


def _send_round(api_url: str, records: list[dict[str, Any]], labels: list[int]) -> Counter[str]:
    """One round of traffic: single predictions from four client threads (so both gunicorn
    workers answer), batches of 20, one row with an unseen category, four kinds of bad request,
    feedback for every prediction, and page views. Returns what was sent, by kind."""
    import httpx

    sent: Counter[str] = Counter()
    half = len(records) // 2
    feedback: list[dict[str, Any]] = []

    def singles(part: list[int]) -> list[dict[str, Any]]:
        out = []
        with httpx.Client(base_url=api_url, timeout=30) as http:
            for i in part:
                r = http.post("/predict", json=records[i])
                assert r.status_code == 200, r.text
                out.append({"prediction_id": r.json()["prediction_id"], "label": labels[i]})
        return out

    with ThreadPoolExecutor(4) as pool:
        for part in pool.map(singles, [list(range(half))[k::4] for k in range(4)]):
            feedback += part
    sent["inference_requests"] += half
    sent["rows"] += half

    with httpx.Client(base_url=api_url, timeout=60) as http:
        for start in range(half, len(records), 20):
            rows = records[start : start + 20]
            r = http.post("/predict/batch", json=rows)
            r.raise_for_status()
            for item in r.json()["predictions"]:
                label = labels[start + item["row"]]
                feedback.append({"prediction_id": item["prediction_id"], "label": label})
            sent["inference_requests"] += 1
            sent["rows"] += len(rows)
        http.post("/predict", json={**records[0], "ps_car_11_cat": 99999}).raise_for_status()
        sent["inference_requests"] += 1
        sent["rows"] += 1
        bad = [
            http.post("/predict", content=b'{"ps_ind_01": ', headers=_JSON),
            http.post("/predict", content=b"[1, 2]", headers=_JSON),
            http.post("/predict", content=b"a,b\n1,2\n", headers={"content-type": "text/csv"}),
            http.post("/predict", params={"model_version": "no-such-version"}, json=records[1]),
        ]
        assert [r.status_code for r in bad] == [400, 422, 415, 404], [r.text for r in bad]
        sent["inference_requests"] += len(bad)
        sent["errors"] += len(bad)
        http.post("/feedback", json=feedback).raise_for_status()
        sent["inference_requests"] += 1
        sent["labels"] += len(feedback)
        for page in ("/docs", "/redoc"):
            http.get(page).raise_for_status()
            sent["page_views"] += 1
    return sent


def _send_traffic(
    api_url: str, features: list[str], prometheus: PrometheusServer
) -> dict[str, int]:
    """Two rounds of :func:`_send_round`.

    Labelled counters appear at their first increment, and rate() cannot count a series' first
    sample: the second round's increments are the ones every rate panel shows. Between the
    rounds the first live-quality pass runs (its first ROC-AUC imports scikit-learn, which
    blocks each worker's event loop for a second or more, so scrapes time out); the second
    round starts once scrapes succeed again, so its rates are fully scraped.
    """
    from porto.synthetic import generate

    frame = generate(240, seed=11).frame
    labels = frame.pop("target").astype(int).tolist()
    # Round one gets both classes, so its labels make the first ROC-AUC (and the import).
    positives = [i for i, label in enumerate(labels) if label == 1]
    assert len(positives) >= 4, "the synthetic sample needs a few positives"
    order = positives[:2] + [i for i in range(len(labels)) if i not in positives[:2]]
    frame, labels = frame.iloc[order], [labels[i] for i in order]
    records = cast(list[dict[str, Any]], frame[["id", *features]].to_dict(orient="records"))
    sent = _send_round(api_url, records[:40], labels[:40])
    prometheus.wait_for_data(f'model_roc_auc{{namespace="{NAMESPACE}"}}')
    _wait_for_healthy_scrapes(prometheus)
    sent += _send_round(api_url, records[40:], labels[40:])
    return dict(sent)


_JSON = {"content-type": "application/json"}


def _view_ui_pages(ui_url: str) -> dict[str, int]:
    """Open UI pages in headless Chromium (Debian's) so the UI counts page views; per page."""
    import tempfile

    # harness.browser's page: the suite's deadline for every navigation and wait (Playwright's
    # own 30 s default for goto is short on a busy machine).
    with tempfile.TemporaryDirectory() as profile, chromium_page(Path(profile)) as page:
        for slug, heading in UI_PAGES.items():
            page.goto(f"{ui_url}/{slug}")
            page.get_by_role("heading", name=heading, exact=True).wait_for()
    return {slug or "inference": 1 for slug in UI_PAGES}


def _wait_for_healthy_scrapes(prometheus: PrometheusServer) -> None:
    """Wait until the last three scrapes of the service all succeeded."""
    prometheus.wait_for_data(f'min_over_time(up{{job="{SERVICE}"}}[3s]) == 1')


@pytest.fixture(scope="session")
def monitoring(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Monitoring]:
    """The live stack, with traffic sent and scraped; torn down after the session."""
    try:
        node = NodeExporter()
        debian_binary("prometheus", "prometheus")
    except MissingToolError as exc:
        pytest.fail(str(exc), pytrace=False)
    from porto_inference.server import start_server

    root = tmp_path_factory.mktemp("monitoring")
    timings: dict[str, float] = {}
    began = time.monotonic()
    version, features = _train(root / "artifacts")
    _copy_as_challenger(root / "artifacts", version)
    timings["train"] = time.monotonic() - began

    database_url = postgres_server.create_database("porto_dashboards")
    port = free_port()
    env = {
        "PORTO_INFERENCE_ENVIRONMENT": "local",
        "PORTO_INFERENCE_HOME": str(root),
        "PORTO_INFERENCE_STORE_URI": str(root / "artifacts"),
        "PORTO_INFERENCE_DATABASE_URL": database_url,
        "PORTO_INFERENCE_METRICS_DIR": str(root / "metrics"),
        "PORTO_INFERENCE_QUALITY_INTERVAL_S": "1",
        "PORTO_INFERENCE_DRIFT_INTERVAL_S": "1",
        "PORTO_INFERENCE_LOG_REQUESTS": "false",
        "PORTO_INFERENCE_MODEL_THREADS": "1",
        "PORTO_INFERENCE_CHALLENGERS": "challenger",
    }
    kube = KubeFixture()
    kubelet = FixtureExporter(kube.kubelet)
    kube_state = FixtureExporter(kube.kube_state)
    server = start_server(
        host=LOOPBACK, port=port, workers=WORKERS, env=env, log_file=root / "inference.log"
    )
    prometheus: PrometheusServer | None = None
    ui: Any = None  # porto_ui.server.UIProcess once started
    try:
        began = time.monotonic()
        await_child(server, root / "inference.log")
        timings["inference_ready"] = time.monotonic() - began
        from porto_ui.server import start_ui
        from porto_ui.settings import load_settings as ui_settings

        ui_metrics = free_port()
        ui = start_ui(
            ui_settings(port=free_port(), api_url=server.url, metrics_port=ui_metrics),
            log_file=root / "ui.log",
        )
        await_child(ui, root / "ui.log")
        node.start()
        target_labels = {
            "namespace": NAMESPACE,
            "service": SERVICE,
            "pod": POD,
            "container": "inference",
            "endpoint": "http",
        }
        prometheus = PrometheusServer(
            [
                static_job(SERVICE, [f"{LOOPBACK}:{port}"], target_labels),
                static_job("node-exporter", [node.address]),
                static_job("kubelet", [kubelet.address], honor_labels=True),
                static_job("kube-state-metrics", [kube_state.address], honor_labels=True),
                static_job(
                    UI_SERVICE,
                    [f"{LOOPBACK}:{ui_metrics}"],
                    {**target_labels, "service": UI_SERVICE, "pod": UI_POD, "container": "ui"},
                ),
            ],
            [RULES],
            interval=f"{SCRAPE_SECONDS:g}s",
        )
        began = time.monotonic()
        prometheus.start()
        prometheus.wait_for_targets()
        timings["prometheus_ready"] = time.monotonic() - began
        started = time.time()
        # A baseline before the traffic, as rate() needs: two scrapes of the service (a sleep
        # of two intervals gives fewer when a loaded machine delays them).
        prometheus.wait_for_data(f'count_over_time(up{{job="{SERVICE}"}}[5m]) >= 2')

        began = time.monotonic()
        traffic = _send_traffic(server.url, features, prometheus)
        traffic.update({f"ui_views:{p}": n for p, n in _view_ui_pages(ui.url).items()})
        timings["traffic"] = time.monotonic() - began
        sent = time.time()

        # Live quality needs the log flushed, labels joined and the monitor's next pass; drift
        # its next pass; rates two scrapes after the traffic.
        began = time.monotonic()
        for expr in (
            f'model_f1_score{{namespace="{NAMESPACE}"}}',
            f'challenger_roc_auc{{namespace="{NAMESPACE}"}}',
            f'feature_drift_psi{{namespace="{NAMESPACE}"}}',
            f'feature_unseen_categories_total{{namespace="{NAMESPACE}"}}',
            f'feedback_total{{namespace="{NAMESPACE}"}}',
            f'page_views_total{{namespace="{NAMESPACE}", service="{UI_SERVICE}"}}',
            f'timestamp(up{{job="{SERVICE}"}}) > {sent + 2 * SCRAPE_SECONDS:.3f}',
        ):
            prometheus.wait_for_data(expr)
        _wait_for_healthy_scrapes(prometheus)
        timings["scraped"] = time.monotonic() - began
        yield Monitoring(
            prometheus=prometheus,
            api_url=server.url,
            model_version=version,
            node_instance=node.address,
            started=started,
            traffic=traffic,
            timings=timings,
        )
    finally:
        if prometheus is not None:
            prometheus.close()
        if ui is not None:
            ui.stop()
        node.close()
        server.stop()
        kubelet.close()
        kube_state.close()


# --- what porto's code exports ----------------------------------------------------------------

#: Sources that declare porto's metrics (the inference service's is the source of truth).
METRIC_SOURCES = (
    REPO_ROOT / "services" / "inference" / "src" / "porto_inference",
    REPO_ROOT / "jobs" / "training" / "src" / "porto_training",
)
_CONSTRUCTORS = {
    "Counter": ("_total",),
    "Gauge": ("",),
    "Histogram": ("_bucket", "_sum", "_count"),
    "Summary": ("_sum", "_count", ""),
    "Enum": ("",),
    "Info": ("_info",),
    "GaugeMetricFamily": ("",),
    "CounterMetricFamily": ("_total",),
    "gauge_family": ("",),
    "_gauge": ("",),
    "_live_quality_gauge": ("",),
}


def declared_metrics() -> set[str]:
    """Every series name porto's services and jobs export, read from their declarations
    (``Counter("name", ...)``, collectors' ``GaugeMetricFamily("name", ...)``, ...)."""
    import ast

    names: set[str] = set()
    for source in METRIC_SOURCES:
        for path in sorted(source.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                # the name is the first string argument (a helper may take the registry first)
                first = next(
                    (
                        a
                        for a in node.args
                        if isinstance(a, ast.Constant) and isinstance(a.value, str)
                    ),
                    None,
                )
                if called in _CONSTRUCTORS and first is not None:
                    base = str(first.value).removesuffix("_total")
                    names.update(base + suffix for suffix in _CONSTRUCTORS[called])
    return names


@pytest.fixture(scope="session")
def porto_metrics() -> set[str]:
    """Series names porto's code declares (see :func:`declared_metrics`)."""
    return declared_metrics()
