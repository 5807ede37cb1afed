"""Every dashboard query and alert rule, run on a real Prometheus scraping a real inference service.

The ``monitoring`` fixture (conftest.py) starts the stack and sends traffic. Each panel query is
expanded as Grafana would for a local run over the test's time range (variables from their own
``label_values`` queries, *All* as its regex, ``$__interval``/``$__rate_interval`` from the range
and the 1 s scrape interval), sent to Prometheus' HTTP API like Grafana sends it (range query,
or instant for instant targets), and must parse and return at least one finite value.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest
import yaml
from dashboards.conftest import FAILED_JOB, RETRIED_JOB
from harness.timing import DEADLINE
from porto_dashboards import ROOT
from porto_dashboards.promql import (
    PanelQuery,
    expand,
    grafana_intervals,
    legend_labels,
    metric_names,
    panel_queries,
    parse_label_values,
    variable_query,
)
from porto_dashboards.sources import PENDING

pytestmark = pytest.mark.integration

RULES = ROOT / "alerts" / "porto.rules.yml"
#: The labels the test's scrape config gives the inference target (as a ServiceMonitor would).
NAMESPACE, SERVICE = "porto", "porto-inference"
SCRAPE_SECONDS = 1.0

DASHBOARDS = {
    uid: json.loads((ROOT / f"{uid}.json").read_text())
    for uid in ("porto-inference", "porto-model-quality")
}
QUERIES = [q for d in DASHBOARDS.values() for q in panel_queries(d)]


def _param(query: PanelQuery) -> Any:
    pending = sorted(metric_names(query.expr) & set(PENDING))
    marks = []
    if pending:
        reason = f"the inference service does not export {', '.join(pending)} yet"
        marks.append(pytest.mark.xfail(reason=reason, strict=True))
    return pytest.param(query, id=f"{query.name} {query.panel}", marks=marks)


def _variables(monitoring: Any, dashboard: dict[str, Any], now: float) -> dict[str, str]:
    """Each variable's value as Grafana picks it on load: *All* (its regex) when offered, else
    the first value its ``label_values`` query returns; plus the built-in intervals."""
    values = {"datasource": "prometheus", **_intervals(monitoring, now)}
    for variable in dashboard["templating"]["list"][1:]:
        selector, label = parse_label_values(variable_query(variable))
        match = expand(selector, values) if selector else None
        options = monitoring.prometheus.label_values(label, match)
        assert options, f"variable ${variable['name']}: {variable_query(variable)} found nothing"
        values[variable["name"]] = variable["allValue"] if variable["includeAll"] else options[0]
    return values


def _intervals(monitoring: Any, now: float) -> dict[str, str]:
    return grafana_intervals(now - monitoring.started, SCRAPE_SECONDS)


def _finite(result: list[dict[str, Any]]) -> bool:
    samples = [v for series in result for v in series.get("values", [series.get("value")]) if v]
    return any(math.isfinite(float(value)) for _, value in samples)


def test_variables_resolve_to_the_running_stack(monitoring: Any) -> None:
    now = time.time()
    inference = _variables(monitoring, DASHBOARDS["porto-inference"], now)
    quality = _variables(monitoring, DASHBOARDS["porto-model-quality"], now)
    assert (inference["namespace"], inference["service"]) == (NAMESPACE, SERVICE)
    assert monitoring.node_instance in monitoring.prometheus.label_values(
        "instance", 'node_uname_info{job="node-exporter"}'
    )
    versions = monitoring.prometheus.label_values(
        "model_version", f'predictions_total{{namespace="{NAMESPACE}", service="{SERVICE}"}}'
    )
    assert versions == [monitoring.model_version]
    assert quality["model_version"] == ".+"


@pytest.mark.parametrize("query", [_param(q) for q in QUERIES])
def test_panel_query_returns_data(monitoring: Any, query: PanelQuery) -> None:
    now = time.time()
    values = _variables(monitoring, DASHBOARDS[query.dashboard], now)
    expr = expand(query.expr, values)
    prometheus = monitoring.prometheus
    if query.instant:
        result = prometheus.query(expr, at=now)
    else:
        step = float(values["__interval"].removesuffix("s"))
        result = prometheus.query_range(expr, monitoring.started, now, step)
    assert _finite(result), f"no data for {query.name} ({query.panel}):\n  {expr}"
    for label in legend_labels(query.legend):
        unlabelled = [s["metric"] for s in result if not s["metric"].get(label)]
        assert not unlabelled, (
            f"{query.name}: legend shows {{{{{label}}}}}, absent from {unlabelled}"
        )


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


@pytest.mark.parametrize("rule", _rules(), ids=lambda r: r.get("alert") or r.get("record"))
def test_rule_expression_runs(monitoring: Any, rule: dict[str, Any]) -> None:
    """Each alert's expression parses and evaluates on the live data (it need not fire)."""
    monitoring.prometheus.query(rule["expr"])


