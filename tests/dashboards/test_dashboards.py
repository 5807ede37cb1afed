"""Structural checks of the dashboards, without a server: the committed JSON is the builder's
output, and each dashboard holds what the chart and Grafana rely on."""

from __future__ import annotations

import json
import re
from itertools import combinations
from typing import Any

import pytest
from porto_dashboards import DASHBOARDS, FOLDER, ROOT, outputs
from porto_dashboards.promql import (
    expand,
    grafana_intervals,
    metric_names,
    panel_queries,
    panels,
    parse_label_values,
    variable_query,
)
from porto_dashboards.sources import PENDING, external_source

UIDS = {
    "porto-inference": "porto / Inference service",
    "porto-model-quality": "porto / Model quality",
}
BUILTINS = {"__interval", "__interval_ms", "__rate_interval", "__range", "__range_s", "__range_ms"}


def _load(uid: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / f"{uid}.json").read_text())
    return data


COMMITTED = {uid: _load(uid) for uid in UIDS}


@pytest.fixture(params=sorted(UIDS))
def dashboard(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Each committed dashboard JSON."""
    return COMMITTED[request.param]


def test_committed_files_are_the_builders_output() -> None:
    stale = [str(p.relative_to(ROOT)) for p, text in outputs().items() if p.read_text() != text]
    assert not stale, f"run `python dashboards/build.py` and commit: {stale}"
    assert {d.uid for d in DASHBOARDS} == set(UIDS)


def test_fixed_uid_title_tags(dashboard: dict[str, Any]) -> None:
    assert dashboard["title"] == UIDS[dashboard["uid"]]
    assert dashboard["id"] is None  # Grafana assigns it; a fixed id would clash on import
    assert {"porto", "mlops"} <= set(dashboard["tags"])
    assert dashboard["links"][0]["tags"] == ["porto"]


def test_refresh_and_time_range(dashboard: dict[str, Any]) -> None:
    assert dashboard["refresh"] == "10s"
    assert dashboard["time"] == {"from": "now-6h", "to": "now"}
    assert "10s" in dashboard["timepicker"]["refresh_intervals"]


def test_folder_is_mlops() -> None:
    provider = (ROOT / "provisioning" / "dashboards.yaml").read_text()
    assert re.search(rf"^\s+folder: {FOLDER}$", provider, re.MULTILINE)
    assert FOLDER == "MLOps"


def test_panel_ids_unique(dashboard: dict[str, Any]) -> None:
    ids = [p["id"] for p in dashboard["panels"]]
    ids += [p["id"] for row in dashboard["panels"] for p in row.get("panels", [])]
    assert len(ids) == len(set(ids))


def test_grid_positions_fit_and_never_overlap(dashboard: dict[str, Any]) -> None:
    boxes = [(p["title"], p["gridPos"]) for p in dashboard["panels"]]
    for title, g in boxes:
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, title
        assert g["y"] >= 0 and g["h"] > 0, title
    for (a, ga), (b, gb) in combinations(boxes, 2):
        apart = (
            ga["x"] + ga["w"] <= gb["x"]
            or gb["x"] + gb["w"] <= ga["x"]
            or ga["y"] + ga["h"] <= gb["y"]
            or gb["y"] + gb["h"] <= ga["y"]
        )
        assert apart, f"{a!r} overlaps {b!r}"


def test_every_panel_and_query_uses_the_datasource_variable(dashboard: dict[str, Any]) -> None:
    variables = dashboard["templating"]["list"]
    source = variables[0]
    assert (source["name"], source["type"], source["query"]) == (
        "datasource",
        "datasource",
        "prometheus",
    )
    expected = {"type": "prometheus", "uid": "${datasource}"}
    for panel in panels(dashboard):
        assert panel["datasource"] == expected, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["datasource"] == expected, panel["title"]
    for variable in variables[1:]:
        assert variable["datasource"] == expected, variable["name"]


def test_titles_units_descriptions(dashboard: dict[str, Any]) -> None:
    titles = []
    for panel in panels(dashboard):
        assert panel["title"].strip(), panel["id"]
        assert panel["description"].strip(), panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
        titles.append(panel["title"])
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert all(rows)
    assert len(titles) == len(set(titles)), "panel titles repeat"


def test_namespace_and_service_variables(dashboard: dict[str, Any]) -> None:
    names = [v["name"] for v in dashboard["templating"]["list"]]
    assert names[:3] == ["datasource", "namespace", "service"]
    for variable in dashboard["templating"]["list"][1:]:
        _, label = parse_label_values(variable_query(variable))
        assert label == variable["name"] or variable["name"] == "model_version"
        assert variable["refresh"] == 2, "values must follow the time range"


def test_rates_use_grafana_intervals(dashboard: dict[str, Any]) -> None:
    for query in panel_queries(dashboard):
        outside_strings = re.sub(r'"(?:\\.|[^"\\])*"', '""', query.expr)
        for window in re.findall(r"\[([^\]]+)\]", outside_strings):
            assert window in ("$__rate_interval", "$__range"), f"{query.name}: [{window}]"


def test_no_hard_coded_devices_nodes_or_namespaces(dashboard: dict[str, Any]) -> None:
    for query in panel_queries(dashboard):
        expr = query.expr
        assert "/dev/" not in expr, query.name
        assert not re.search(r'\b(device|instance|node|namespace|service)="(?!\$)', expr), (
            f"{query.name} pins a label value: {expr}"
        )
        assert not re.search(r"\d+\.\d+\.\d+\.\d+", expr), query.name
        assert re.search(r'namespace=~?"\$namespace"|job="node-exporter"', expr), (
            f"{query.name} ignores the namespace variable: {expr}"
        )


def test_only_defined_variables_are_used(dashboard: dict[str, Any]) -> None:
    defined = {v["name"] for v in dashboard["templating"]["list"]} | BUILTINS
    values = dict.fromkeys(defined, "x")
    for query in panel_queries(dashboard):
        expand(query.expr, values)  # KeyError names an undefined variable
    for variable in dashboard["templating"]["list"][1:]:
        expand(variable_query(variable), values)


def test_heatmaps_read_buckets(dashboard: dict[str, Any]) -> None:
    for panel in panels(dashboard):
        if panel["type"] != "heatmap":
            continue
        (target,) = panel["targets"]
        assert target["format"] == "heatmap" and target["legendFormat"] == "{{le}}"
        assert "_bucket{" in target["expr"] and "sum by (le)" in target["expr"]
        assert panel["options"]["calculate"] is False


def test_every_metric_is_exported_by_someone(
    dashboard: dict[str, Any], porto_metrics: set[str]
) -> None:
    unknown = {
        (query.name, name)
        for query in panel_queries(dashboard)
        for name in metric_names(query.expr)
        if name not in porto_metrics and name not in PENDING and external_source(name) is None
    }
    assert not unknown, f"metrics nobody exports (typo, or renamed in metrics.py?): {unknown}"


def test_pending_metrics_are_really_missing(porto_metrics: set[str]) -> None:
    done = set(PENDING) & porto_metrics
    assert not done, f"now exported by porto: remove from sources.PENDING: {done}"


# --- the query helpers ------------------------------------------------------------------------


def test_metric_names_skip_functions_labels_and_keywords() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, endpoint) (rate(a_bucket{x="y", le!="+Inf"}[5m])))'
        " / ignoring (feature) group_left () sum(b_total offset 1h) or vector(0) and on (pod) c"
        ' unless label_replace(d, "v", "$1", "version", "(.+)")  # a comment names no metric\n'
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c", "d"}


def test_expand_like_grafana() -> None:
    values = {"namespace": "porto", "__rate_interval": "4s", "service": "api"}
    assert expand('x{a="$namespace", b="${service}"}[$__rate_interval]', values) == (
        'x{a="porto", b="api"}[4s]'
    )
    assert expand("[[namespace]]", values) == "porto"
    with pytest.raises(KeyError, match="nope"):
        expand("$nope", values)


def test_grafana_intervals() -> None:
    # Default range, 15 s scrape: 6 h / 1000 points ≈ 21.6 s → 20 s; rate = max(35 s, 60 s).
    assert grafana_intervals(6 * 3600, 15)["__interval"] == "20s"
    assert grafana_intervals(6 * 3600, 15)["__rate_interval"] == "60s"
    # A local run: a minute of 1 s scrapes.
    local = grafana_intervals(60, 1)
    assert (local["__interval"], local["__rate_interval"], local["__range"]) == ("1s", "4s", "60s")


def _proof(panel: dict[str, Any]) -> str:
    """How the live test proves a panel: real data, kube fixture data, or pending metrics."""
    names = set().union(*(metric_names(t["expr"]) for t in panel["targets"]))
    if names & set(PENDING):
        return "pending"
    fixture = {"kubelet / cAdvisor", "kube-state-metrics"}
    return "fixture" if any(external_source(n) in fixture for n in names) else "real"


def test_readme_says_which_panels_are_proven_how() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = re.findall(r"^\| (porto-[\w-]+) \| (.+?) \| (\w+) \|$", readme, re.MULTILINE)
    actual = [
        (uid, panel["title"], _proof(panel))
        for uid, dashboard in COMMITTED.items()
        for panel in panels(dashboard)
    ]
    assert documented == actual, "update the table in dashboards/README.md"
