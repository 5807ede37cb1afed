"""The prediction log export's CronJob (inference.logExport): off by default; when on, the
API's image runs `porto-inference log-export --all-closed` nightly after midnight UTC, with
environment that parses as the production settings the export reads, its Secrets from
secretKeyRefs, and a pod no API selector picks up."""

from __future__ import annotations

import base64
from typing import Any

import click
import pytest
import typer
from charts.chartlib import (
    SCENARIOS,
    by_kind,
    env_of,
    helm,
    labels_match,
    named,
    render,
    template_args,
)
from charts.envcontract import inference_env
from porto_inference.cli import app
from porto_inference.settings import Settings

NAME = "porto-inference-log-export"


def _cronjobs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in by_kind(docs, "CronJob") if d["metadata"]["name"] == NAME]


def _pod(cron: dict[str, Any]) -> dict[str, Any]:
    template: dict[str, Any] = cron["spec"]["jobTemplate"]["spec"]["template"]
    return template


@pytest.mark.parametrize("scenario", sorted(set(SCENARIOS) - {"cronjob"}))
def test_off_unless_asked(scenario: str) -> None:
    assert _cronjobs(render(scenario)) == []


def test_runs_nightly_after_the_utc_day_closes_without_overlap() -> None:
    cron = named(render("cronjob"), "CronJob", NAME)
    spec = cron["spec"]
    assert spec["schedule"] == "30 1 * * *" and spec["timeZone"] == "Etc/UTC"
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] >= 1 and job["activeDeadlineSeconds"] > 0
    pod = _pod(cron)["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert (
        container["image"]
        == named(render("cronjob"), "Deployment", "porto-inference")["spec"]["template"]["spec"][
            "containers"
        ][0]["image"]
    )
    # The arguments parse with the program's own command line.
    command = typer.main.get_command(app)
    name, *options = container["args"]
    sub = command.get_command(click.Context(command), name)  # type: ignore[attr-defined]
    assert sub is not None, name
    parsed = sub.make_context(name, options).params
    assert parsed["all_closed"] is True and parsed["day"] is None and parsed["to"] is None


def test_the_schedule_is_a_value() -> None:
    docs = render("cronjob", "inference.logExport.schedule=0 4 * * *")
    assert named(docs, "CronJob", NAME)["spec"]["schedule"] == "0 4 * * *"


def test_no_api_selector_picks_up_the_export_pod() -> None:
    """Its pod is not the API's: the Service must not route to it, nor the PDB or the
    NetworkPolicy count it."""
    docs = render("cronjob")
    labels = _pod(named(docs, "CronJob", NAME))["metadata"]["labels"]
    for service in by_kind(docs, "Service"):
        assert not labels_match(service["spec"].get("selector", {}), labels), service
    for pdb in by_kind(docs, "PodDisruptionBudget"):
        assert not labels_match(pdb["spec"]["selector"]["matchLabels"], labels)
    for policy in by_kind(docs, "NetworkPolicy"):
        assert not labels_match(policy["spec"]["podSelector"]["matchLabels"], labels)
    assert labels["app.kubernetes.io/component"] == "log-export"


def _environment(docs: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    env = {}
    secrets = {s["metadata"]["name"]: s for s in by_kind(docs, "Secret")}
    for name, entry in env_of(container, docs).items():
        if "value" in entry:
            env[name] = str(entry["value"])
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            env[name] = base64.b64decode(secrets[ref["name"]]["data"][ref["key"]]).decode()
    return env


@pytest.mark.parametrize(
    ("sets", "uri"),
    [
        ((), "s3://porto"),
        (("inference.config.log_export_uri=s3://lake/porto",), "s3://lake/porto"),
        (("global.objectStore.prefix=models",), "s3://porto/models"),
    ],
)
def test_env_parses_as_the_production_settings_the_export_reads(
    sets: tuple[str, ...], uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    for var in list(os.environ):
        if var.startswith("PORTO_") or var == "DATABASE_URL":
            monkeypatch.delenv(var)
    docs = render("cronjob", *sets)
    (container,) = _pod(named(docs, "CronJob", NAME))["spec"]["containers"]
    env = _environment(docs, container)
    assert set(env) <= inference_env(), set(env) - inference_env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.environment == "production"
    assert settings.resolved_export_uri == uri
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value().startswith("postgresql://")
    assert settings.s3_options().endpoint_url == "http://porto-minio:9000"
    assert settings.log_retention_require_export is True  # the scenario's
    for secret in ("PORTO_INFERENCE_DATABASE_URL", "PORTO_INFERENCE_S3_SECRET_KEY"):
        assert "valueFrom" in env_of(container, docs)[secret]


def test_refused_without_a_prediction_log() -> None:
    args = template_args(
        "cronjob", "inference.config.prediction_log=false", "inference.logExport.enabled=true"
    )
    out = helm(*args, check=False)
    assert out.returncode != 0
    assert "inference.logExport.enabled needs inference.config.prediction_log=true" in out.stderr
