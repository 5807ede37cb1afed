"""``porto-train cluster run | follow | list`` end to end against a real kube-apiserver with the
porto chart installed by helm: the Job it creates, what it prints where (the run's log lines and
its own result on stdout, progress on stderr), exit codes (0 success, 1 failed run or cluster
refusal as ``error: <message>``, 2 usage), and a real process through ``python -m``."""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness.kube import KubeControlPlane
from harness.kube_helm import new_release_namespace
from harness.kube_kubelet import FakeKubelet, RunningPods
from harness.kube_standins import ControllerStandIns
from harness.ports import LOOPBACK, free_port, wait_until
from harness.timing import DEADLINE
from kubernetes import client as k8s
from porto_training.cli import app
from typer.testing import CliRunner, Result

TEMPLATE = "porto-training-job-template"
RELEASE_JOB = "porto-training-r1"
MANUAL = "porto-training-manual-"
#: Fast polling; a follow that should end gives up after a minute instead of hanging.
POLL = ["--poll", "0.1", "--timeout", f"{DEADLINE:.0f}"]


def _core(api: k8s.ApiClient) -> Any:
    return k8s.CoreV1Api(api)


def _batch(api: k8s.ApiClient) -> Any:
    return k8s.BatchV1Api(api)


def _jobs(api: k8s.ApiClient, namespace: str) -> list[str]:
    return sorted(j.metadata.name for j in _batch(api).list_namespaced_job(namespace).items)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def api(kube_cluster: KubeControlPlane) -> Iterator[k8s.ApiClient]:
    with kube_cluster.api_client() as client:
        yield client


@pytest.fixture
def release_ns(kube_cluster: KubeControlPlane) -> str:
    """A namespace of its own with `helm install porto charts/porto` done."""
    return new_release_namespace(kube_cluster, "cli")


def cluster(
    runner: CliRunner, kube_cluster: KubeControlPlane, namespace: str, *args: str
) -> Result:
    """``porto-train cluster <args>`` with the admin kubeconfig in ``namespace``."""
    kubeconfig = ["--kubeconfig", str(kube_cluster.kubeconfig), "-n", namespace]
    return runner.invoke(app, ["cluster", *args, *kubeconfig])


def _created(result: Result, namespace: str) -> str:
    """The Job name from the ``job/<name> created in namespace <ns>`` line."""
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"job/{MANUAL}"), result.output
    assert first.endswith(f" created in namespace {namespace}")
    return first.split()[0].removeprefix("job/")


@pytest.fixture
def kubelet(kube_cluster: KubeControlPlane, api: k8s.ApiClient) -> Iterator[FakeKubelet]:
    """A stand-in kubelet (harness.kube_kubelet), so a followed run has logs."""
    with FakeKubelet(kube_cluster, api) as fake:
        yield fake


# -- run --------------------------------------------------------------------------------------

TRAINING_LOG = "loading 500 SYNTHETIC rows\nroc_auc 0.63\npublished porto v1 (champion)\n"


def test_run_creates_the_job_and_follows_it_to_success(
    runner: CliRunner,
    kube_cluster: KubeControlPlane,
    api: k8s.ApiClient,
    release_ns: str,
    kubelet: FakeKubelet,
) -> None:
    with (
        RunningPods(kubelet, api, release_ns, TRAINING_LOG, prefix=MANUAL) as pods,
        ControllerStandIns(api, release_ns, hold=pods.hold) as standins,
    ):
        result = cluster(
            runner, kube_cluster, release_ns, "run", "--rows", "500", "--set", "seed=3", *POLL
        )
    assert result.exit_code == 0, result.output
    name = _created(result, release_ns)
    assert standins.completed == [name]
    assert pods.errors == []
    # stdout: what was created, then the run's own log lines, each once.
    assert result.stdout.splitlines()[1:] == TRAINING_LOG.splitlines()
    # stderr: progress and the result.
    progress = result.stderr.splitlines()
    assert progress[0] == f"job/{name}: pending (waiting for a pod)"
    assert progress[-2].startswith(f"job/{name}: succeeded (")
    assert progress[-1].startswith(f"job/{name} succeeded after ")

    job = _batch(api).read_namespaced_job(name, release_ns)
    (container,) = [c for c in job.spec.template.spec.containers if c.name == "training"]
    assert container.args[-4:] == ["--rows", "500", "--set", "seed=3"]
    assert container.args.count("--rows") == 1
    assert container.image == "porto-training:0.1.0"
    assert job.metadata.labels["porto.dev/trigger"] == "cli"
    annotations = job.metadata.annotations
    assert annotations["porto.dev/requested-by"] == f"{getpass.getuser()}@{socket.gethostname()}"
    assert annotations["porto.dev/overrides"] == "seed=3"


