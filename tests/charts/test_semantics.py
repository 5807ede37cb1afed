"""What kubeconform cannot see: the rendered objects fit together and follow the house rules.

Selectors select what they should (and nothing else), the ServiceMonitor scrapes the API's own
metrics path through the Service's metrics port, every container is locked down and sized,
images are pinned, secrets only travel as Secret references, names fit in 63 characters.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
import yaml
from charts.chartlib import (
    CHART,
    NAMESPACE,
    REPO,
    SCENARIOS,
    by_kind,
    containers,
    helm,
    job_templates,
    labels_match,
    named,
    pod_templates,
    render,
    template_args,
)
from porto_inference.api.routes.health import router as health_router
from porto_inference.api.routes.metrics import router as metrics_router
from porto_ui.server import HEALTH_PATH as UI_HEALTH_PATH

ALL = sorted(SCENARIOS)
LONG_RELEASE = "a-release-name-of-the-longest-length-helm-allows-x53"  # 53 characters


def _api_paths() -> set[str]:
    return {
        getattr(route, "path", "") for r in (health_router, metrics_router) for route in r.routes
    }


# --- selectors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ALL)
def test_workload_selectors_match_their_pod_labels(scenario: str) -> None:
    for kind in ("Deployment", "StatefulSet"):
        for doc in by_kind(render(scenario), kind):
            selector = doc["spec"]["selector"]["matchLabels"]
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert labels_match(selector, labels), f"{kind}/{doc['metadata']['name']}"


@pytest.mark.parametrize("scenario", ALL)
def test_each_service_selects_exactly_one_workload_and_its_ports(scenario: str) -> None:
    docs = render(scenario)
    pods = list(pod_templates(docs))
    for service in by_kind(docs, "Service"):
        name = service["metadata"]["name"]
        selected = [
            p for p in pods if labels_match(service["spec"]["selector"], p.metadata["labels"])
        ]
        owners = {p.where for p in selected}
        assert len(owners) == 1, f"Service/{name} selects {sorted(owners) or 'nothing'}"
        ports = {
            port["name"] for c in selected[0].spec["containers"] for port in c.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, f"Service/{name} targets {port['targetPort']}"


@pytest.mark.parametrize("scenario", ALL)
def test_pdb_hpa_networkpolicy_and_ingress_point_at_the_api(scenario: str) -> None:
    docs = render(scenario)
    deployments = {d["metadata"]["name"]: d for d in by_kind(docs, "Deployment")}
    api_labels = {n: d["spec"]["template"]["metadata"]["labels"] for n, d in deployments.items()}
    for kind in ("PodDisruptionBudget", "NetworkPolicy"):
        for doc in by_kind(docs, kind):
            key = "selector" if kind == "PodDisruptionBudget" else "podSelector"
            selector = doc["spec"][key]["matchLabels"]
            assert any(labels_match(selector, lab) for lab in api_labels.values()), kind
    for hpa in by_kind(docs, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and target["name"] in deployments
        assert "replicas" not in deployments[target["name"]]["spec"], "HPA and fixed replicas"
    services = {s["metadata"]["name"]: s for s in by_kind(docs, "Service")}
    for ingress in by_kind(docs, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                ports = {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
                assert backend["port"]["name"] in ports


@pytest.mark.parametrize("scenario", ALL)
def test_statefulsets_have_their_headless_service(scenario: str) -> None:
    docs = render(scenario)
    services = {s["metadata"]["name"]: s for s in by_kind(docs, "Service")}
    for sts in by_kind(docs, "StatefulSet"):
        headless = services[sts["spec"]["serviceName"]]
        assert headless["spec"]["clusterIP"] == "None"


def test_service_monitor_scrapes_the_api_metrics_path_through_the_metrics_port() -> None:
    docs = render("monitoring")
    monitor = named(docs, "ServiceMonitor", "porto-inference")
    services = [
        s
        for s in by_kind(docs, "Service")
        if labels_match(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
    ]
    assert [s["metadata"]["name"] for s in services] == ["porto-inference"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics"
    assert endpoint["path"] in _api_paths() and endpoint["path"] == "/metrics"
    port = next(p for p in services[0]["spec"]["ports"] if p["name"] == "metrics")
    deployment = named(docs, "Deployment", "porto-inference")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert port["targetPort"] in {p["name"] for p in container["ports"]}
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]


def test_pod_monitor_scrapes_the_training_metrics_port() -> None:
    docs = render("monitoring")
    (monitor,) = by_kind(docs, "PodMonitor")
    selected = [
        p
        for p in pod_templates(docs)
        if labels_match(monitor["spec"]["selector"]["matchLabels"], p.metadata["labels"])
    ]
    assert {p.owner["kind"] for p in selected} == {"Job"}  # the release's Job and the template
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    for pod in selected:
        (container,) = pod.spec["containers"]
        assert endpoint["port"] in {p["name"] for p in container["ports"]}
    assert endpoint["path"] == "/metrics"


def test_monitoring_resources_carry_the_kube_prometheus_stack_release_label() -> None:
    docs = render("monitoring")
    for kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule"):
        found = by_kind(docs, kind)
        assert found, kind
        for doc in found:
            assert doc["metadata"]["labels"]["release"] == "kps", kind
    monitors = {d["metadata"]["name"] for d in by_kind(docs, "ServiceMonitor")}
    assert monitors == {"porto-inference", "porto-ui"}


@pytest.mark.parametrize(
    ("sets", "api", "expected"),
    [
        ((), False, set()),
        ((), True, {"ServiceMonitor", "PodMonitor", "PrometheusRule"}),
        (
            ("global.monitoring.force=true",),
            False,
            {"ServiceMonitor", "PodMonitor", "PrometheusRule"},
        ),
        (("global.monitoring.enabled=false",), True, set()),
    ],
)
def test_monitoring_resources_render_only_with_the_api_or_when_forced(
    sets: tuple[str, ...], api: bool, expected: set[str]
) -> None:
    kinds = {d["kind"] for d in render("default", *sets, monitoring_api=api)}
    assert kinds & {"ServiceMonitor", "PodMonitor", "PrometheusRule"} == expected


def test_probes_use_the_api_health_and_readiness_paths() -> None:
    deployment = named(render("default"), "Deployment", "porto-inference")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert {"/health", "/ready"} <= _api_paths()


def test_ui_probes_use_streamlits_health_endpoint_on_the_http_port() -> None:
    """The UI is live and ready when Streamlit answers: a down API is shown on the pages, it is
    no reason to restart the UI or take it out of the Service."""
    deployment = named(render("default"), "Deployment", "porto-ui")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": UI_HEALTH_PATH, "port": "http"}, probe
    assert UI_HEALTH_PATH == "/_stcore/health"
    assert {p["name"] for p in container["ports"]} == {"http", "metrics"}


# --- house rules for every container -------------------------------------------------------------


@pytest.mark.parametrize("scenario", ALL)
def test_every_container_is_locked_down_and_sized(scenario: str) -> None:
    problems = []
    docs = render(scenario)
    launcher_on = any(d["kind"] == "Role" for d in docs)
    for pod in pod_templates(docs):
        pod_ctx = pod.spec.get("securityContext", {})
        # Only the UI with its training launcher talks to the Kubernetes API (its Role:
        # tests/charts/test_ui_launcher.py); no other pod gets a token.
        launcher = launcher_on and pod.where == "Deployment/porto-ui"
        if pod.spec.get("automountServiceAccountToken") is not launcher:
            problems.append(f"{pod.where}: automountServiceAccountToken must be {launcher}")
        for c in containers(pod.spec):
            where = f"{pod.where}/{c['name']}"
            ctx = c.get("securityContext", {})
            if not (ctx.get("runAsNonRoot") or pod_ctx.get("runAsNonRoot")):
                problems.append(f"{where}: runAsNonRoot")
            if ctx.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation")
            if ctx.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: readOnlyRootFilesystem")
            if "ALL" not in ctx.get("capabilities", {}).get("drop", []):
                problems.append(f"{where}: capabilities not dropped")
            if ctx.get("privileged"):
                problems.append(f"{where}: privileged")
            resources = c.get("resources", {})
            for part in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(part, {}):
                        problems.append(f"{where}: no {part}.{resource}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("scenario", ALL)
def test_long_running_containers_have_probes(scenario: str) -> None:
    problems = []
    for pod in pod_templates(render(scenario)):
        if pod.owner["kind"] not in ("Deployment", "StatefulSet"):
            continue  # Jobs and test pods run to completion: nothing to route to or restart
        for c in pod.spec["containers"]:
            for probe in ("livenessProbe", "readinessProbe"):
                if probe not in c:
                    problems.append(f"{pod.where}/{c['name']}: no {probe}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("scenario", ALL)
def test_images_are_pinned(scenario: str) -> None:
    for pod in pod_templates(render(scenario)):
        for c in containers(pod.spec):
            image = c["image"]
            name, _, tag = image.rpartition(":") if "@" not in image else (image, "", "digest")
            assert "@sha256:" in image or (name and tag and tag != "latest"), (
                f"{pod.where}/{c['name']}: {image}"
            )


def test_postgres_uses_the_official_image_pinned() -> None:
    sts = named(render("default"), "StatefulSet", "porto-postgres")
    image = sts["spec"]["template"]["spec"]["containers"][0]["image"]
    assert re.fullmatch(r"docker\.io/library/postgres:\d+\.\d+-\w+", image), image
    probe = sts["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert probe["exec"]["command"][0] == "pg_isready"


# --- secrets -------------------------------------------------------------------------------------

SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|ACCESS_KEY|API_KEY|DATABASE_URL|_KEY$)")


@pytest.mark.parametrize("scenario", ALL)
def test_secret_env_vars_come_from_secret_refs(scenario: str) -> None:
    docs = render(scenario)
    problems = []
    for pod in pod_templates(docs):
        for c in containers(pod.spec):
            for entry in c.get("env", []):
                if SECRET_NAME.search(entry["name"]) and "secretKeyRef" not in entry.get(
                    "valueFrom", {}
                ):
                    problems.append(
                        f"{pod.where}/{c['name']}: {entry['name']} is not a secretKeyRef"
                    )
    for cm in by_kind(docs, "ConfigMap"):
        problems += [
            f"ConfigMap/{cm['metadata']['name']}: {key}"
            for key in cm.get("data", {})
            if SECRET_NAME.search(key)
        ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("scenario", ALL)
def test_no_secret_value_appears_outside_its_secret(scenario: str) -> None:
    docs = render(scenario)
    values = {
        base64.b64decode(v).decode()
        for s in by_kind(docs, "Secret")
        for v in s.get("data", {}).values()
    }
    others = yaml.safe_dump_all([d for d in docs if d["kind"] != "Secret"])
    leaked = [v[:6] + "…" for v in values if len(v) >= 8 and v in others]
    assert not leaked, f"secret values inlined in manifests: {leaked}"


@pytest.mark.parametrize("scenario", ALL)
@pytest.mark.parametrize("release", ["porto", "minio-postgres-lab"])
def test_every_secret_ref_resolves(scenario: str, release: str) -> None:
    """Each secretKeyRef names a Secret the release renders (with that key), or one the values
    say exists already: the subcharts find each other's Secrets by name."""
    docs = render(scenario, release=release)
    rendered = {s["metadata"]["name"]: set(s.get("data", {})) for s in by_kind(docs, "Secret")}
    values = yaml.safe_load(SCENARIOS[scenario].read_text())
    g = (values or {}).get("global", {})
    existing = {g.get(k, {}).get("existingSecret") for k in ("database", "objectStore", "apiKey")}
    for pod in pod_templates(docs):
        for c in containers(pod.spec):
            for entry in c.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if not ref:
                    continue
                if ref["name"] in rendered:
                    assert ref["key"] in rendered[ref["name"]], f"{pod.where}: {ref}"
                else:
                    assert ref["name"] in existing, (
                        f"{pod.where}: {ref} is neither rendered nor given"
                    )


