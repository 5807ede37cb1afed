"""Reading dashboards as Prometheus sees them: every query of every panel, template variables
expanded the way Grafana expands them, and the metric names a query reads.

The tests use this to run every panel query against a real Prometheus; ``make monitor`` users can
print the expanded queries to paste into Prometheus' own UI.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

#: ``$name``, ``${name}``, ``${name:format}`` and the legacy ``[[name]]``.
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)(?::\w+)?\]\]")
_LABEL_VALUES = re.compile(
    r"^\s*label_values\(\s*(?:(?P<selector>.+?)\s*,\s*)?(?P<label>\w+)\s*\)\s*$"
)

#: Grafana's steps for ``$__interval`` (its ``roundInterval`` rounds to the nearest of these).
_NICE_STEPS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 21600)


@dataclass(frozen=True)
class PanelQuery:
    """One query of one panel, as written in the dashboard JSON."""

    dashboard: str
    panel_id: int
    panel: str
    ref_id: str
    expr: str
    instant: bool
    legend: str = ""

    @property
    def name(self) -> str:
        """A stable id such as ``porto-inference/7/A`` (dashboard uid, panel id, ref id)."""
        return f"{self.dashboard}/{self.panel_id}/{self.ref_id}"


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard, including panels nested in collapsed rows; rows excluded."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def panel_queries(dashboard: Mapping[str, Any]) -> list[PanelQuery]:
    """Every PromQL query of every panel of ``dashboard`` (rendered JSON)."""
    return [
        PanelQuery(
            dashboard=str(dashboard["uid"]),
            panel_id=int(panel["id"]),
            panel=str(panel["title"]),
            ref_id=str(target["refId"]),
            expr=str(target["expr"]),
            instant=bool(target.get("instant", False)),
            legend=str(target.get("legendFormat", "")),
        )
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


def legend_labels(legend: str) -> set[str]:
    """The labels a legend template such as ``{{pod}} {{le}}`` shows."""
    return set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend))


def variable_query(variable: Mapping[str, Any]) -> str:
    """The query of a query variable (string form or the newer object form)."""
    query = variable.get("query", "")
    if isinstance(query, Mapping):
        return str(query.get("query", ""))
    return str(query)


def parse_label_values(query: str) -> tuple[str | None, str]:
    """Split ``label_values(selector, label)`` into ``(selector or None, label)``."""
    match = _LABEL_VALUES.match(query)
    if match is None:
        raise ValueError(f"not a label_values() query: {query!r}")
    return match["selector"], match["label"]


def grafana_intervals(
    range_seconds: float, scrape_seconds: float, max_data_points: int = 1000
) -> dict[str, str]:
    """The built-in interval variables Grafana sets for a panel covering ``range_seconds``.

    ``$__interval`` is the range divided by the panel's data points, rounded to a nice step and
    never below the data source's scrape interval; ``$__rate_interval`` is
    ``max($__interval + scrape interval, 4 × scrape interval)``, Grafana's documented rule.
    """
    raw = max(range_seconds / max_data_points, scrape_seconds)
    interval = min(_NICE_STEPS, key=lambda step: (abs(step - raw), step))
    interval = max(interval, math.ceil(scrape_seconds))
    rate = max(interval + scrape_seconds, 4 * scrape_seconds)
    range_s = max(1, round(range_seconds))
    return {
        "__interval": f"{interval}s",
        "__interval_ms": str(interval * 1000),
        "__rate_interval": f"{math.ceil(rate)}s",
        "__range": f"{range_s}s",
        "__range_s": str(range_s),
        "__range_ms": str(range_s * 1000),
    }


def expand(expr: str, values: Mapping[str, str]) -> str:
    """Replace every variable in ``expr`` by its value; KeyError names an unknown variable.

    ``values`` holds what Grafana would put in: the selected value of each dashboard variable
    (a regex such as ``.+`` for *All*) and the built-in intervals of :func:`grafana_intervals`.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in values:
            raise KeyError(f"unknown variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(replace, expr)


# --- metric names ----------------------------------------------------------------------------

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_COMMENT = re.compile(r"#[^\n]*")
_BRACES = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_OFFSET = re.compile(r"\boffset\s+-?\w+", re.IGNORECASE)
_IDENTIFIER = re.compile(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
     "bool", "offset", "inf", "nan", "atan2"}
)  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions and keywords left out).

    A light tokenizer, not a parser: enough for porto's own queries, which the tests also run
    through Prometheus' real parser.
    """
    text = _COMMENT.sub(" ", _STRING.sub('""', expr))
    text = _BRACES.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _OFFSET.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        word = match.group(1)
        if word.lower() in _KEYWORDS or word[0].isdigit():
            continue
        names.add(word)
    return names
