"""A small, typed description of a Grafana dashboard, rendered to the JSON Grafana imports.

Writing panels as data instead of editing JSON by hand keeps what must hold on every panel true
by construction: each query goes through the ``$datasource`` variable, ids are sequential, grid
positions are computed (no overlaps), and refresh, time range and tags are the same everywhere.
The rendered JSON is committed (it is what the chart packs into ConfigMaps and what Grafana
imports); a test checks it equals this module's output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Grafana's grid is 24 columns wide.
GRID_WIDTH = 24
#: JSON schema version of Grafana 10/11 dashboards (kube-prometheus-stack ships Grafana 11+).
SCHEMA_VERSION = 39
#: Every panel and query reads from the data source the user picks in ``$datasource``.
DATASOURCE: dict[str, str] = {"type": "prometheus", "uid": "${datasource}"}
REFRESH = "10s"
TIME_FROM = "now-6h"


@dataclass(frozen=True)
class Query:
    """One PromQL query of a panel (a Grafana *target*).

    ``instant`` asks for the value at the end of the range only (bar gauges of a ranking);
    ``heatmap`` returns histogram buckets as a heatmap frame (``le`` per row).
    """

    expr: str
    legend: str = ""
    instant: bool = False
    heatmap: bool = False


@dataclass(frozen=True)
class Override:
    """Field settings for the series of one query (e.g. latency on a right-hand axis)."""

    ref_id: str
    unit: str
    axis_right: bool = False


@dataclass(frozen=True)
class Panel:
    """A visualisation; built with :func:`timeseries`, :func:`stat`, :func:`gauge`, etc."""

    kind: str
    title: str
    description: str
    unit: str
    queries: tuple[Query, ...]
    width: int = 12
    height: int = 8
    min: float | None = None
    max: float | None = None
    decimals: int | None = None
    #: (lower bound, colour) steps; the first bound is None (from minus infinity).
    thresholds: tuple[tuple[float | None, str], ...] = ((None, "green"),)
    mappings: tuple[tuple[str, str, str], ...] = ()  # (value, text, colour)
    overrides: tuple[Override, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    """A full-width section header; the panels after it belong to it."""

    title: str


@dataclass(frozen=True)
class Variable:
    """A query variable whose values come from ``label_values(<selector>, <label>)``."""

    name: str
    label: str
    query: str
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None


@dataclass(frozen=True)
class Dashboard:
    """One dashboard: fixed ``uid``, title, tags, variables and an ordered list of items."""

    uid: str
    title: str
    description: str
    tags: tuple[str, ...]
    variables: tuple[Variable, ...]
    items: tuple[Panel | Row, ...]
    #: Tag that links dashboards to each other (a dropdown in each dashboard's header).
    link_tag: str = "porto"

    def render(self) -> dict[str, Any]:
        """Return the dashboard as the JSON object Grafana imports."""
        return {
            "annotations": {"list": [_builtin_annotation()]},
            "description": self.description,
            "editable": True,
            "fiscalYearStartMonth": 0,
            "graphTooltip": 1,
            "id": None,
            "links": [
                {
                    "asDropdown": True,
                    "icon": "external link",
                    "includeVars": True,
                    "keepTime": True,
                    "tags": [self.link_tag],
                    "title": "porto dashboards",
                    "type": "dashboards",
                }
            ],
            "panels": _layout(self.items),
            "refresh": REFRESH,
            "schemaVersion": SCHEMA_VERSION,
            "tags": list(self.tags),
            "templating": {"list": [_datasource_variable(), *map(_variable, self.variables)]},
            "time": {"from": TIME_FROM, "to": "now"},
            "timepicker": {"refresh_intervals": ["10s", "30s", "1m", "5m", "15m", "1h"]},
            "timezone": "browser",
            "title": self.title,
            "uid": self.uid,
            "version": 1,
            "weekStart": "",
        }


# --- panel constructors ----------------------------------------------------------------------


def timeseries(
    title: str,
    description: str,
    unit: str,
    *queries: Query,
    width: int = 12,
    height: int = 8,
    min: float | None = None,
    max: float | None = None,
    overrides: tuple[Override, ...] = (),
    thresholds: tuple[tuple[float | None, str], ...] = ((None, "green"),),
    stack: bool = False,
) -> Panel:
    """A time series graph (lines; stacked areas with ``stack``)."""
    custom: dict[str, Any] = {
        "drawStyle": "line",
        "fillOpacity": 25 if stack else 10,
        "lineWidth": 1,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"group": "A", "mode": "normal" if stack else "none"},
    }
    return Panel(
        kind="timeseries",
        title=title,
        description=description,
        unit=unit,
        queries=queries,
        width=width,
        height=height,
        min=min,
        max=max,
        overrides=overrides,
        thresholds=thresholds,
        custom=custom,
        options={
            "legend": {
                "calcs": ["lastNotNull", "max"],
                "displayMode": "table",
                "placement": "bottom",
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    )


def stat(
    title: str,
    description: str,
    unit: str,
    *queries: Query,
    width: int = 4,
    height: int = 4,
    decimals: int | None = None,
    thresholds: tuple[tuple[float | None, str], ...] = ((None, "blue"),),
    mappings: tuple[tuple[str, str, str], ...] = (),
    text_mode: str = "auto",
    graph: bool = True,
) -> Panel:
    """A single big number per series (the last non-null value in the range)."""
    return Panel(
        kind="stat",
        title=title,
        description=description,
        unit=unit,
        queries=queries,
        width=width,
        height=height,
        decimals=decimals,
        thresholds=thresholds,
        mappings=mappings,
        options={
            "colorMode": "value",
            "graphMode": "area" if graph else "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "textMode": text_mode,
        },
    )


def gauge(
    title: str,
    description: str,
    *queries: Query,
    width: int = 6,
    height: int = 8,
    thresholds: tuple[tuple[float | None, str], ...] = (
        (None, "green"),
        (0.7, "orange"),
        (0.9, "red"),
    ),
) -> Panel:
    """A 0–100 % dial (value given as a 0..1 ratio)."""
    return Panel(
        kind="gauge",
        title=title,
        description=description,
        unit="percentunit",
        queries=queries,
        width=width,
        height=height,
        min=0,
        max=1,
        decimals=1,
        thresholds=thresholds,
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "showThresholdLabels": False,
            "showThresholdMarkers": True,
        },
    )


def bargauge(
    title: str,
    description: str,
    unit: str,
    *queries: Query,
    width: int = 12,
    height: int = 8,
    min: float | None = 0,
    max: float | None = None,
    thresholds: tuple[tuple[float | None, str], ...] = ((None, "green"),),
) -> Panel:
    """Horizontal bars, one per series: rankings such as drift or usage per mount point."""
    return Panel(
        kind="bargauge",
        title=title,
        description=description,
        unit=unit,
        queries=queries,
        width=width,
        height=height,
        min=min,
        max=max,
        thresholds=thresholds,
        options={
            "displayMode": "gradient",
            "orientation": "horizontal",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "showUnfilled": True,
        },
    )


def heatmap(
    title: str, description: str, unit: str, query: Query, *, width: int = 12, height: int = 8
) -> Panel:
    """Histogram buckets over time (Grafana 10's heatmap, buckets already computed)."""
    return Panel(
        kind="heatmap",
        title=title,
        description=description,
        unit=unit,
        queries=(query,),
        width=width,
        height=height,
        options={
            "calculate": False,
            "cellGap": 1,
            "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64, "exponent": 0.5},
            "legend": {"show": True},
            "tooltip": {"show": True, "yHistogram": True},
            "yAxis": {"axisPlacement": "left", "unit": unit},
            "rowsFrame": {"layout": "le"},
        },
    )


# --- rendering -------------------------------------------------------------------------------


def _layout(items: tuple[Panel | Row, ...]) -> list[dict[str, Any]]:
    """Place items left to right, wrapping at the grid width; rows start a new line."""
    out: list[dict[str, Any]] = []
    x = y = line_height = 0
    for panel_id, item in enumerate(items, start=1):
        if isinstance(item, Row):
            if x:
                y += line_height
            out.append(_row(item, panel_id, y))
            x, y, line_height = 0, y + 1, 0
            continue
        if not 0 < item.width <= GRID_WIDTH:
            raise ValueError(f"panel {item.title!r}: width {item.width} outside 1..{GRID_WIDTH}")
        if x + item.width > GRID_WIDTH:
            x, y, line_height = 0, y + line_height, 0
        out.append(_panel(item, panel_id, {"h": item.height, "w": item.width, "x": x, "y": y}))
        x += item.width
        line_height = max(line_height, item.height)
    return out


def _row(row: Row, panel_id: int, y: int) -> dict[str, Any]:
    return {
        "collapsed": False,
        "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
        "id": panel_id,
        "panels": [],
        "title": row.title,
        "type": "row",
    }


def _panel(panel: Panel, panel_id: int, grid: dict[str, int]) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "color": {"mode": "palette-classic" if panel.kind == "timeseries" else "thresholds"},
        "mappings": [_mapping(value, text, colour) for value, text, colour in panel.mappings],
        "thresholds": {
            "mode": "absolute",
            "steps": [{"color": colour, "value": bound} for bound, colour in panel.thresholds],
        },
        "unit": panel.unit,
    }
    if panel.min is not None:
        defaults["min"] = panel.min
    if panel.max is not None:
        defaults["max"] = panel.max
    if panel.decimals is not None:
        defaults["decimals"] = panel.decimals
    if panel.custom:
        defaults["custom"] = panel.custom
    if panel.kind == "timeseries" and len(panel.thresholds) > 1:
        defaults.setdefault("custom", {})["thresholdsStyle"] = {"mode": "dashed"}
    return {
        "datasource": DATASOURCE,
        "description": panel.description,
        "fieldConfig": {"defaults": defaults, "overrides": [_override(o) for o in panel.overrides]},
        "gridPos": grid,
        "id": panel_id,
        "options": panel.options,
        "targets": [_target(q, chr(ord("A") + i)) for i, q in enumerate(panel.queries)],
        "title": panel.title,
        "type": panel.kind,
    }