@pytest.mark.parametrize("release", ["porto", "minio-postgres-lab"])
def test_service_addresses_resolve(release: str) -> None:
    """The S3 endpoint the API and the training job use, and the database URL in the generated
    Secret, name Services this release renders, on their ports."""
    docs = render("default", release=release)
    services = {
        s["metadata"]["name"]: {p["port"] for p in s["spec"]["ports"]}
        for s in by_kind(docs, "Service")
    }
    for pod in pod_templates(docs):
        for c in containers(pod.spec):
            for entry in c.get("env", []):
                if entry["name"].endswith("S3_ENDPOINT_URL"):
                    host, port = re.fullmatch(r"http://([^:/]+):(\d+)", entry["value"]).groups()  # type: ignore[union-attr]
                    assert int(port) in services[host], f"{pod.where}: {entry}"
    secret = next(s for s in by_kind(docs, "Secret") if "database-url" in s["data"])
    url = base64.b64decode(secret["data"]["database-url"]).decode()
    host, port = re.fullmatch(r"postgresql://[^@]+@([^:/]+):(\d+)/\w+", url).groups()  # type: ignore[union-attr]
    name, namespace = host.split(".")[:2]
    assert namespace == NAMESPACE and int(port) in services[name]
    password = base64.b64decode(secret["data"]["password"]).decode()
    assert f":{password}@" in url