def test_prometheus_loaded_and_evaluated_every_rule(monitoring: Any) -> None:
    def evaluated(rule: dict[str, Any]) -> bool:
        return not rule.get("lastEvaluation", "0001").startswith("0001")  # Go's zero time

    deadline = time.monotonic() + DEADLINE
    loaded = monitoring.prometheus.rules()
    while not all(map(evaluated, loaded)) and time.monotonic() < deadline:
        time.sleep(0.2)
        loaded = monitoring.prometheus.rules()
    assert {r["name"] for r in loaded} == {r["alert"] for r in _rules()}
    for rule in loaded:
        assert evaluated(rule), rule["name"]
        assert rule["health"] == "ok", f"{rule['name']}: {rule.get('lastError')}"


def test_healthy_service_raises_only_the_fixture_alert(monitoring: Any) -> None:
    """With the service healthy, the only firing alert is the one the kube fixture provokes
    (a training Job that gave up), and it fires on the real Prometheus; the Job that succeeded
    after a retried pod does not. (A slow scrape on a loaded machine may make an alert *pending*
    for a moment; none can last its ``for:`` here.)"""
    alerts = monitoring.prometheus.api("alerts")["alerts"]
    firing = [a for a in alerts if a["state"] == "firing"]
    assert [a["labels"]["alertname"] for a in firing] == ["PortoTrainingJobFailed"], alerts
    assert firing[0]["labels"]["job_name"] == FAILED_JOB
    assert all(a["labels"].get("job_name") != RETRIED_JOB for a in alerts), alerts
    for alert in alerts:
        assert not alert["labels"]["alertname"].startswith(("PortoFeatureDrift", "PortoModel")), (
            alert
        )


def test_dashboard_numbers_match_the_traffic(monitoring: Any) -> None:
    """What the panels add up is what was sent: both workers' counters reach Prometheus."""
    sent = monitoring.traffic
    svc = f'namespace="{NAMESPACE}", service="{SERVICE}"'

    def total(expr: str) -> float:
        (sample,) = monitoring.prometheus.query(expr)
        return float(sample["value"][1])

    assert total(f"sum(inference_requests_total{{{svc}}})") == sent["inference_requests"]
    assert total(f"sum(inference_errors_total{{{svc}}})") == sent["errors"]
    assert total(f"sum(predictions_total{{{svc}}})") == sent["rows"]
    assert total(f"sum(page_views_total{{{svc}}})") == sent["page_views"]
    assert total(f'sum(feedback_total{{{svc}, outcome=~"applied|pending"}})') == sent["labels"]


def test_ui_page_views_are_scraped(monitoring: Any) -> None:
    """The UI's own metrics port is scraped: one page view per page the browser opened."""
    ui = 'namespace="porto", service="porto-ui"'
    (up,) = monitoring.prometheus.query(f"up{{{ui}}}")
    assert up["value"][1] == "1"
    views = {
        s["metric"]["page"]: float(s["value"][1])
        for s in monitoring.prometheus.query(f"sum by (page) (page_views_total{{{ui}}})")
    }
    expected = {k.split(":", 1)[1]: v for k, v in monitoring.traffic.items() if k.startswith("ui_")}
    assert views == expected
