"""The chart sets exactly the environment the programs read (derived from their code, see
envcontract.py), the values parse as the programs' own settings, and rendered arguments parse
with the programs' own command lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from charts.chartlib import CHART, SCENARIOS, by_kind, containers, env_of, pod_templates, render
from charts.envcontract import (
    LAUNCHER_COMMAND,
    LAUNCHER_SOURCES,
    environ_reads,
    inference_env,
    inference_fields,
    load_script,
    train_command,
    training_env,
    ui_env,
    ui_fields,
)
from porto_inference.settings import Settings
from porto_training.config import load_config
from porto_ui.settings import UISettings

ALL = sorted(SCENARIOS)
HELM_TEST = CHART / "files" / "helm_test.py"
WAIT_FOR_STORE = CHART / "charts" / "training" / "files" / "wait_for_store.py"


def _containers(scenario: str, name: str) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    docs = render(scenario)
    return [
        (c, docs) for pod in pod_templates(docs) for c in containers(pod.spec) if c["name"] == name
    ]


def _set_names(container: dict[str, Any], docs: list[dict[str, Any]]) -> set[str]:
    return set(env_of(container, docs))


@pytest.mark.parametrize("scenario", ALL)
def test_inference_env_is_read_by_the_service(scenario: str) -> None:
    for container, docs in _containers(scenario, "inference"):
        unused = _set_names(container, docs) - inference_env()
        assert not unused, f"set by the chart, read by no setting: {sorted(unused)}"


@pytest.mark.parametrize(("scenario", "optional"), [("default", {"api_key"}), ("external", set())])
def test_every_inference_setting_is_set_by_the_chart(scenario: str, optional: set[str]) -> None:
    """Every Settings field gets a value from the chart: defaults suited to a cluster come from
    values.yaml, not from the code's local-mode defaults. (The default scenario has no API key;
    the external one sets every optional variable.)"""
    ((container, docs),) = _containers(scenario, "inference")
    names = _set_names(container, docs)
    unset = [f for f, accepted in inference_fields().items() if not accepted & names]
    assert sorted(unset) == sorted(optional), (
        "settings the chart does not set (add them to charts/porto/charts/inference/values.yaml "
        f"config, or wire them in the Deployment): {sorted(set(unset) - optional)}"
    )


@pytest.mark.parametrize("scenario", ALL)
def test_inference_env_parses_as_production_settings(
    scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    for var in list(os.environ):
        if var.startswith("PORTO_") or var == "DATABASE_URL":
            monkeypatch.delenv(var)
    for container, docs in _containers(scenario, "inference"):
        for name, entry in env_of(container, docs).items():
            if "value" in entry:
                value = str(entry["value"])
            elif name.endswith("DATABASE_URL"):
                value = "postgresql://porto:from-a-secret@db:5432/porto"
            else:
                value = "value-from-a-secret"
            monkeypatch.setenv(name, value)
        settings = Settings()
        assert settings.environment == "production"
        assert settings.host == "0.0.0.0"
        assert settings.resolved_store_uri.startswith("s3://")
        assert settings.metrics_dir is not None
        assert settings.workers >= 1


@pytest.mark.parametrize("scenario", ALL)
def test_training_env_is_read_by_the_job(scenario: str) -> None:
    for container, docs in _containers(scenario, "training"):
        unused = _set_names(container, docs) - training_env()
        assert not unused, f"set by the chart, read by porto-train: nobody: {sorted(unused)}"


def test_only_the_cluster_launcher_is_left_out_of_the_training_contract() -> None:
    """The exclusion names code that exists and reads the cluster's variables, and nothing the
    Job's ``train`` command uses."""
    import porto
    import porto_training
    from porto_training.cli import app

    roots = [Path(next(iter(m.__path__))) for m in (porto, porto_training)]
    excluded = [
        path
        for root in roots
        for path in root.rglob("*.py")
        if any(part in path.as_posix() for part in LAUNCHER_SOURCES)
    ]
    assert len(excluded) >= 4, excluded  # porto/cluster/*.py and cluster_cli.py
    assert {"KUBECONFIG", "KUBERNETES_SERVICE_HOST"} <= environ_reads(excluded)
    assert LAUNCHER_COMMAND in {g.name for g in app.registered_groups}
    assert not (training_env() & {"KUBECONFIG", "KUBERNETES_SERVICE_HOST"})


def test_every_training_variable_is_set_by_the_chart() -> None:
    for container, docs in _containers("default", "training"):
        missing = training_env() - _set_names(container, docs)
        assert not missing, f"porto-train reads {sorted(missing)}, the chart does not set them"


@pytest.mark.parametrize("scenario", ALL)
def test_training_arguments_parse_and_overrides_are_valid_config(scenario: str) -> None:
    for container, _ in _containers(scenario, "training"):
        args = container["args"]
        assert args[0] == "train"
        ctx = train_command().make_context("train", list(args[1:]))
        overrides = list(ctx.params["set_"] or [])
        load_config(None, overrides)  # ConfigError on an unknown key or a bad value


def test_training_data_source_is_synthetic_by_default_and_s3_when_given() -> None:
    ((default, _),) = [x for x in _containers("default", "training")][:1]
    assert "--rows" in default["args"] and "--data" not in default["args"]
    (external, _) = _containers("external", "training")[0]
    i = external["args"].index("--data")
    assert external["args"][i + 1] == "s3://acme-data/porto/train.parquet"