def test_generated_secrets_survive_uninstall_for_their_volumes() -> None:
    docs = render("default")
    for secret in by_kind(docs, "Secret"):
        annotations = secret["metadata"].get("annotations", {})
        assert annotations.get("helm.sh/resource-policy") == "keep", secret["metadata"]["name"]
    templates = (CHART / "charts").glob("*/templates/secret.yaml")
    for path in templates:
        assert "lookup" in path.read_text(), f"{path}: must reuse the existing Secret's values"


# --- names, jobs, checksums, dashboards ----------------------------------------------------------


def test_names_and_label_values_fit_in_63_characters() -> None:
    docs = render("cronjob", release=LONG_RELEASE)
    problems = []
    for doc in [*docs, *job_templates(docs)]:
        meta = doc["metadata"]
        name = meta.get("name") or meta.get("generateName", "") + "xxxxx"
        if len(name) > 63:
            problems.append(f"{doc['kind']}/{name}")
        problems += [
            f"{doc['kind']}/{name} label {k}"
            for k, v in meta.get("labels", {}).items()
            if len(str(v)) > 63
        ]
    # A CronJob's Jobs get an 11-character suffix, and their name must fit in a label.
    for cron in by_kind(docs, "CronJob"):
        if len(cron["metadata"]["name"]) > 52:
            problems.append(f"CronJob/{cron['metadata']['name']} longer than 52")
    assert not problems, "\n".join(problems)