def test_run_of_a_failing_job_exits_1(
    runner: CliRunner, kube_cluster: KubeControlPlane, api: k8s.ApiClient, release_ns: str
) -> None:
    with ControllerStandIns(api, release_ns, fail=lambda n: n.startswith(MANUAL)) as standins:
        result = cluster(runner, kube_cluster, release_ns, "run", "--promote", *POLL)
    assert result.exit_code == 1, result.output
    name = _created(result, release_ns)
    assert standins.failed == [name]
    assert result.stderr.splitlines()[-1] == (
        f"error: job/{name} failed: set by the porto test harness (BackoffLimitExceeded)"
    )
    job = _batch(api).read_namespaced_job(name, release_ns)
    assert "--promote" in job.spec.template.spec.containers[0].args


def test_run_without_follow_and_follow_later(
    runner: CliRunner, kube_cluster: KubeControlPlane, api: k8s.ApiClient, release_ns: str
) -> None:
    result = cluster(runner, kube_cluster, release_ns, "run", "--no-follow")
    assert result.exit_code == 0, result.output
    name = _created(result, release_ns)
    assert result.stdout.splitlines() == [f"job/{name} created in namespace {release_ns}"]

    held = threading.Event()
    held.set()
    with ControllerStandIns(api, release_ns, hold=lambda _n: held.is_set()):
        result = cluster(
            runner, kube_cluster, release_ns, "follow", name, "--timeout", "0.3", "--poll", "0.1"
        )
        assert result.exit_code == 1, result.output
        assert result.stderr.splitlines()[-1] == (
            f"error: Job '{name}' is still pending after 0.3s; it keeps running (follow it "
            f"again with `porto-train cluster follow {name}`)"
        )
        held.clear()
        result = cluster(runner, kube_cluster, release_ns, "follow", name, *POLL)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1].startswith(f"job/{name} succeeded after ")

    result = cluster(runner, kube_cluster, release_ns, "follow", "no-such-job", *POLL)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: Job 'no-such-job' no longer exists in namespace '{release_ns}' (deleted, or "
        "removed by its ttlSecondsAfterFinished)"
    )


def test_dry_run_prints_the_job_and_creates_nothing(
    runner: CliRunner, kube_cluster: KubeControlPlane, api: k8s.ApiClient, release_ns: str
) -> None:
    args = ["run", "--dry-run", "--data", "s3://porto-data/train.csv", "--set", "seed=1"]
    result = cluster(runner, kube_cluster, release_ns, *args)
    assert result.exit_code == 0, result.output
    job = yaml.safe_load(result.stdout)
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    name = job["metadata"]["name"]
    assert name.startswith(MANUAL)
    assert "status" not in job and "managedFields" not in job["metadata"]
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[-4:] == ["--data", "s3://porto-data/train.csv", "--set", "seed=1"]
    assert result.stderr.strip() == (
        f"dry run: job/{name} would be created in namespace {release_ns} (nothing was created)"
    )
    assert _jobs(api, release_ns) == [RELEASE_JOB]


# -- list -------------------------------------------------------------------------------------


def test_list_shows_the_runs(
    runner: CliRunner, kube_cluster: KubeControlPlane, release_ns: str
) -> None:
    result = cluster(runner, kube_cluster, release_ns, "run", "--no-follow")
    name = _created(result, release_ns)

    result = cluster(runner, kube_cluster, release_ns, "list")
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["NAME", "TRIGGER", "STATE", "CREATED", "REQUESTED-BY"]
    by_name = {row.split()[0]: row.split() for row in rows}
    assert set(by_name) == {name, RELEASE_JOB}
    requested_by = f"{getpass.getuser()}@{socket.gethostname()}"
    assert by_name[name][1:3] == ["cli", "pending"]
    assert by_name[name][4] == requested_by
    assert by_name[RELEASE_JOB][1:3] == ["release", "succeeded"]
    assert by_name[RELEASE_JOB][4] == "-"

    result = cluster(runner, kube_cluster, release_ns, "list", "--json")
    assert result.exit_code == 0, result.output
    listed = {run["name"]: run for run in json.loads(result.stdout)}
    assert listed[name]["trigger"] == "cli"
    assert listed[name]["state"] == "pending"
    assert listed[name]["requested_by"] == requested_by
    assert listed[RELEASE_JOB]["state"] == "succeeded"


def test_list_of_an_empty_namespace(runner: CliRunner, kube_cluster: KubeControlPlane) -> None:
    namespace = kube_cluster.new_namespace("empty")
    result = cluster(runner, kube_cluster, namespace, "list")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr.strip() == f"no training runs in namespace {namespace}"
    result = cluster(runner, kube_cluster, namespace, "list", "--json")
    assert json.loads(result.stdout) == []


# -- errors -----------------------------------------------------------------------------------


def test_missing_template(
    runner: CliRunner, kube_cluster: KubeControlPlane, release_ns: str
) -> None:
    bare = kube_cluster.new_namespace("bare")
    result = cluster(runner, kube_cluster, bare, "run")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(
        f"error: no training Job template: ConfigMap '{TEMPLATE}' does not exist in namespace "
        f"'{bare}'. Install the porto chart there"
    )
    assert "Traceback" not in result.output
    # Another release's name, or a template named outright, in the namespace that has porto's.
    result = cluster(runner, kube_cluster, release_ns, "run", "--release", "other")
    assert result.exit_code == 1
    assert "ConfigMap 'other-training-job-template' does not exist" in result.stderr
    result = cluster(runner, kube_cluster, release_ns, "run", "--template", TEMPLATE, "--dry-run")
    assert result.exit_code == 0, result.output


