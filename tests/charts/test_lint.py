"""`helm lint --strict` of the umbrella chart in every scenario, and of each subchart alone."""

from __future__ import annotations

import pytest
from charts.chartlib import CHART, KUBE_VERSION, SCENARIOS, SUBCHARTS, helm, render, render_text


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_lint_strict(scenario: str) -> None:
    values = SCENARIOS[scenario]
    args = ["lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION]
    if values is not None:
        args += ["-f", str(values)]
    out = helm(*args, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[WARNING]" not in out.stdout and "[ERROR]" not in out.stdout, out.stdout


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_template_renders(scenario: str) -> None:
    assert "kind:" in render_text(scenario)


@pytest.mark.parametrize("subchart", SUBCHARTS)
def test_subchart_lints_alone(subchart: str) -> None:
    out = helm(
        "lint",
        "--strict",
        str(CHART / "charts" / subchart),
        "--kube-version",
        KUBE_VERSION,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["minio.enabled=false"], "global.objectStore.existingSecret"),
        (["postgres.enabled=false"], "global.database.existingSecret"),
        (["inference.image.tag=latest"], "/image/tag"),
        (["training.image.tag=latest"], "/image/tag"),
        (["training.data.uri=/data/train.csv"], "s3://"),
        (["inference.config.no_such_setting=1"], "no_such_setting"),
        (["inference.replicas=2"], "replicas"),
        (["ui.image.tag=latest"], "/image/tag"),
        (["ui.config.no_such_setting=1"], "no_such_setting"),
        (["ui.api.url=porto-inference:8000"], "/api/url"),
        (["inference.enabled=false"], "ui.api.url"),
        (["inference.service.port=8080"], "set ui.api.port=8080"),
        (["inference.fullnameOverride=api"], "ui.api.url"),
    ],
)
def test_broken_values_are_refused_with_the_fix(values: list[str], message: str) -> None:
    args = ["template", "porto", str(CHART), "--kube-version", KUBE_VERSION]
    for expression in values:
        args += ["--set", expression]
    out = helm(*args, check=False)
    assert out.returncode != 0, f"{values} rendered"
    assert message in out.stderr, out.stderr


@pytest.mark.parametrize(
    "sets",
    [
        # The UI then talks to an API elsewhere.
        ["inference.enabled=false", "ui.api.url=https://api.example.com"],
        ["ui.enabled=false"],
        ["training.enabled=false"],
        ["postgres.enabled=false", "global.database.existingSecret=db"],
        ["minio.enabled=false", "global.objectStore.existingSecret=s3"],
        ["dashboards.enabled=false"],
    ],
    ids=lambda sets: sets[0].split(".")[0] + "-off",
)
def test_each_subchart_can_be_switched_off(sets: list[str]) -> None:
    subchart = sets[0].split(".")[0]
    docs = render("default", *sets)
    assert docs
    labels = {d["metadata"].get("labels", {}).get("helm.sh/chart", "") for d in docs}
    assert not [x for x in labels if x.startswith(f"{subchart}-")], f"{subchart} still renders"