def test_training_job_is_per_revision_and_cleans_up() -> None:
    docs = render("default")
    (job,) = [j for j in by_kind(docs, "Job") if j["metadata"]["name"].startswith("porto-training")]
    assert job["metadata"]["name"] == "porto-training-r1"
    assert "helm.sh/hook" not in job["metadata"].get("annotations", {})
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    # The alert rules find training Jobs by name: .*porto.*train.*
    assert re.fullmatch(r".*porto.*train.*", job["metadata"]["name"])


def _training_jobs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [j for j in by_kind(docs, "Job") if j["metadata"]["name"].startswith("porto-training")]


@pytest.mark.parametrize("upgrade", [False, True], ids=["install", "upgrade"])
def test_training_job_runs_on_install_and_every_upgrade_by_default(upgrade: bool) -> None:
    (job,) = _training_jobs(render("default", upgrade=upgrade))
    assert "helm.sh/resource-policy" not in job["metadata"].get("annotations", {})


def test_training_job_on_install_only_when_asked() -> None:
    """`training.job.onUpgrade=false` (the dev loop): the install trains, an upgrade does not,
    and the install's Job is kept when the upgrade drops it (it may still be training)."""
    (job,) = _training_jobs(render("default", "training.job.onUpgrade=false"))
    assert job["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert job["spec"]["ttlSecondsAfterFinished"] > 0, "kept, then removed by its TTL"
    upgraded = render("default", "training.job.onUpgrade=false", upgrade=True)
    assert _training_jobs(upgraded) == []
    assert job_templates(upgraded), "on-demand runs stay possible"


def test_on_demand_job_template_is_the_release_job() -> None:
    docs = render("default")
    (template,) = job_templates(docs)
    job = named(docs, "Job", "porto-training-r1")
    assert template["metadata"]["generateName"] == "porto-training-manual-"
    assert template["spec"] == job["spec"]


def test_cronjob_scenario_schedules_without_overlap() -> None:
    docs = render("cronjob")
    cron = named(docs, "CronJob", "porto-training-scheduled")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["schedule"] == "0 3 * * 0"
    assert not [j for j in by_kind(docs, "Job") if "training" in j["metadata"]["name"]]
    args = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:3] == ["train", "--data", "s3://porto/datasets/train.csv.zip"]


def test_changed_settings_roll_the_api_pods() -> None:
    def checksum(*sets: str) -> str:
        deployment = named(render("default", *sets), "Deployment", "porto-inference")
        value: str = deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        return value

    assert checksum() == checksum()
    assert checksum() != checksum("inference.config.log_level=DEBUG")


def test_dashboards_are_packed_for_the_grafana_sidecar() -> None:
    docs = render("default")
    sources = sorted((REPO / "dashboards").glob("*.json"))
    assert sources, "dashboards/ holds no dashboard"
    maps = {
        k: cm
        for cm in by_kind(docs, "ConfigMap")
        for k in cm.get("data", {})
        if k.endswith(".json")
    }
    assert sorted(maps) == [p.name for p in sources]
    for path in sources:
        cm = maps[path.name]
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["annotations"]["grafana_folder"] == "MLOps"
        assert json.loads(cm["data"][path.name]) == json.loads(path.read_text())