def _target(query: Query, ref_id: str) -> dict[str, Any]:
    return {
        "datasource": DATASOURCE,
        "editorMode": "code",
        "expr": query.expr,
        "format": "heatmap" if query.heatmap else "time_series",
        "instant": query.instant,
        "legendFormat": query.legend or "__auto",
        "range": not query.instant,
        "refId": ref_id,
    }


def _override(override: Override) -> dict[str, Any]:
    properties: list[dict[str, Any]] = [{"id": "unit", "value": override.unit}]
    if override.axis_right:
        properties.append({"id": "custom.axisPlacement", "value": "right"})
    return {"matcher": {"id": "byFrameRefID", "options": override.ref_id}, "properties": properties}


def _mapping(value: str, text: str, colour: str) -> dict[str, Any]:
    return {"options": {value: {"color": colour, "index": 0, "text": text}}, "type": "value"}


def _datasource_variable() -> dict[str, Any]:
    return {
        "current": {},
        "hide": 0,
        "includeAll": False,
        "label": "Data source",
        "multi": False,
        "name": "datasource",
        "options": [],
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "type": "datasource",
    }


def _variable(var: Variable) -> dict[str, Any]:
    out: dict[str, Any] = {
        "current": {},
        "datasource": DATASOURCE,
        "definition": var.query,
        "hide": 0,
        "includeAll": var.include_all,
        "label": var.label,
        "multi": var.multi,
        "name": var.name,
        "options": [],
        "query": var.query,  # the string form: every Grafana version since 7 reads it
        "refresh": 2,  # on time range change: pods and versions come and go
        "regex": "",
        "sort": 1,
        "type": "query",
    }
    if var.all_value is not None:
        out["allValue"] = var.all_value
    return out


def _builtin_annotation() -> dict[str, Any]:
    return {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }
