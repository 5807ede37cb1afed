"""Batch scoring (training.scoring): off by default; when on, the training image runs
`porto-score` as a Job per install/upgrade or, with a schedule, a CronJob, with arguments its own
command line parses to the values, the object store's keys from the same Secret as the training
runs, an environment porto-score reads every variable of, and labels no training selector or
alert picks up."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import porto
import porto_training
import pytest
import typer
from charts.chartlib import (
    REPO,
    SCENARIOS,
    by_kind,
    env_of,
    helm,
    labels_match,
    named,
    pod_templates,
    render,
    template_args,
)
from charts.envcontract import environ_reads
from porto_training.score_cli import app

JOB = "porto-score-r1"
CRON = "porto-score"


def _scoring(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        d
        for d in docs
        if d["kind"] in ("Job", "CronJob") and d["metadata"]["name"].startswith("porto-score")
    ]


def _pod(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    template: dict[str, Any] = spec["template"]
    return template


def _container(doc: dict[str, Any]) -> dict[str, Any]:
    (container,) = _pod(doc)["spec"]["containers"]
    assert container["name"] == "scoring"
    return container


def _parsed(container: dict[str, Any]) -> dict[str, Any]:
    """The container's arguments as porto-score's own command line parses them."""
    assert container["command"] == ["porto-score"]
    command = typer.main.get_command(app)
    params: dict[str, Any] = command.make_context("porto-score", list(container["args"])).params
    return params


def _score_env() -> set[str]:
    """Every variable porto-score reads: its options' envvars, then direct environment reads
    in porto_training and porto."""
    names: set[str] = set()
    for param in typer.main.get_command(app).params:
        envvar = getattr(param, "envvar", None)
        names |= {envvar} if isinstance(envvar, str) else set(envvar or ())
    roots = [Path(next(iter(m.__path__))) for m in (porto, porto_training)]
    return names | environ_reads([p for root in roots for p in root.rglob("*.py")])


@pytest.mark.parametrize("scenario", sorted(set(SCENARIOS) - {"scoring"}))
def test_off_unless_asked(scenario: str) -> None:
    assert _scoring(render(scenario)) == []


def test_a_job_per_revision_runs_porto_score_with_the_values() -> None:
    docs = render("scoring")
    job = named(docs, "Job", JOB)
    spec = job["spec"]
    assert spec["backoffLimit"] >= 1 and spec["activeDeadlineSeconds"] > 0
    assert spec["ttlSecondsAfterFinished"] > 0
    assert "helm.sh/hook" not in job["metadata"].get("annotations", {})
    container = _container(job)
    params = _parsed(container)
    assert params["source"] == "s3://porto/datasets/score.parquet"
    assert params["output"] == "s3://porto/predictions/score"
    assert params["model_version"] == "champion"
    assert params["output_format"] == "csv"
    assert params["explain"] is True and params["overwrite"] is False
    assert params["chunk_rows"] == 50_000 and params["threads"] == 2
    # The training image, as the training runs use it.
    training = named(docs, "Job", "porto-training-r1")
    assert container["image"] == _pod(training)["spec"]["containers"][0]["image"]
    upgraded = render("scoring", upgrade=True)
    assert [d["metadata"]["name"] for d in _scoring(upgraded)] == [JOB]
    second = render("scoring", "training.scoring.modelVersion=20261125-140512-3f2a")
    assert _parsed(_container(named(second, "Job", JOB)))["model_version"] == (
        "20261125-140512-3f2a"
    )


def test_porto_score_is_a_console_script_of_the_training_image() -> None:
    """The chart replaces the image's ENTRYPOINT (porto-train) with porto-score, which the
    image's `uv sync --package porto-training` installs beside it."""
    container = _container(named(render("scoring"), "Job", JOB))
    project = tomllib.loads((REPO / "jobs/training/pyproject.toml").read_text())["project"]
    assert project["scripts"][container["command"][0]] == "porto_training.score_cli:main"
    dockerfile = (REPO / "jobs/training/Dockerfile").read_text()
    assert "--package porto-training" in dockerfile


