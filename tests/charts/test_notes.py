"""NOTES.txt, rendered with helm the way `helm install` shows it (`helm template` skips it, so
it is rendered through `tpl` in a scratch copy of the chart)."""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from charts.chartlib import CHART, NAMESPACE, SCENARIOS, helm

PROBE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: notes-probe
data:
  notes: {{ tpl (.Files.Get "files/NOTES.txt") . | quote }}
"""


@functools.cache
def notes(scenario: str, *sets: str, upgrade: bool = False) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        chart = Path(tmp) / "porto"
        shutil.copytree(CHART, chart, ignore=shutil.ignore_patterns("hack", "__pycache__"))
        shutil.copy(chart / "templates" / "NOTES.txt", chart / "files" / "NOTES.txt")
        (chart / "templates" / "zz-notes-probe.yaml").write_text(PROBE)
        args = [
            "template",
            "porto",
            str(chart),
            "--namespace",
            NAMESPACE,
            "--show-only",
            "templates/zz-notes-probe.yaml",
        ]
        args += ["-f", str(SCENARIOS[scenario])]
        if upgrade:
            args.append("--is-upgrade")
        for expression in sets:
            args += ["--set", expression]
        text: str = yaml.safe_load(helm(*args).stdout)["data"]["notes"]
        return text


def test_notes_give_port_forwards_grafana_and_the_first_training_run() -> None:
    text = notes("default")
    assert "kubectl -n porto port-forward svc/porto-inference 8000:8000" in text
    assert "kubectl -n porto port-forward svc/porto-ui 8501:8501" in text
    assert "The UI on http://localhost:8501" in text
    assert "kubectl -n monitoring port-forward svc/kube-prometheus-stack-grafana 3000:80" in text
    assert "http://grafana.localhost" in text
    assert "get secret grafana-admin -o jsonpath='{.data.admin-password}'" in text
    assert "admin/admin" in text and "never" in text  # says it is not admin/admin
    assert "job/porto-training-r1" in text
    assert "configmap porto-training-job-template" in text
    assert "porto-train cluster run -n porto --release porto    # or: make train-cluster" in text
    assert "Train a new model" not in text  # the UI launcher is off by default
    assert "helm test -n porto porto" in text


def test_notes_point_at_the_ui_launcher_when_it_is_on() -> None:
    assert 'Training page → "Train a new model"' in notes("launcher")


def test_notes_follow_the_values() -> None:
    assert "https://api.porto.example.com/" in notes("ingress")
    assert "https://porto.example.com/" in notes("ingress")
    assert "Through the Gateway traefik/traefik-gateway: http://ui.porto.localhost/" in notes(
        "kind"
    )
    assert "Through the ingress" not in notes("kind")  # the kind values use the HTTPRoutes
    assert (
        "Through the Gateway gateways/public-gateway (listener https): "
        "http://api.porto.example.com/, http://api.internal.example.com/"
    ) in notes("httproute")
    assert "svc/porto-ui" not in notes("subcharts-off")  # UI off
    assert "get secret porto-api-key" in notes("external")
    assert "job/" not in notes("subcharts-off")  # training off
    assert "job/" not in notes("cronjob")  # no Job on install, only the schedule


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_notes_render_in_every_scenario(scenario: str) -> None:
    assert "porto 0.1.0 is installed" in notes(scenario)


def test_notes_say_how_to_read_the_api_key_and_call_with_it() -> None:
    generated = notes("default")
    assert "the chart generated it into the Secret porto-inference-api-key" in generated
    assert (
        "KEY=$(kubectl -n porto get secret porto-inference-api-key "
        "-o jsonpath='{.data.api-key}' | base64 -d)"
    ) in generated
    assert 'curl -s -X POST -H "X-API-Key: $KEY" localhost:8000/models/reload' in generated
    assert "POST /models/<version>/promote need the API key" in generated
    own = notes("default", "global.apiKey.existingSecret=mine", "global.apiKey.key=token")
    assert "it is in your Secret mine" in own
    assert "get secret mine -o jsonpath='{.data.token}'" in own
    assert "porto-inference-api-key" not in own


def test_notes_name_the_images_and_where_they_come_from() -> None:
    local = notes("default")
    for image in ("porto-inference:0.1.0", "porto-ui:0.1.0", "porto-training:0.1.0"):
        assert f"\n     {image}\n" in local
    assert "loaded into the nodes (images.local=true)" in local
    assert "make images load IMAGE_TAG=<tag>" in local
    assert "ErrImagePull" in local and "describe pod" in local
    pushed = notes("external")
    assert "registry.example.com/porto/porto-inference:1.2.3" in pushed
    assert "pulled from their registry: push them there first" in pushed
    assert "porto-ui" not in notes("subcharts-off").split("ErrImagePull")[0]  # the UI is off


def test_notes_say_when_an_upgrade_starts_no_training_run() -> None:
    assert "logs -f job/porto-training-r1" in notes("default", upgrade=True)
    skipped = notes("default", "training.job.onUpgrade=false", upgrade=True)
    assert "job/porto-training" not in skipped
    assert "No training run on this upgrade (training.job.onUpgrade=false)" in skipped
    assert "logs -f job/porto-training-r1" in notes("default", "training.job.onUpgrade=false")
