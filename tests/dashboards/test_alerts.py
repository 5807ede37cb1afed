"""The alert rules: promtool's own checks and unit tests, and what every alert must carry."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from porto_dashboards import ROOT
from porto_dashboards.promql import metric_names
from porto_dashboards.sources import PENDING, external_source

RULES = ROOT / "alerts" / "porto.rules.yml"
CHART_DASHBOARDS = ROOT.parent / "charts" / "porto" / "charts" / "dashboards"
RULE_TESTS = ROOT / "alerts" / "porto.rules.test.yml"
RUNBOOK = ROOT / "RUNBOOK.md"
#: Where every runbook_url points before its #anchor: the runbook in porto's repository (the
#: chart's dashboards.rules.runbookBaseUrl and `make monitor --runbook-base-url` replace it).
RUNBOOK_BASE_URL = "https://github.com/porto-mlops/porto/blob/main/dashboards/RUNBOOK.md"


def _alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


ALERTS = _alerts()
#: The alerts issue 6 asks for, by what they watch.
REQUIRED = {
    "PortoInferenceErrorRateHigh",
    "PortoInferenceLatencyHigh",
    "PortoNoPredictions",
    "PortoInferenceDown",
    "PortoInferencePodsUnavailable",
    "PortoModelF1BelowTraining",
    "PortoFeatureDriftHigh",
    "PortoPredictionLogDropping",
    "PortoPredictionLogBackedUp",
    "PortoModelReloadFailing",
    "PortoTrainingJobFailed",
}


def _promtool(promtool: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool), *args],
        cwd=RULES.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_promtool_check_rules(promtool: Path) -> None:
    result = _promtool(promtool, "check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_promtool_unit_tests(promtool: Path) -> None:
    result = _promtool(promtool, "test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_fires_and_stays_silent_in_the_unit_tests() -> None:
    cases: dict[str, set[bool]] = {}
    for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for case in test.get("alert_rule_test", []):
            cases.setdefault(case["alertname"], set()).add(bool(case.get("exp_alerts")))
    for alert in ALERTS:
        assert cases.get(alert["alert"]) == {True, False}, (
            f"{alert['alert']} needs a case where it fires and one where it stays silent"
        )


def test_the_issue_alerts_exist() -> None:
    missing = REQUIRED - {a["alert"] for a in ALERTS}
    assert not missing


@pytest.mark.parametrize("alert", ALERTS, ids=[a["alert"] for a in ALERTS])
def test_alert_carries_severity_summary_description_runbook(alert: dict[str, Any]) -> None:
    assert alert["labels"]["severity"] in ("critical", "warning")
    notes = alert["annotations"]
    assert set(notes) == {"summary", "description", "runbook_url"}
    assert notes["summary"].strip() and notes["description"].strip()
    base, anchor = notes["runbook_url"].split("#")
    assert base == RUNBOOK_BASE_URL and anchor == alert["alert"].lower()


def _runbook_anchors() -> list[str]:
    """GitHub's anchors of the runbook's second-level headings."""
    headings = re.findall(r"^## (.+)$", RUNBOOK.read_text(), re.MULTILINE)
    return [re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings]


def test_every_runbook_url_is_absolute_and_its_anchor_exists() -> None:
    """Alertmanager, Grafana and on-call tools open runbook_url as is: a relative path leads
    nowhere. Each must be an absolute https address whose #anchor is a section of RUNBOOK.md."""
    anchors = set(_runbook_anchors())
    chart = yaml.safe_load((CHART_DASHBOARDS / "values.yaml").read_text())["rules"]
    assert chart["runbookBaseUrl"] == RUNBOOK_BASE_URL, "the chart's default is the rules' base"
    for alert in ALERTS:
        url = urlsplit(alert["annotations"]["runbook_url"])
        assert (url.scheme, bool(url.netloc)) == ("https", True), alert["alert"]
        assert url.path.endswith("/dashboards/RUNBOOK.md"), alert["alert"]
        assert url.fragment in anchors, f"{alert['alert']}: no section #{url.fragment}"


def test_runbook_has_one_section_per_alert() -> None:
    anchors = _runbook_anchors()
    assert sorted(anchors) == sorted(a["alert"].lower() for a in ALERTS)
    for link in re.findall(r"\]\(#([^)]+)\)", RUNBOOK.read_text()):
        assert link in anchors, f"RUNBOOK.md links to a missing section #{link}"


def test_rules_read_only_exported_metrics(porto_metrics: set[str]) -> None:
    unknown = {
        (alert["alert"], name)
        for alert in ALERTS
        for name in metric_names(alert["expr"])
        if name not in porto_metrics and name not in PENDING and external_source(name) is None
    }
    assert not unknown, f"metrics nobody exports: {unknown}"
