"""Generated files are up to date and the chart follows the house layout (STYLE.md)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest
import yaml
from charts.chartlib import CHART, LIBRARY, SUBCHARTS

CHARTS = {"porto": CHART} | {name: CHART / "charts" / name for name in SUBCHARTS}
HELPERS = ("name", "fullname", "chart", "labels", "selectorLabels", "serviceAccountName")


def _run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHART / "hack" / script), "--check"], capture_output=True, text=True
    )


def test_chart_copies_of_the_dashboards_match_the_source() -> None:
    out = _run("sync_dashboards.py")
    assert out.returncode == 0, out.stderr


def test_values_schemas_and_readme_tables_are_generated_from_values() -> None:
    out = _run("values_docs.py")
    assert out.returncode == 0, out.stderr


def test_standard_helpers_are_defined_in_the_library() -> None:
    library = CHART / "charts" / LIBRARY / "templates"
    text = "".join(p.read_text() for p in sorted(library.glob("_*.tpl")))
    for helper in HELPERS:
        assert f'define "{LIBRARY}.{helper}"' in text, f"{LIBRARY}.{helper}"
    assert "trunc 63" in text


@pytest.mark.parametrize("chart", sorted(CHARTS))
def test_every_chart_labels_its_objects_with_the_library(chart: str) -> None:
    templates = CHARTS[chart] / "templates"
    text = "".join(p.read_text() for p in sorted(templates.rglob("*")) if p.is_file())
    assert f'include "{LIBRARY}.labels"' in text, chart


@pytest.mark.parametrize("chart", sorted(CHARTS))
def test_values_start_with_the_schema_modeline_and_schemas_describe_every_key(chart: str) -> None:
    values = (CHARTS[chart] / "values.yaml").read_text()
    assert values.startswith("# yaml-language-server: $schema=values.schema.json\n")
    schema = json.loads((CHARTS[chart] / "values.schema.json").read_text())

    def leaves(node: dict[str, Any], path: str) -> list[str]:
        props = node.get("properties")
        if not props:
            return [] if "description" in node else [path]
        return [p for k, v in props.items() for p in leaves(v, f"{path}.{k}")]

    assert not leaves(schema, chart), "schema leaves without a description"


def test_every_subchart_is_gated_by_its_enabled_value() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    deps = {d["name"]: d for d in chart["dependencies"]}
    assert sorted(deps) == sorted([*SUBCHARTS, LIBRARY])
    assert "condition" not in deps.pop(LIBRARY)  # the helpers every chart needs (test_helpers)
    for name, dep in deps.items():
        assert dep["condition"] == f"{name}.enabled"
        sub = yaml.safe_load((CHART / "charts" / name / "Chart.yaml").read_text())
        assert sub["version"] == dep["version"] and sub["apiVersion"] == "v2"


def test_subchart_global_defaults_agree_with_the_umbrella() -> None:
    umbrella = yaml.safe_load((CHART / "values.yaml").read_text())["global"]

    def flat(node: Any, prefix: str = "") -> dict[str, Any]:
        if isinstance(node, dict) and node:
            return {
                k: v for key, val in node.items() for k, v in flat(val, f"{prefix}{key}.").items()
            }
        return {prefix.rstrip("."): node}

    expected = flat(umbrella)
    for name in SUBCHARTS:
        values = yaml.safe_load((CHART / "charts" / name / "values.yaml").read_text())
        for key, value in flat(values.get("global", {})).items():
            assert expected.get(key) == value, f"{name}: global.{key}"


def test_ci_scenarios_cover_the_issue() -> None:
    names = {p.name for p in (CHART / "ci").glob("*-values.yaml")}
    assert {
        "external-values.yaml",
        "subcharts-off-values.yaml",
        "ingress-values.yaml",
        "monitoring-values.yaml",
        "cronjob-values.yaml",
    } <= names


def test_pods_reading_configmaps_carry_a_checksum() -> None:
    for path in sorted(CHART.rglob("templates/*.yaml")) + sorted(CHART.rglob("templates/*.tpl")):
        text = path.read_text()
        if re.search(r"configMapRef:|configMap:\n", text):
            assert "checksum/" in text, (
                f"{path.relative_to(CHART)} reads a ConfigMap without a checksum"
            )


def test_chart_python_is_lint_and_type_clean() -> None:
    """The scripts under charts/ (generators, the helm test, wait-for-store) are excluded from the
    repository-wide `ruff .` (pyproject's extend-exclude), so they are checked here."""
    files = [str(p) for p in sorted(CHART.rglob("*.py")) if "__pycache__" not in p.parts]
    assert len(files) >= 4
    for args in (["ruff", "check", *files], ["ruff", "format", "--check", *files]):
        out = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--ignore-missing-imports",
            "--no-incremental",
            *files,
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