def test_rbac_refusal(
    runner: CliRunner, kube_cluster: KubeControlPlane, api: k8s.ApiClient, release_ns: str
) -> None:
    nobody = ["--kubeconfig", str(kube_cluster.nobody_kubeconfig(release_ns))]
    for args in (["run"], ["list"], ["follow", RELEASE_JOB]):
        result = runner.invoke(app, ["cluster", *args, *nobody])
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("error: cannot "), result.stderr
        assert f"not allowed by RBAC in namespace '{release_ns}'" in result.stderr
        assert 'User "porto-nobody" cannot' in result.stderr
        assert "Traceback" not in result.output
    assert _jobs(api, release_ns) == [RELEASE_JOB]


def test_quota_refusal(
    runner: CliRunner, kube_cluster: KubeControlPlane, api: k8s.ApiClient, release_ns: str
) -> None:
    hard = {"count/jobs.batch": "0"}
    core = _core(api)
    core.create_namespaced_resource_quota(
        release_ns, {"metadata": {"name": "no-jobs"}, "spec": {"hard": hard}}
    )
    core.patch_namespaced_resource_quota_status(  # no quota controller: its status, by hand
        "no-jobs", release_ns, {"status": {"hard": hard, "used": {"count/jobs.batch": "0"}}}
    )

    def enforced() -> bool:  # quota admission sees quotas through an informer: a moment later
        result = cluster(runner, kube_cluster, release_ns, "run", "--dry-run")
        return result.exit_code == 1 and "exceeded quota" in result.stderr

    wait_until(enforced, DEADLINE, "quota admission", interval=0.1)
    result = cluster(runner, kube_cluster, release_ns, "run")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: cannot create the training Job: a ResourceQuota in namespace "
        f"'{release_ns}' refuses it: jobs.batch \"{MANUAL}"
    )
    assert "exceeded quota: no-jobs, requested: count/jobs.batch=1" in result.stderr
    assert _jobs(api, release_ns) == [RELEASE_JOB]


def test_unreachable_or_missing_configuration(
    runner: CliRunner, kube_cluster: KubeControlPlane, tmp_path: Path
) -> None:
    config = yaml.safe_load(kube_cluster.kubeconfig.read_text())
    server = f"https://{LOOPBACK}:{free_port()}"  # nothing listens there
    config["clusters"][0]["cluster"]["server"] = server
    dead = tmp_path / "dead.yaml"
    dead.write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["cluster", "run", "--kubeconfig", str(dead)])
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: cannot read the training Job template ConfigMap '{TEMPLATE}': the Kubernetes "
        f"API at {server} is unreachable: "
    )
    assert "Connection refused" in result.stderr

    missing = tmp_path / "absent.yaml"
    result = runner.invoke(app, ["cluster", "list", "--kubeconfig", str(missing)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: no Kubernetes configuration: {missing} is not a file")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "novalue"], "expected key=value (a porto-train train --set override)"),
        (["--set", "=1"], "got '=1'"),
        (["--rows", "500", "--data", "s3://b/k"], "give either --rows (SYNTHETIC data) or --data"),
        (["--data", "train.csv"], "expected an s3:// URI, got 'train.csv'"),
        (["--rows", "50"], "should be greater than or equal to 100"),
        (["--release", "a", "--template", "b"], "give either --release or --template, not both"),
    ],
)
def test_usage_errors_exit_2(runner: CliRunner, args: list[str], message: str) -> None:
    # No server needed: nothing is contacted (this kubeconfig does not exist).
    result = runner.invoke(app, ["cluster", "run", *args, "--kubeconfig", "/nonexistent"])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.replace("│", " ").split())


# -- a real process ---------------------------------------------------------------------------


def test_in_a_real_process(
    kube_cluster: KubeControlPlane, api: k8s.ApiClient, release_ns: str
) -> None:
    argv = [sys.executable, "-m", "porto_training.cli", "cluster", "run", "--rows", "500"]
    argv += ["-n", release_ns, *POLL]
    env = {**os.environ, "KUBECONFIG": str(kube_cluster.kubeconfig)}
    with ControllerStandIns(api, release_ns) as standins:
        out = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=2 * DEADLINE, check=False
        )
    assert out.returncode == 0, out.stderr
    (line,) = out.stdout.splitlines()
    name = line.split()[0].removeprefix("job/")
    assert line == f"job/{name} created in namespace {release_ns}"
    assert standins.completed == [name]
    assert f"job/{name}: succeeded (" in out.stderr
    assert out.stderr.splitlines()[-1].startswith(f"job/{name} succeeded after ")