@pytest.mark.parametrize("scenario", ALL)
def test_helm_test_pod_env_and_arguments(scenario: str) -> None:
    script = load_script(HELM_TEST)
    reads = environ_reads([HELM_TEST])
    for container, docs in _containers(scenario, "test-api"):
        assert _set_names(container, docs) <= reads
        args = script.parser().parse_args(container["args"])
        assert args.base_url.startswith("http://porto-inference:")
    if scenario == "external":
        ((container, docs),) = _containers(scenario, "test-api")
        assert "PORTO_API_KEY" in _set_names(container, docs)


@pytest.mark.parametrize("scenario", ALL)
def test_wait_for_store_arguments(scenario: str) -> None:
    for container, _ in _containers(scenario, "wait-for-store"):
        url, seconds = container["args"]
        assert url.startswith("http") and float(seconds) > 0
        assert container["command"] == ["python", "/etc/porto/wait_for_store.py"]
    docs = render(scenario)
    for cm in by_kind(docs, "ConfigMap"):
        if "wait_for_store.py" in cm.get("data", {}):
            assert cm["data"]["wait_for_store.py"].strip() == WAIT_FOR_STORE.read_text().strip()


#: Settings whose chart value deliberately differs from the code's (local-mode) default.
CLUSTER_OVERRIDES = {
    "environment": "production",  # refuses placeholder secrets and the embedded database
    "workers": 2,  # the code counts the node's CPUs, not the pod's limit
}


def test_chart_settings_follow_the_code_defaults_unless_overridden_on_purpose() -> None:
    """values.yaml repeats each setting's default so users see it; it must not drift from the
    code (a changed default in settings.py shows up here, to be copied or made an override)."""
    import yaml
    from pydantic_core import PydanticUndefined

    config = yaml.safe_load((CHART / "charts" / "inference" / "values.yaml").read_text())["config"]
    drift = {}
    for name, value in config.items():
        info = Settings.model_fields[name]
        default = info.default if info.default is not PydanticUndefined else None
        expected = CLUSTER_OVERRIDES.get(name, default)
        if value != expected:
            drift[name] = (value, expected)
    assert not drift, f"values.yaml vs settings.py (chart, expected): {drift}"
    assert set(CLUSTER_OVERRIDES) <= set(config)


# --- the UI --------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ALL)
def test_ui_env_is_read_by_the_ui(scenario: str) -> None:
    for container, docs in _containers(scenario, "ui"):
        unused = _set_names(container, docs) - ui_env()
        assert not unused, f"set by the chart, read by no UI setting: {sorted(unused)}"


@pytest.mark.parametrize(
    ("scenario", "optional"), [("default", {"api_key", "kubeconfig"}), ("external", {"kubeconfig"})]
)
def test_every_ui_setting_is_set_by_the_chart(scenario: str, optional: set[str]) -> None:
    """Every UISettings field gets its value from the chart (the API key when global.apiKey
    names a Secret): the code's defaults are local-mode ones (127.0.0.1, an API on localhost).
    A kubeconfig is for running the UI outside a cluster: in a pod the launcher uses the
    ServiceAccount."""
    ((container, docs),) = _containers(scenario, "ui")
    names = _set_names(container, docs)
    unset = [f for f, accepted in ui_fields().items() if not accepted & names]
    assert sorted(unset) == sorted(optional), (
        "UI settings the chart does not set (add them to charts/porto/charts/ui/values.yaml "
        f"config, or wire them in the Deployment): {sorted(set(unset) - optional)}"
    )


@pytest.mark.parametrize("scenario", ALL)
def test_ui_env_parses_as_production_settings(
    scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    for var in list(os.environ):
        if var.startswith("PORTO_UI_"):
            monkeypatch.delenv(var)
    for container, docs in _containers(scenario, "ui"):
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for name, entry in env_of(container, docs).items():
            monkeypatch.setenv(name, str(entry["value"]) if "value" in entry else "k3y-from-secret")
        settings = UISettings()
        assert settings.environment == "production"
        assert (settings.host, settings.metrics_host) == ("0.0.0.0", "0.0.0.0")
        assert (settings.port, settings.metrics_port) == (ports["http"], ports["metrics"])
        assert settings.api_url == "http://porto-inference:8000"


def test_ui_settings_follow_the_code_defaults_unless_overridden_on_purpose() -> None:
    """charts/ui's config repeats each UI setting's default; a changed default in
    porto_ui/settings.py shows up here, to be copied or made an override."""
    import yaml

    values = yaml.safe_load((CHART / "charts" / "ui" / "values.yaml").read_text())
    drift = {}
    for name, value in values["config"].items():
        expected = "production" if name == "environment" else UISettings.model_fields[name].default
        if value != expected:
            drift[name] = (value, expected)
    assert not drift, f"charts/ui values.yaml vs porto_ui/settings.py (chart, expected): {drift}"
    # The ports the Deployment wires are the code's defaults too (the README and NOTES say so).
    fields = UISettings.model_fields
    assert values["containerPort"] == fields["port"].default == values["service"]["port"]
    assert values["metricsContainerPort"] == fields["metrics_port"].default