def test_defaults_score_the_champion_into_the_registry_as_parquet() -> None:
    docs = render("default", "training.scoring.enabled=true", "training.scoring.input=s3://d/x.csv")
    params = _parsed(_container(named(docs, "Job", JOB)))
    assert params["output"] is None  # predictions/<model>/<input name> in the store
    assert params["output_format"] == "parquet" and params["explain"] is False
    assert params["model_version"] == "champion"


def test_a_schedule_makes_it_a_cronjob_without_overlap() -> None:
    docs = render(
        "scoring", "training.scoring.schedule=0 2 * * *", "training.scoring.overwrite=true"
    )
    assert [d["kind"] for d in _scoring(docs)] == ["CronJob"]
    cron = named(docs, "CronJob", CRON)
    assert cron["spec"]["schedule"] == "0 2 * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert _parsed(_container(cron))["overwrite"] is True


def test_environment_is_read_by_porto_score_and_keys_come_from_the_secret() -> None:
    docs = render("scoring")
    job = named(docs, "Job", JOB)
    env = env_of(_container(job), docs)
    unused = set(env) - _score_env()
    assert not unused, f"set by the chart, read by porto-score: nobody: {sorted(unused)}"
    assert env["PORTO_STORE"]["value"] == "s3://porto"
    training = env_of(_pod(named(docs, "Job", "porto-training-r1"))["spec"]["containers"][0], docs)
    for key in ("PORTO_S3_ACCESS_KEY", "PORTO_S3_SECRET_KEY"):
        assert "value" not in env[key]
        assert env[key]["valueFrom"] == training[key]["valueFrom"]
    for key in ("PORTO_S3_ENDPOINT_URL", "PORTO_MODEL_NAME", "PORTO_HOME"):
        assert env[key] == training[key]


def test_external_store_keys_come_from_the_users_secret() -> None:
    docs = render("external", "training.scoring.enabled=true", "training.scoring.input=s3://d/x")
    env = env_of(_container(named(docs, "Job", JOB)), docs)
    ref = env["PORTO_S3_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]
    training = env_of(_pod(named(docs, "Job", "porto-training-r1"))["spec"]["containers"][0], docs)
    assert ref == training["PORTO_S3_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]


def test_the_pod_is_locked_down_like_the_training_runs() -> None:
    docs = render("scoring")
    pod = _pod(named(docs, "Job", JOB))
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    container = _container(named(docs, "Job", JOB))
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["limits"]["memory"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/tmp", "/var/lib/porto"} <= mounts
    assert [c["name"] for c in spec["initContainers"]] == ["wait-for-store"]


def test_no_training_selector_or_alert_picks_up_a_scoring_run() -> None:
    docs = render("scoring", "training.scoring.schedule=0 2 * * *")
    both = [*_scoring(docs), *_scoring(render("scoring"))]
    for doc in both:
        # The failed-training alert selects Jobs by name: .*porto.*train.*
        assert not re.fullmatch(r".*porto.*train.*", doc["metadata"]["name"])
        labels = _pod(doc)["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == "batch-scoring"
        for monitor in by_kind(docs, "PodMonitor"):
            assert not labels_match(monitor["spec"]["selector"]["matchLabels"], labels)
    scoring_pods = [p for p in pod_templates(docs) if p.where.startswith("CronJob/porto-score")]
    assert len(scoring_pods) == 1


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["training.scoring.enabled=true"], "training.scoring.input is required"),
        (
            [
                "training.scoring.enabled=true",
                "training.scoring.input=s3://d/x",
                "training.scoring.format=xlsx",
            ],
            'training.scoring.format must be parquet or csv, not "xlsx"',
        ),
    ],
)
def test_bad_values_fail_the_render(sets: list[str], message: str) -> None:
    out = helm(*template_args("default", *sets), check=False)
    assert out.returncode != 0 and message in out.stderr, out.stderr