@pytest.mark.parametrize("release", ["porto", "ml-prod"])
def test_prometheus_rule_is_the_alert_rules_file(release: str) -> None:
    (rule,) = by_kind(render("default", release=release), "PrometheusRule")
    source: dict[str, Any] = yaml.safe_load(
        (REPO / "dashboards/alerts/porto.rules.yml").read_text()
    )
    if release != "porto":
        # The rules name release "porto"'s Service; another release's name is substituted.
        text = json.dumps(source).replace('\\"porto-inference\\"', f'\\"{release}-inference\\"')
        source = json.loads(text)
        assert f'job=\\"{release}-inference\\"' in text
    assert rule["spec"]["groups"] == source["groups"]


def _runbook_urls(rule: dict[str, Any]) -> dict[str, str]:
    return {
        r["alert"]: r["annotations"]["runbook_url"]
        for group in rule["spec"]["groups"]
        for r in group["rules"]
        if "alert" in r
    }


def test_runbook_urls_take_the_base_url_value() -> None:
    """rules.runbookBaseUrl replaces the address before each ``#anchor``; the default is the
    rules file's own base; a relative or anchored base is refused by the values schema."""
    default = yaml.safe_load((CHART / "charts/dashboards/values.yaml").read_text())["rules"]
    (rule,) = by_kind(render("default"), "PrometheusRule")
    assert set(_runbook_urls(rule).values()) == {
        f"{default['runbookBaseUrl']}#{alert.lower()}" for alert in _runbook_urls(rule)
    }
    base = "https://wiki.example.com/ops/porto-runbook"
    docs = render("default", f"dashboards.rules.runbookBaseUrl={base}")
    (rule,) = by_kind(docs, "PrometheusRule")
    urls = _runbook_urls(rule)
    assert urls and all(url == f"{base}#{alert.lower()}" for alert, url in urls.items()), urls
    for bad in ("dashboards/RUNBOOK.md", "https://wiki.example.com/runbook#top"):
        out = helm(*template_args("default", f"dashboards.rules.runbookBaseUrl={bad}"), check=False)
        assert out.returncode != 0 and "runbookBaseUrl" in out.stderr, out.stderr


def test_external_scenario_renders_no_database_or_object_store() -> None:
    docs = render("external")
    names = {d["metadata"]["name"] for d in docs}
    assert not [n for n in names if "postgres" in n or "minio" in n]
    assert not by_kind(docs, "Secret")
    deployment = named(docs, "Deployment", "porto-inference")
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example.com/porto/porto-inference:1.2.3"


# --- the UI --------------------------------------------------------------------------------------


