"""porto.cluster without an API server: template names (checked against the chart as helm renders
it), argument rewriting, request validation, error translation, kubeconfig loading, Job states."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import urllib3
import yaml
from harness.tools import REPO_ROOT, MissingToolError, tool_path
from kubernetes import client as k8s
from porto.cluster import (
    ClusterConnection,
    ClusterError,
    ClusterUnreachableError,
    LaunchRequest,
    PermissionDeniedError,
    QuotaExceededError,
    TrainingLauncher,
    connect,
    template_name_for,
)
from porto.cluster.errors import api_message, translate
from porto.cluster.training_jobs import (
    OVERRIDES_ANNOTATION,
    REQUESTED_BY_ANNOTATION,
    TRIGGER_LABEL,
    _job_state,
    _network_reason,
    _pod_problems,
    _without_options,
)

CHART = REPO_ROOT / "charts" / "porto"
TEMPLATE_FILE = "charts/training/templates/job-template.yaml"


# -- template names ---------------------------------------------------------------------------


def _helm_template_name(release: str) -> str:
    """The name `helm template` gives the Job template ConfigMap of ``release``."""
    try:
        helm = tool_path("helm")
    except MissingToolError as exc:
        pytest.fail(str(exc), pytrace=False)
    argv = [str(helm), "template", release, str(CHART), "-f", str(CHART / "ci/default-values.yaml")]
    out = subprocess.run(
        [*argv, "--show-only", TEMPLATE_FILE],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    name: str = yaml.safe_load(out.stdout)["metadata"]["name"]
    return name


@pytest.mark.parametrize(
    "release",
    [
        "porto",
        "a" * 53,  # the longest release name helm accepts
        "b" * 41,  # `<release>-training` is exactly 50 characters: nothing cut
        "c" * 42,  # one character cut: the `g` of training
        "d" * 49,  # the cut ends on the dash before `training`: trimmed
        "e" * 48 + "--f",  # the cut ends on `--`: helm's trimSuffix trims one dash only
    ],
)
def test_template_name_is_the_charts(release: str) -> None:
    name = template_name_for(release)
    assert len(name) <= 63
    assert name.endswith("-job-template")
    assert name == _helm_template_name(release)


def test_template_name_examples() -> None:
    assert template_name_for("porto") == "porto-training-job-template"
    assert template_name_for("d" * 49) == "d" * 49 + "-job-template"
    assert template_name_for("e" * 48 + "--f") == "e" * 48 + "--job-template"
    assert len(template_name_for("a" * 53)) == 63


# -- argument rewriting -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["train", "--rows", "100000", "--promote"], ["train", "--promote"]),
        (["train", "--data", "s3://b/k.csv", "--set", "a=1"], ["train", "--set", "a=1"]),
        (["train", "--rows=5", "--data=s3://b/k"], ["train"]),
        (["train", "--rows", "5", "--rows", "6"], ["train"]),
        (
            ["train", "--rowsx", "5", "--set", "data=--rows"],
            ["train", "--rowsx", "5", "--set", "data=--rows"],
        ),
        (["train", "--rows"], ["train"]),
        ([], []),
    ],
)
def test_without_options(args: list[str], expected: list[str]) -> None:
    assert _without_options(args, ("--rows", "--data")) == expected


def _offline_launcher(namespace: str = "team") -> TrainingLauncher:
    """A launcher whose client never connects (build() with a manifest makes no request)."""
    return TrainingLauncher(
        ClusterConnection(k8s.ApiClient(), namespace, "https://127.0.0.1:1"), "t-job-template"
    )


def _manifest(args: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"generateName": "porto-training-manual-", "labels": {"a": "b"}},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "sidecar", "image": "s", "args": ["--rows", "1"]},
                        {"name": "training", "image": "t", "args": args, "env": [{"name": "X"}]},
                    ]
                }
            }
        },
    }


def test_build_changes_args_labels_annotations_only() -> None:
    launcher = _offline_launcher()
    template = _manifest(["train", "--rows", "100000", "--set", "x=1"])
    request = LaunchRequest(
        data_uri="s3://bucket/train.csv",
        promote=True,
        overrides={"seed": "7", "model.type": "sklearn"},
        trigger="ui",
        requested_by="alice",
    )
    built = launcher.build(request, template)

    expected = copy.deepcopy(template)
    expected["spec"]["template"]["spec"]["containers"][1]["args"] = [
        *["train", "--set", "x=1", "--data", "s3://bucket/train.csv", "--promote"],
        *["--set", "seed=7", "--set", "model.type=sklearn"],
    ]
    expected["metadata"]["namespace"] = "team"
    expected["metadata"]["labels"][TRIGGER_LABEL] = "ui"
    expected["metadata"]["annotations"] = {
        REQUESTED_BY_ANNOTATION: "alice",
        OVERRIDES_ANNOTATION: "seed=7,model.type=sklearn",
    }
    assert built == expected
    assert template == _manifest(["train", "--rows", "100000", "--set", "x=1"]), "input changed"


def test_build_keeps_the_templates_data_source_and_promote_once() -> None:
    launcher = _offline_launcher()
    built = launcher.build(LaunchRequest(promote=True), _manifest(["train", "--promote"]))
    container = built["spec"]["template"]["spec"]["containers"][1]
    assert container["args"] == ["train", "--promote"]
    assert built["metadata"]["labels"] == {"a": "b", TRIGGER_LABEL: "cli"}
    assert built["metadata"]["annotations"] == {}

    rows = launcher.build(LaunchRequest(rows=500), _manifest(["train", "--data", "s3://x/y"]))
    assert rows["spec"]["template"]["spec"]["containers"][1]["args"] == ["train", "--rows", "500"]


def test_build_names_a_template_without_name() -> None:
    manifest = _manifest(["train"])
    del manifest["metadata"]["generateName"]
    built = _offline_launcher().build(LaunchRequest(), manifest)
    assert built["metadata"]["generateName"] == "porto-training-manual-"


# -- launch requests --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rows": 500, "data_uri": "s3://b/k"}, "either rows (synthetic data) or a data URI"),
        ({"rows": 99}, "rows must be at least 100, got 99"),
        ({"data_uri": "/data/train.csv"}, "expected an s3:// URI, got '/data/train.csv'"),
        ({"data_uri": "https://example.org/x.csv"}, "expected an s3:// URI"),
        ({"overrides": {"": "1"}}, "bad override key ''"),
        ({"overrides": {"a=b": "1"}}, "bad override key 'a=b'"),
        ({"overrides": {" a": "1"}}, "bad override key ' a'"),
        ({"trigger": ""}, "bad trigger ''"),
        ({"trigger": "the ui"}, "bad trigger 'the ui'"),
        ({"trigger": "x" * 64}, "at most 63 characters"),
    ],
)
def test_launch_request_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ClusterError) as caught:
        LaunchRequest(**kwargs)
    assert message in caught.value.message
    assert caught.value.status_code == 400


def test_launch_request_defaults() -> None:
    request = LaunchRequest(rows=100, overrides={"a.b": "x=y"}, trigger="ui")
    assert (request.rows, request.data_uri, request.promote) == (100, None, False)
    assert request.overrides == {"a.b": "x=y"}  # the value may hold '='
    assert LaunchRequest().trigger == "cli"


# -- error translation ------------------------------------------------------------------------


def _status(message: str, code: int, reason: str) -> str:
    return json.dumps(
        {"kind": "Status", "status": "Failure", "message": message, "reason": reason, "code": code}
    )


RBAC_MESSAGE = (
    'jobs.batch is forbidden: User "bob" cannot create resource "jobs" in API group "batch" '
    'in the namespace "quota-team"'
)
QUOTA_MESSAGE = (
    'jobs.batch "porto-training-manual-x" is forbidden: exceeded quota: nojobs, requested: '
    "count/jobs.batch=1, used: count/jobs.batch=0, limited: count/jobs.batch=0"
)


def test_translate_401() -> None:
    error = translate(401, _status("Unauthorized", 401, "Unauthorized"), doing="x", namespace="n")
    assert type(error) is PermissionDeniedError
    assert "refused the credentials (401 Unauthorized)" in error.message
    assert error.status_code == 403


def test_translate_403_rbac_even_in_a_namespace_named_quota() -> None:
    body = _status(RBAC_MESSAGE, 403, "Forbidden")
    error = translate(403, body, doing="create the training Job", namespace="quota-team")
    assert type(error) is PermissionDeniedError
    assert error.message.startswith(
        "cannot create the training Job: not allowed by RBAC in namespace 'quota-team': "
        + RBAC_MESSAGE
    )
    assert "create/get/list on jobs.batch" in error.message


@pytest.mark.parametrize(
    "message",
    [
        QUOTA_MESSAGE,
        'jobs.batch "j" is forbidden: status unknown for quota: nojobs, resource: count/jobs.batch',
        'pods "p" is forbidden: failed quota: compute: must specify limits.cpu for: training',
        "insufficient quota to match these scopes: [{PriorityClass In [high]}]",
    ],
)
def test_translate_403_quota(message: str) -> None:
    error = translate(403, _status(message, 403, "Forbidden"), doing="create it", namespace="n")
    assert type(error) is QuotaExceededError
    assert (
        error.message == f"cannot create it: a ResourceQuota in namespace 'n' refuses it: {message}"
    )
    assert error.status_code == 403


def test_translate_other_statuses() -> None:
    terminating = "unable to create new content in namespace n because it is being terminated"
    error = translate(403, _status(terminating, 403, "Forbidden"), doing="do", namespace="n")
    assert type(error) is ClusterError
    assert (error.message, error.status_code) == (f"cannot do: {terminating}", 403)

    error = translate(
        404, _status('jobs.batch "j" not found', 404, "NotFound"), doing="do", namespace="n"
    )
    assert type(error) is ClusterError
    assert (error.message, error.status_code) == (
        'cannot do: not found: jobs.batch "j" not found',
        404,
    )

    invalid = 'Job.batch "j" is invalid: spec.template.spec.containers: Required value'
    error = translate(422, _status(invalid, 422, "Invalid"), doing="do", namespace="n")
    assert error.message == f"cannot do: the API server rejected it as invalid: {invalid}"
    assert error.status_code == 422

    error = translate(500, b"etcdserver: request timed out", doing="do", namespace="n")
    assert type(error) is ClusterError
    assert (
        error.message == "cannot do: the Kubernetes API answered 500: etcdserver: request timed out"
    )
    assert error.status_code == 502

    error = translate(503, None, doing="do", namespace="n")
    assert error.message == "cannot do: the Kubernetes API answered 503"


def test_api_message() -> None:
    assert api_message(_status("m", 400, "BadRequest").encode()) == "m"
    assert api_message('{"kind": "Status"}') == "{'kind': 'Status'}"
    assert api_message("  plain text \n") == "plain text"
    assert api_message(None) == ""


def test_network_reason_keeps_the_cause() -> None:
    cause = urllib3.exceptions.NewConnectionError(
        urllib3.connection.HTTPConnection("127.0.0.1", 1),
        "Failed to establish a new connection: [Errno 111] Connection refused",
    )
    pool = urllib3.HTTPSConnectionPool("127.0.0.1", 1)
    wrapped = urllib3.exceptions.MaxRetryError(pool, "/api/v1/x", cause)
    assert _network_reason(wrapped) == "[Errno 111] Connection refused"


# -- kubeconfig -------------------------------------------------------------------------------


def _kubeconfig(
    path: Path, *, namespace: str | None = None, server: str = "https://127.0.0.1:1"
) -> Path:
    context: dict[str, str] = {"cluster": "c", "user": "u"}
    if namespace:
        context["namespace"] = namespace
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [
            {"name": "main", "context": context},
            {"name": "other", "context": {"cluster": "c", "user": "u", "namespace": "ns-other"}},
        ],
        "current-context": "main",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_connect_namespace_from_context_or_argument(tmp_path: Path) -> None:
    with connect(_kubeconfig(tmp_path / "k", namespace="ns-main")) as conn:
        assert (conn.namespace, conn.server) == ("ns-main", "https://127.0.0.1:1")
        retries = conn.api.configuration.retries
        assert isinstance(retries, urllib3.Retry)
        assert (retries.total, retries.read, retries.status) == (2, 0, 0)
    with connect(tmp_path / "k", context="other") as conn:
        assert conn.namespace == "ns-other"
    with connect(tmp_path / "k", context="other", namespace="given") as conn:
        assert conn.namespace == "given"
    with connect(_kubeconfig(tmp_path / "k2")) as conn:
        assert conn.namespace == "default"


def test_connect_uses_kubeconfig_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _kubeconfig(tmp_path / "k", namespace="from-env")
    monkeypatch.setenv("KUBECONFIG", f"{path}:{tmp_path / 'second'}")
    with connect() as conn:
        assert conn.namespace == "from-env"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{{{: not yaml", "unusable kubeconfig"),
        ("", "file is empty"),
        ("apiVersion: v1\nkind: Config\n", "Expected key current-context"),
        (None, "is not a file (set KUBECONFIG, pass --kubeconfig, or run inside the cluster)"),
    ],
)
def test_connect_bad_kubeconfig(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "kubeconfig"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ClusterUnreachableError) as caught:
        connect(path)
    assert message in caught.value.message
    assert str(path) in caught.value.message
    assert caught.value.status_code == 503


def test_connect_unknown_context(tmp_path: Path) -> None:
    with pytest.raises(ClusterUnreachableError) as caught:
        connect(_kubeconfig(tmp_path / "k"), context="nope")
    assert "unusable kubeconfig" in caught.value.message
    assert "nope" in caught.value.message


def test_connect_does_not_rewrite_the_kubeconfig(tmp_path: Path) -> None:
    path = _kubeconfig(tmp_path / "k")
    before = path.read_bytes()
    connect(path).close()
    assert path.read_bytes() == before


# -- Job and pod states -----------------------------------------------------------------------


def _job(conditions: list[tuple[str, str]], active: int = 0) -> k8s.V1Job:
    return k8s.V1Job(
        status=k8s.V1JobStatus(
            active=active,
            conditions=[
                k8s.V1JobCondition(type=t, status=s, reason=f"R{t}", message=None)
                for t, s in conditions
            ],
        )
    )


def test_job_state() -> None:
    assert _job_state(_job([])) == ("pending", "waiting for a pod")
    assert _job_state(k8s.V1Job()) == ("pending", "waiting for a pod")
    assert _job_state(_job([], active=1)) == ("running", "1 pod(s) active")
    assert _job_state(_job([("SuccessCriteriaMet", "True"), ("Complete", "True")])) == (
        "succeeded",
        "RComplete",
    )
    assert _job_state(_job([("FailureTarget", "True"), ("Failed", "True")])) == (
        "failed",
        "RFailed",
    )
    assert _job_state(_job([("Failed", "False")], active=1))[0] == "running"
    assert _job_state(_job([("Suspended", "True")])) == ("pending", "suspended")


def _waiting(reason: str, message: str | None = None) -> k8s.V1ContainerStatus:
    return k8s.V1ContainerStatus(
        name="training",
        image="i",
        image_id="",
        ready=False,
        restart_count=0,
        state=k8s.V1ContainerState(
            waiting=k8s.V1ContainerStateWaiting(reason=reason, message=message)
        ),
    )


def test_pod_problems() -> None:
    waiting = _waiting("ImagePullBackOff", "no such image")
    starting = _waiting("ContainerCreating")
    pod = k8s.V1Pod(
        status=k8s.V1PodStatus(
            container_statuses=[waiting, starting],
            conditions=[
                k8s.V1PodCondition(
                    type="PodScheduled",
                    status="False",
                    reason="Unschedulable",
                    message="0/3 nodes are available: 3 Insufficient memory.",
                )
            ],
        )
    )
    assert _pod_problems(pod) == [
        "ImagePullBackOff: no such image",
        "Unschedulable: 0/3 nodes are available: 3 Insufficient memory.",
    ]
    assert _pod_problems(k8s.V1Pod()) == []
