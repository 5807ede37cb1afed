"""One helper library: every chart's standard helpers and the names of each component's objects
live in the library chart (charts/porto/charts/porto-lib), which the umbrella and every subchart
depend on. Helm's named templates are global to a release, so a helper defined twice is one
definition silently winning over the other: no `define` may appear in two charts, and no chart but
the library may build another component's object name itself."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import yaml
from charts.chartlib import CHART, LIBRARY, SUBCHARTS

LIB = CHART / "charts" / LIBRARY
#: chart name -> its directory: the umbrella, the subcharts, the library.
CHARTS = {"porto": CHART, **{name: CHART / "charts" / name for name in SUBCHARTS}, LIBRARY: LIB}
DEFINE = re.compile(r'\{\{-?\s*define\s+"([^"]+)"')
ACTION = re.compile(r"\{\{.*?\}\}", re.S)
STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
COMPONENTS = "|".join(SUBCHARTS)


def _templates(chart: Path) -> list[Path]:
    """The chart's own template files (not those of the charts under it)."""
    return sorted(p for p in (chart / "templates").rglob("*") if p.is_file())


def _defines() -> dict[str, list[str]]:
    """define name -> the charts defining it."""
    found: dict[str, list[str]] = defaultdict(list)
    for chart, path in CHARTS.items():
        for template in _templates(path):
            for name in DEFINE.findall(template.read_text()):
                found[name].append(chart)
    return found


def test_no_helper_is_defined_in_two_charts() -> None:
    defines = _defines()
    assert len(defines) > 20
    twice = {name: charts for name, charts in defines.items() if len(charts) > 1}
    assert not twice, f"defined more than once (move it to {LIBRARY}): {twice}"


def test_each_chart_defines_only_its_own_helpers() -> None:
    """A chart's helpers carry its name; the standard ones are the library's alone."""
    for name, charts in _defines().items():
        for chart in charts:
            assert name.startswith(f"{chart}."), f"{chart} defines {name!r}"


def test_the_standard_helpers_are_the_librarys() -> None:
    defines = _defines()
    for helper in ("name", "fullname", "chart", "labels", "selectorLabels"):
        assert defines[f"{LIBRARY}.{helper}"] == [LIBRARY]
    for helper in ("serviceAccountName", "image", "monitoring", "nameOf", "apiKeySecret"):
        assert defines[f"{LIBRARY}.{helper}"] == [LIBRARY]
    standard = {"name", "fullname", "chart", "labels", "selectorLabels", "serviceAccountName",
                "image", "monitoring", "peerName", "subchartName"}  # fmt: skip
    for name, charts in defines.items():
        if charts != [LIBRARY]:
            assert name.split(".", 1)[1] not in standard, f"{charts}: {name}"


def test_every_chart_depends_on_the_library() -> None:
    lib = yaml.safe_load((LIB / "Chart.yaml").read_text())
    assert lib["type"] == "library" and lib["name"] == LIBRARY
    for chart, path in CHARTS.items():
        if chart == LIBRARY:
            continue
        deps = {
            d["name"]: d for d in yaml.safe_load((path / "Chart.yaml").read_text())["dependencies"]
        }
        assert LIBRARY in deps, f"{chart}: no {LIBRARY} dependency"
        assert deps[LIBRARY]["version"] == lib["version"], chart
        if chart != "porto":
            # One library directory, resolved without a chart repository.
            assert deps[LIBRARY]["repository"] == f"file://../{LIBRARY}", chart
            assert not (path / "charts").exists(), f"{chart}: a vendored copy under charts/"


def test_the_library_knows_every_component() -> None:
    text = (LIB / "templates" / "_names.tpl").read_text()
    table = text.split('define "porto-lib.components" -}}', 1)[1].split("{{- end }}", 1)[0]
    assert set(yaml.safe_load(table)) == set(SUBCHARTS)


def test_no_chart_builds_an_object_name_outside_the_library() -> None:
    """Names of objects come from the library (porto-lib.nameOf, .suffixed, .apiKeySecret, ...):
    outside it, the release name is only ever a label value or text, never part of a name built
    with printf, and no string spells a component's name to be filled in (`%s-inference`)."""
    for chart, path in CHARTS.items():
        if chart == LIBRARY:
            continue
        for template in _templates(path):
            where = template.relative_to(CHART)
            for action in ACTION.findall(template.read_text()):
                if re.search(r"Release\.Name\b", action):
                    assert re.fullmatch(r"\{\{-?\s*\$?\w*\.Release\.Name\s*-?\}\}", action), (
                        f"{where}: builds a name from the release outside {LIBRARY}: {action}"
                    )
                for literal in STRING.findall(action):
                    assert not re.search(rf"%[sv]-({COMPONENTS})\b", literal), (
                        f"{where}: spells a component's name outside {LIBRARY}: {action}"
                    )