def _ui(
    docs: list[dict[str, Any]], release: str = "porto"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The UI Deployment and its container."""
    deployment = named(docs, "Deployment", f"{release}-ui"[:63].rstrip("-"))
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return deployment, container


def test_ui_service_monitor_scrapes_the_ui_metrics_port_as_service_porto_ui() -> None:
    """Prometheus labels what a ServiceMonitor scrapes with `service` = the Service's name: the
    dashboards' page-view panel groups page_views_total by it, and `make monitor` (the local
    Prometheus of dashboards/monitor.py) gives the UI the same name."""
    docs = render("monitoring")
    monitor = named(docs, "ServiceMonitor", "porto-ui")
    services = [
        s
        for s in by_kind(docs, "Service")
        if labels_match(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
    ]
    assert [s["metadata"]["name"] for s in services] == ["porto-ui"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics")
    port = next(p for p in services[0]["spec"]["ports"] if p["name"] == "metrics")
    _, container = _ui(docs)
    target = next(p for p in container["ports"] if p["name"] == port["targetPort"])
    metrics_port = next(e for e in container["env"] if e["name"] == "PORTO_UI_METRICS_PORT")
    assert str(target["containerPort"]) == metrics_port["value"]
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]
    local = (REPO / "dashboards" / "monitor.py").read_text()
    assert '"service": "porto-ui"' in local
    panels = (REPO / "dashboards" / "porto-inference.json").read_text()
    assert "sum by (service, page) (rate(page_views_total" in panels


@pytest.mark.parametrize("release", ["porto", "minio-postgres-lab", LONG_RELEASE])
def test_ui_api_url_is_the_inference_service_http_port(release: str) -> None:
    docs = render("default", release=release)
    _, container = _ui(docs, release)
    url = next(e["value"] for e in container["env"] if e["name"] == "PORTO_UI_API_URL")
    host, port = re.fullmatch(r"http://([^:/]+):(\d+)", url).groups()  # type: ignore[union-attr]
    service = named(docs, "Service", host)
    http = next(p for p in service["spec"]["ports"] if p["name"] == "http")
    assert int(port) == http["port"]
    assert service["metadata"]["labels"]["app.kubernetes.io/name"] == "inference"


def test_ui_api_url_and_key_follow_the_values() -> None:
    # An API elsewhere: this release's generated key is not sent to it.
    _, container = _ui(render("default", "ui.api.url=https://api.example.com/"))
    env = {e["name"]: e for e in container["env"]}
    assert env["PORTO_UI_API_URL"]["value"] == "https://api.example.com"
    assert "PORTO_UI_API_KEY" not in env
    # ... its key comes from global.apiKey.
    _, container = _ui(
        render(
            "default",
            "ui.api.url=https://api.example.com/",
            "global.apiKey.existingSecret=their-key",
            "global.apiKey.key=token",
        )
    )
    env = {e["name"]: e for e in container["env"]}
    assert env["PORTO_UI_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "their-key",
        "key": "token",
    }
    _, container = _ui(render("external"))
    assert container["image"] == "registry.example.com/porto/porto-ui:1.2.3"
    env = {e["name"]: e for e in container["env"]}
    # The key the API checks is the one the UI sends: the same Secret and key.
    assert env["PORTO_UI_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "porto-api-key",
        "key": "api-key",
    }
    api = named(render("external"), "Deployment", "porto-inference")
    (api_container,) = api["spec"]["template"]["spec"]["containers"]
    api_env = {e["name"]: e for e in api_container["env"]}
    assert api_env["PORTO_INFERENCE_API_KEY"]["valueFrom"] == env["PORTO_UI_API_KEY"]["valueFrom"]


# --- the API key ---------------------------------------------------------------------------------

#: Who reads the API key: the API checks it, the UI and the `helm test` pod send it.
KEY_READERS = ("PORTO_INFERENCE_API_KEY", "PORTO_UI_API_KEY", "PORTO_API_KEY")


def _key_refs(docs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Variable -> the secretKeyRef it is read from, for every reader of the API key."""
    refs: dict[str, dict[str, str]] = {}
    for pod in pod_templates(docs):
        for c in containers(pod.spec):
            for entry in c.get("env", []):
                if entry["name"] in KEY_READERS:
                    assert entry["name"] not in refs, f"{pod.where}: a second {entry['name']}"
                    refs[entry["name"]] = entry["valueFrom"]["secretKeyRef"]
    return refs


def _generated_key_secrets(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in by_kind(docs, "Secret") if s["metadata"]["name"].endswith("-api-key")]


@pytest.mark.parametrize("release", ["porto", "minio-postgres-lab", LONG_RELEASE])
def test_the_api_key_is_generated_into_a_kept_secret_that_the_api_ui_and_helm_test_read(
    release: str,
) -> None:
    """Production refuses to start without a strong key: the chart generates one (48 random
    alphanumerics, which the API's own strength rule accepts) into a Secret kept on uninstall,
    labelled with the release (`make undeploy PURGE=1` deletes it), and every reader of the
    key reads that Secret."""
    from porto_inference.settings import api_key_problem

    docs = render("default", release=release)
    (secret,) = _generated_key_secrets(docs)
    name = secret["metadata"]["name"]
    # The inference chart's fullname cut to leave room for the suffix (porto-lib.apiKeySecret).
    assert name == f"{release}-inference"[:63].rstrip("-")[:55].rstrip("-") + "-api-key"
    assert len(name) <= 63
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert secret["metadata"]["labels"]["app.kubernetes.io/instance"] == release
    assert set(secret["data"]) == {"api-key"}
    key = base64.b64decode(secret["data"]["api-key"]).decode()
    assert re.fullmatch(r"[A-Za-z0-9]{48}", key), "48 random alphanumerics"
    assert api_key_problem(key) is None
    refs = _key_refs(docs)
    assert set(refs) == set(KEY_READERS)
    assert all(ref == {"name": name, "key": "api-key"} for ref in refs.values()), refs


def test_the_generated_api_key_is_random() -> None:
    """Without a cluster to look the Secret up in (`helm template`), every render is a new key:
    nothing fixed is baked into the chart. (Kept across upgrades: test_cluster_install.)"""
    keys = {
        base64.b64decode(_generated_key_secrets(render("default", *sets))[0]["data"]["api-key"])
        for sets in ([], ["inference.podAnnotations.render=second"])
    }
    assert len(keys) == 2


def test_the_generated_api_key_template_reuses_an_existing_secret() -> None:
    """The same `lookup` as the database password: the existing Secret's key wins."""
    text = (CHART / "charts" / "inference" / "templates" / "secret.yaml").read_text()
    assert 'lookup "v1" "Secret" .Release.Namespace $name' in text
    assert '$apiKey = index $existing.data "api-key" | b64dec' in text


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["global.apiKey.existingSecret=my-api-key"], {"name": "my-api-key", "key": "api-key"}),
        (
            ["global.apiKey.existingSecret=my-api-key", "global.apiKey.key=token"],
            {"name": "my-api-key", "key": "token"},
        ),
    ],
)
def test_a_user_supplied_api_key_secret_replaces_the_generated_one(
    sets: list[str], expected: dict[str, str]
) -> None:
    docs = render("default", *sets)
    assert not _generated_key_secrets(docs)
    refs = _key_refs(docs)
    assert set(refs) == set(KEY_READERS)
    assert all(ref == expected for ref in refs.values()), refs


def test_the_external_scenario_reads_its_own_api_key_secret() -> None:
    docs = render("external")
    assert not _generated_key_secrets(docs)
    refs = _key_refs(docs)
    assert set(refs) == set(KEY_READERS)
    assert all(ref == {"name": "porto-api-key", "key": "api-key"} for ref in refs.values()), refs


def test_only_the_api_has_a_key_when_it_runs_alone() -> None:
    docs = render("subcharts-off")
    (secret,) = _generated_key_secrets(docs)
    refs = _key_refs(docs)
    assert set(refs) == {"PORTO_INFERENCE_API_KEY", "PORTO_API_KEY"}
    assert {r["name"] for r in refs.values()} == {secret["metadata"]["name"]}


def test_inference_network_policy_admits_the_ui_pods() -> None:
    """With allowExternal=false the API only takes connections from listed peers: the UI pods
    must be one of them (the ingress scenario closes both)."""
    docs = render("ingress")
    policy = named(docs, "NetworkPolicy", "porto-inference")
    deployment, _ = _ui(docs)
    ui_labels = deployment["spec"]["template"]["metadata"]["labels"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    pod_peers = [p["podSelector"]["matchLabels"] for p in rule["from"] if "podSelector" in p]
    assert any(labels_match(peer, ui_labels) for peer in pod_peers), pod_peers


def test_ui_network_policy_admits_browsers_and_prometheus() -> None:
    docs = render("ingress")
    policy = named(docs, "NetworkPolicy", "porto-ui")
    deployment, _ = _ui(docs)
    assert labels_match(
        policy["spec"]["podSelector"]["matchLabels"],
        deployment["spec"]["template"]["metadata"]["labels"],
    )
    rules = {r["ports"][0]["port"]: r for r in policy["spec"]["ingress"]}
    assert set(rules) == {"http", "metrics"}

    def namespaces(rule: dict[str, Any]) -> set[str]:
        return {
            p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            for p in rule["from"]
            if "namespaceSelector" in p
        }

    assert namespaces(rules["http"]) == {"traefik"}
    assert namespaces(rules["metrics"]) == {"monitoring"}
    # allowExternal (the default): both ports open to every peer.
    open_policy = named(render("default"), "NetworkPolicy", "porto-ui")
    assert all("from" not in r for r in open_policy["spec"]["ingress"])


def test_ui_ingress_keeps_sessions_on_one_pod() -> None:
    """Traefik balances over the pods itself, so the Service's ClientIP affinity does not reach
    it: its sticky cookie (a Service annotation its Ingress provider reads) keeps a browser on
    the pod holding its session. No body-size annotation: Traefik sets no request body limit."""
    docs = render("ingress")
    ingress = named(docs, "Ingress", "porto-ui")
    assert ingress["spec"]["ingressClassName"] == "traefik"
    assert not any("nginx" in key for key in ingress["metadata"].get("annotations") or {})
    ((rule,), (tls,)) = ingress["spec"]["rules"], ingress["spec"]["tls"]
    assert rule["host"] in tls["hosts"]
    service = named(docs, "Service", "porto-ui")
    assert service["spec"]["sessionAffinity"] == "ClientIP"
    annotations = service["metadata"]["annotations"]
    assert annotations["traefik.ingress.kubernetes.io/service.sticky.cookie"] == "true"


@pytest.mark.parametrize("scenario", ["default", "ingress"])
def test_no_httproute_unless_asked(scenario: str) -> None:
    assert not by_kind(render(scenario), "HTTPRoute")


def test_httproutes_send_their_hosts_to_the_release_services() -> None:
    """Each HTTPRoute attaches to the Gateway listener its values name and sends its hosts, on
    the path prefix, to its own Service's http port; the Ingress of the same scenario keeps
    working next to it; a route without a Gateway is refused with one line."""
    docs = render("httproute")
    values = yaml.safe_load(SCENARIOS["httproute"].read_text())  # type: ignore[union-attr]
    routes = {r["metadata"]["name"]: r for r in by_kind(docs, "HTTPRoute")}
    assert set(routes) == {"porto-inference", "porto-ui"}
    for chart in ("inference", "ui"):
        route = routes[f"porto-{chart}"]
        assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
        assert route["spec"]["parentRefs"] == values[chart]["httpRoute"]["parentRefs"]
        hostnames = values[chart]["httpRoute"].get("hostnames") or [
            values[chart]["ingress"]["host"]
        ]
        assert route["spec"]["hostnames"] == hostnames
        ((rule,),) = [route["spec"]["rules"]]
        assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
        ((backend,),) = [rule["backendRefs"]]
        service = named(docs, "Service", backend["name"])
        http = next(p for p in service["spec"]["ports"] if p["name"] == "http")
        assert backend["port"] == http["port"]
        assert labels_match(
            route["metadata"]["labels"],
            {**route["metadata"]["labels"], **service["metadata"]["labels"]},
        )
        # Only the Gateway's namespace (its controller's pods) may forward to the pods.
        policy = named(docs, "NetworkPolicy", f"porto-{chart}")
        peers = [p for r in policy["spec"]["ingress"] for p in r.get("from", [])]
        assert {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateways"}}
        } in peers
    assert (
        named(docs, "Ingress", "porto-inference")["spec"]["rules"][0]["host"]
        == "api.porto.example.com"
    )
    out = helm(
        *template_args("default", "ui.httpRoute.enabled=true", "ui.httpRoute.parentRefs=null"),
        check=False,
    )
    assert out.returncode != 0
    assert (
        "ui.httpRoute.parentRefs is empty: name the Gateway the HTTPRoute attaches to" in out.stderr
    )


def test_changed_settings_roll_the_ui_pods() -> None:
    def checksum(*sets: str) -> str:
        deployment, _ = _ui(render("default", *sets))
        value: str = deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        return value

    assert checksum() == checksum()
    assert checksum() != checksum("ui.config.read_timeout_s=9")
    assert checksum() == checksum("inference.config.log_level=DEBUG")


def test_ui_writes_only_to_its_volumes() -> None:
    deployment, container = _ui(render("default"))
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"/tmp", "/var/lib/porto-ui"}
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert all("emptyDir" in v for v in volumes)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_test_hook_is_a_pod_so_helm_test_logs_can_read_it(scenario: str) -> None:
    """`helm test --logs` fetches the log of every `test` hook as a pod's: a ConfigMap (or any
    other kind) marked as a test hook makes it fail with "pods ... not found"."""
    hooks = [
        doc
        for doc in render(scenario)
        if "test" in doc["metadata"].get("annotations", {}).get("helm.sh/hook", "").split(",")
    ]
    assert hooks, "the chart has a helm test"
    assert {doc["kind"] for doc in hooks} == {"Pod"}, [
        (doc["kind"], doc["metadata"]["name"]) for doc in hooks
    ]


def test_api_pods_keep_serving_until_their_endpoints_are_gone() -> None:
    """A pod marked for deletion sleeps in preStop (the native sleep action on Kubernetes 1.30+)
    before SIGTERM, and its grace period covers that sleep, gunicorn's graceful timeout and the
    prediction log's flush (measured on the node: without it a rolling update loses requests)."""
    (deployment,) = [
        d
        for d in by_kind(render("default"), "Deployment")
        if d["metadata"]["name"].endswith("-inference")
    ]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = [c for c in pod["containers"] if c["name"] == "inference"]
    sleep = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert sleep >= 5
    assert pod["terminationGracePeriodSeconds"] > sleep + 30 + 10
    args = template_args("default")
    args[args.index("--kube-version") + 1] = "1.29.0"  # before the sleep action
    old = [doc for doc in yaml.safe_load_all(helm(*args).stdout) if doc]
    (old_deployment,) = [
        d for d in by_kind(old, "Deployment") if d["metadata"]["name"].endswith("-inference")
    ]
    (old_container,) = [
        c
        for c in old_deployment["spec"]["template"]["spec"]["containers"]
        if c["name"] == "inference"
    ]
    assert old_container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", str(sleep)]
