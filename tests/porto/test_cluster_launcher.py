"""porto.cluster against a real kube-apiserver: the template of a real `helm install` of
charts/porto, the Jobs the launcher creates as the API server stores them, following a run
(status, pod problems, warning events and log lines from a stand-in kubelet), and every error a
user can meet (missing or broken template, RBAC, quota, an unreachable or untrusted server)."""

from __future__ import annotations

import base64
import copy
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness.kube import KubeControlPlane
from harness.kube_helm import new_release_namespace
from harness.kube_kubelet import FakeKubelet
from harness.kube_standins import ControllerStandIns
from harness.ports import LOOPBACK, free_port, wait_until
from harness.timing import DEADLINE
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from porto.cluster import (
    ClusterError,
    ClusterUnreachableError,
    JobEvent,
    JobFailedError,
    LaunchRequest,
    PermissionDeniedError,
    QuotaExceededError,
    TemplateInvalidError,
    TemplateMissingError,
    TrainingLauncher,
    connect,
    template_name_for,
)
from porto.cluster.training_jobs import (
    OVERRIDES_ANNOTATION,
    REQUESTED_BY_ANNOTATION,
    TRIGGER_LABEL,
)

pytestmark = pytest.mark.integration

RELEASE = "porto"
TEMPLATE = template_name_for(RELEASE)
#: The Job `helm install` runs as a post-install hook (the release's first training run).
RELEASE_JOB = "porto-training-r1"
MANUAL = "porto-training-manual-"
POLL = 0.1
#: A follow that should end gives up after this long, so a broken one fails instead of hanging.
GUARD = DEADLINE


# -- fixtures ---------------------------------------------------------------------------------


def _core(api: k8s.ApiClient) -> Any:
    """CoreV1Api, untyped: the client's models are Optional everywhere and its methods take
    plain dicts as bodies."""
    return k8s.CoreV1Api(api)


def _batch(api: k8s.ApiClient) -> Any:
    """BatchV1Api, untyped (see ``_core``)."""
    return k8s.BatchV1Api(api)


def _plain(api: k8s.ApiClient, obj: Any) -> dict[str, Any]:
    """A client model as the API's JSON (camelCase keys)."""
    out: dict[str, Any] = api.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
    return out


@pytest.fixture
def api(kube_cluster: KubeControlPlane) -> Iterator[k8s.ApiClient]:
    """An admin client, for setting up and for reading back what the launcher did."""
    with kube_cluster.api_client() as client:
        yield client


@pytest.fixture
def release_ns(kube_cluster: KubeControlPlane) -> str:
    """A namespace of its own with the porto chart installed (its defaults)."""
    return new_release_namespace(kube_cluster, "launch", release=RELEASE)


@pytest.fixture
def launcher(kube_cluster: KubeControlPlane, release_ns: str) -> Iterator[TrainingLauncher]:
    """A launcher with the admin kubeconfig in ``release_ns``."""
    with connect(kube_cluster.kubeconfig, namespace=release_ns) as connection:
        yield TrainingLauncher(connection, TEMPLATE)


def _stored_template(api: k8s.ApiClient, namespace: str) -> dict[str, Any]:
    config_map = _core(api).read_namespaced_config_map(TEMPLATE, namespace)
    manifest: dict[str, Any] = yaml.safe_load(config_map.data["job.yaml"])
    return manifest


def _jobs(api: k8s.ApiClient, namespace: str) -> list[str]:
    return sorted(j.metadata.name for j in _batch(api).list_namespaced_job(namespace).items)


def _training(manifest: dict[str, Any]) -> dict[str, Any]:
    containers = manifest["spec"]["template"]["spec"]["containers"]
    (container,) = [c for c in containers if c["name"] == "training"]
    return dict(container)


def _mismatches(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where ``actual`` (an object as the API server stored it, defaults added) does not hold
    ``expected`` (a manifest): every key and list item of ``expected`` must be there, equal."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected a mapping, got {actual!r}"]
        out = []
        for key, value in expected.items():
            if key not in actual:
                out.append(f"{path}.{key}: missing")
            else:
                out += _mismatches(value, actual[key], f"{path}.{key}")
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {expected!r}, got {actual!r}"]
        return [
            m for i, e in enumerate(expected) for m in _mismatches(e, actual[i], f"{path}[{i}]")
        ]
    if expected != actual and str(expected) != str(actual):
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    return []


def count_job_reads(launcher: TrainingLauncher) -> list[str]:
    """Record each Job read of ``launcher`` (one per round of ``follow``)."""
    reads: list[str] = []
    read = launcher.batch.read_namespaced_job

    def counted(name: str, *args: Any, **kwargs: Any) -> Any:
        reads.append(name)
        return read(name, *args, **kwargs)

    launcher.batch.read_namespaced_job = counted
    return reads


class Recorder:
    """Collects a follow's events; ``then`` reacts to them (the test's moves, in order)."""

    def __init__(self, then: Callable[[JobEvent], None] | None = None) -> None:
        self.events: list[JobEvent] = []
        self.then = then

    def __call__(self, event: JobEvent) -> None:
        self.events.append(event)
        if self.then is not None:
            self.then(event)

    def texts(self, kind: str) -> list[str]:
        return [e.text for e in self.events if e.kind == kind]


@pytest.fixture
def kubelet(kube_cluster: KubeControlPlane, api: k8s.ApiClient) -> Iterator[FakeKubelet]:
    """A stand-in kubelet (harness.kube_kubelet), so the API server has pod logs to serve."""
    with FakeKubelet(kube_cluster, api) as fake:
        yield fake


# -- template, build, launch ------------------------------------------------------------------


def test_template_is_the_one_helm_installed(
    launcher: TrainingLauncher, api: k8s.ApiClient, release_ns: str
) -> None:
    template = launcher.template()
    assert template == _stored_template(api, release_ns)
    assert (template["apiVersion"], template["kind"]) == ("batch/v1", "Job")
    assert template["metadata"]["generateName"] == MANUAL
    container = _training(template)
    assert container["image"] == "porto-training:0.1.0"
    assert container["args"][:3] == ["train", "--rows", "100000"]


def test_build_changes_only_arguments_labels_and_annotations(
    launcher: TrainingLauncher, api: k8s.ApiClient, release_ns: str
) -> None:
    template = _stored_template(api, release_ns)
    template_args = _training(template)["args"]
    assert "--rows" in template_args  # the chart's default data source: SYNTHETIC rows
    kept_args = [a for a in template_args if a not in ("--rows", "100000")]
    request = LaunchRequest(
        data_uri="s3://porto-data/train.csv.zip",
        promote=True,
        overrides={"seed": "7", "model.catboost.depth": "4"},
        requested_by="alice@laptop",
    )
    built = launcher.build(request)

    expected = copy.deepcopy(template)
    _training(expected)  # the one container that changes
    for container in expected["spec"]["template"]["spec"]["containers"]:
        if container["name"] == "training":
            container["args"] = [
                *kept_args,
                *["--data", "s3://porto-data/train.csv.zip", "--promote"],
                *["--set", "seed=7", "--set", "model.catboost.depth=4"],
            ]
    expected["metadata"]["labels"][TRIGGER_LABEL] = "cli"  # the chart's says "manual"
    expected["metadata"]["annotations"] = {
        REQUESTED_BY_ANNOTATION: "alice@laptop",
        OVERRIDES_ANNOTATION: "seed=7,model.catboost.depth=4",
    }
    assert built == expected

    rows = launcher.build(LaunchRequest(rows=2_000, trigger="ui"))
    assert _training(rows)["args"] == [*kept_args, "--rows", "2000"]
    assert rows["metadata"]["labels"][TRIGGER_LABEL] == "ui"
    assert rows["metadata"]["annotations"] == {}


def test_launch_creates_the_template_job_with_the_runs_changes(
    launcher: TrainingLauncher, api: k8s.ApiClient, release_ns: str
) -> None:
    request = LaunchRequest(rows=500, overrides={"seed": "3"}, requested_by="bob")
    expected = launcher.build(request)
    name = launcher.launch(request)

    assert name.startswith(MANUAL) and len(name) == len(MANUAL) + 5
    stored = _plain(api, _batch(api).read_namespaced_job(name, release_ns))
    assert _mismatches(expected, stored) == []
    container = _training(stored)
    assert container["args"][-4:] == ["--rows", "500", "--set", "seed=3"]
    assert container["args"].count("--rows") == 1
    spec = stored["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "porto-training"
    assert {v["name"] for v in spec["volumes"]} == {"tmp", "home", "scripts"}
    assert {e["name"] for e in container["env"]} >= {"PORTO_STORE", "PORTO_S3_ACCESS_KEY"}
    labels = stored["metadata"]["labels"]
    assert labels[TRIGGER_LABEL] == "cli"
    assert labels["app.kubernetes.io/component"] == "training"
    assert stored["metadata"]["annotations"][REQUESTED_BY_ANNOTATION] == "bob"
    assert _jobs(api, release_ns) == sorted([RELEASE_JOB, name])


def test_dry_run_creates_nothing(
    launcher: TrainingLauncher, api: k8s.ApiClient, release_ns: str
) -> None:
    job = launcher.create(LaunchRequest(rows=300), dry_run=True)
    name = job["metadata"]["name"]
    assert name.startswith(MANUAL)
    assert _training(job)["args"][-2:] == ["--rows", "300"]
    # Defaulted by the server, as it would store it.
    assert job["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirst"
    assert launcher.launch(LaunchRequest(), dry_run=True).startswith(MANUAL)
    assert _jobs(api, release_ns) == [RELEASE_JOB]
    with pytest.raises(ApiException) as caught:
        _batch(api).read_namespaced_job(name, release_ns)
    assert caught.value.status == 404


def test_runs_lists_the_namespaces_training_jobs(
    launcher: TrainingLauncher, api: k8s.ApiClient, release_ns: str
) -> None:
    first = launcher.launch(LaunchRequest(requested_by="alice"))
    second = launcher.launch(LaunchRequest(trigger="ui"))
    unrelated = {"metadata": {"name": "other"}, "spec": {"template": _pod_spec()}}
    _batch(api).create_namespaced_job(release_ns, unrelated)

    runs = {r.name: r for r in launcher.runs()}
    assert set(runs) == {RELEASE_JOB, first, second}
    assert (runs[RELEASE_JOB].trigger, runs[RELEASE_JOB].state) == ("release", "succeeded")
    assert (runs[first].trigger, runs[first].state, runs[first].requested_by) == (
        "cli",
        "pending",
        "alice",
    )
    assert (runs[second].trigger, runs[second].requested_by) == ("ui", "")
    assert all(r.created for r in runs.values())
    listed = [r.created for r in launcher.runs()]
    assert listed == sorted(listed, reverse=True)


def _pod_spec() -> dict[str, Any]:
    return {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}


# -- a run's pods and logs (the UI's view of a run) ------------------------------------------


def test_pod_logs_tail_of_a_running_pod_and_why_a_pod_waits(
    launcher: TrainingLauncher, release_ns: str, kubelet: FakeKubelet
) -> None:
    name = launcher.launch(LaunchRequest(rows=500))
    assert launcher.pod_logs(name) == []  # no pod yet
    log = "".join(f"line {i}\n" for i in range(10))
    running = kubelet.run_pod(release_ns, name, log)
    waiting = kubelet.run_pod(
        release_ns,
        name,
        "",
        status={
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": "training",
                    "image": "porto-training:0.1.0",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}},
                }
            ],
        },
    )
    by_pod = {p.pod: p for p in launcher.pod_logs(name, lines=3)}
    assert set(by_pod) == {running, waiting}
    assert (by_pod[running].phase, by_pod[running].text) == ("Running", "line 7\nline 8\nline 9\n")
    assert by_pod[waiting].phase == "Pending"
    assert by_pod[waiting].text == "no log yet: the pod is Pending (ImagePullBackOff: not found)"


# -- following --------------------------------------------------------------------------------


def test_follow_reports_status_and_log_lines_to_success(
    launcher: TrainingLauncher, api: k8s.ApiClient, release_ns: str, kubelet: FakeKubelet
) -> None:
    released = threading.Event()
    name = launcher.launch(LaunchRequest(rows=500))
    pod = kubelet.run_pod(release_ns, name, "loading 500 SYNTHETIC rows\nepoch 1 auc=0.61\nepo")
    key = (release_ns, pod, "training")

    def then(event: JobEvent) -> None:
        if event.kind == "log" and event.text == "epoch 1 auc=0.61":
            # The run writes the rest of its log, ends, and the Job controller sees it.
            kubelet.logs[key] += "ch 2 auc=0.64\npublished v1\n"
            kubelet.set_phase(release_ns, pod, "Succeeded")
            released.set()

    recorder = Recorder(then)
    with ControllerStandIns(api, release_ns, hold=lambda _n: not released.is_set()) as standins:
        outcome = launcher.follow(name, recorder, poll=POLL, timeout=GUARD)
    assert standins.completed == [name]
    assert outcome.succeeded
    assert outcome.name == name
    assert "CompletionsReached" in outcome.reason
    # Each complete line once, in order; the half-written one only when complete.
    assert recorder.texts("log") == [
        "loading 500 SYNTHETIC rows",
        "epoch 1 auc=0.61",
        "epoch 2 auc=0.64",
        "published v1",
    ]
    statuses = recorder.texts("status")
    assert statuses[0] == f"job/{name}: pending (waiting for a pod)"
    assert statuses[-1].startswith(f"job/{name}: succeeded (")
    assert recorder.texts("warning") == []


def test_follow_ends_with_a_failed_outcome(
    launcher: TrainingLauncher, api: k8s.ApiClient, release_ns: str
) -> None:
    name = launcher.launch(LaunchRequest())
    recorder = Recorder()
    with ControllerStandIns(api, release_ns, fail=lambda n: n == name) as standins:
        outcome = launcher.follow(name, recorder, poll=POLL, timeout=GUARD)
    assert standins.failed == [name]
    assert not outcome.succeeded
    assert "BackoffLimitExceeded" in outcome.reason
    assert recorder.texts("status")[-1].startswith(f"job/{name}: failed (")


def test_follow_times_out_while_the_job_runs_on(
    launcher: TrainingLauncher, api: k8s.ApiClient, release_ns: str
) -> None:
    name = launcher.launch(LaunchRequest())
    with (
        ControllerStandIns(api, release_ns, hold=lambda n: n == name),
        pytest.raises(ClusterError) as caught,
    ):
        launcher.follow(name, Recorder(), timeout=0.3, poll=POLL)
    assert type(caught.value) is ClusterError
    assert caught.value.status_code == 504
    assert caught.value.message == (
        f"Job '{name}' is still pending after 0.3s; it keeps running "
        f"(follow it again with `porto-train cluster follow {name}`)"
    )
    assert name in _jobs(api, release_ns)


def test_job_deleted_while_followed(
    launcher: TrainingLauncher, api: k8s.ApiClient, release_ns: str
) -> None:
    name = launcher.launch(LaunchRequest())

    def delete(event: JobEvent) -> None:
        if event.kind == "status":
            _batch(api).delete_namespaced_job(name, release_ns, propagation_policy="Background")

    with pytest.raises(JobFailedError) as caught:
        launcher.follow(name, Recorder(delete), poll=POLL, timeout=GUARD)
    assert caught.value.message == (
        f"Job '{name}' no longer exists in namespace '{release_ns}' "
        "(deleted, or removed by its ttlSecondsAfterFinished)"
    )


def test_follow_reports_pod_problems_and_warning_events_once(
    launcher: TrainingLauncher, api: k8s.ApiClient, release_ns: str, kubelet: FakeKubelet
) -> None:
    name = launcher.launch(LaunchRequest())
    waiting = {"waiting": {"reason": "ImagePullBackOff", "message": "pull access denied"}}
    container = {"name": "training", "image": "porto-training:0.1.0", "imageID": ""}
    status = {"ready": False, "restartCount": 0, "state": waiting}
    pod = kubelet.run_pod(
        release_ns, name, "", {"phase": "Pending", "containerStatuses": [{**container, **status}]}
    )
    job = _batch(api).read_namespaced_job(name, release_ns)
    quota = 'pods "x" is forbidden: exceeded quota: compute, requested: requests.cpu=1'
    core = _core(api)
    events: list[tuple[dict[str, Any], str, str]] = [
        ({"kind": "Job", "name": name, "uid": job.metadata.uid}, "FailedCreate", quota),
        ({"kind": "Pod", "name": "other"}, "BackOff", "someone else's: not reported"),
    ]
    for involved, reason, message in events:
        event = {
            "metadata": {"generateName": f"{involved['name']}."},
            "involvedObject": {**involved, "namespace": release_ns},
            "reason": reason,
            "message": message,
            "type": "Warning",
            "source": {"component": "job-controller"},
        }
        core.create_namespaced_event(release_ns, event)
    expected = [
        f"pod/{pod}: ImagePullBackOff: pull access denied",
        f"job/{name}: FailedCreate: {quota}",
    ]
    reads = count_job_reads(launcher)
    seen_at: list[int] = []

    def then(event: JobEvent) -> None:
        if not seen_at and set(expected) <= set(recorder.texts("warning")):
            seen_at.append(len(reads))

    recorder = Recorder(then)
    # The Job runs on for three more rounds after both warnings, which see them again.
    hold = lambda _n: not seen_at or len(reads) < seen_at[0] + 3  # noqa: E731
    with ControllerStandIns(api, release_ns, hold=hold):
        outcome = launcher.follow(name, recorder, poll=POLL, timeout=GUARD)
    assert outcome.succeeded
    assert len(reads) >= seen_at[0] + 3
    assert sorted(recorder.texts("warning")) == sorted(expected)
    assert recorder.texts("log") == []  # a Pending pod has no logs to read


# -- errors: template -------------------------------------------------------------------------


def test_missing_template(kube_cluster: KubeControlPlane) -> None:
    namespace = kube_cluster.new_namespace("bare")
    with connect(kube_cluster.kubeconfig, namespace=namespace) as connection:
        launcher = TrainingLauncher(connection, TEMPLATE)
        for attempt in (launcher.template, lambda: launcher.launch(LaunchRequest())):
            with pytest.raises(TemplateMissingError) as caught:
                attempt()
            assert caught.value.message.startswith(
                f"no training Job template: ConfigMap '{TEMPLATE}' does not exist in namespace "
                f"'{namespace}'. Install the porto chart there"
            )
            assert caught.value.status_code == 404


def test_template_of_another_release_name(kube_cluster: KubeControlPlane) -> None:
    namespace = new_release_namespace(
        kube_cluster, "named", "--set", "training.fullnameOverride=trainer"
    )
    with connect(kube_cluster.kubeconfig, namespace=namespace) as connection:
        with pytest.raises(TemplateMissingError):
            TrainingLauncher(connection, TEMPLATE).template()
        assert TrainingLauncher(connection, "trainer-job-template").template()["kind"] == "Job"


JOB_WITHOUT_TRAINING = """
apiVersion: batch/v1
kind: Job
metadata: {generateName: x-}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: trainer, image: porto-training:0.1.0}]
"""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"job.yaml": "kind: Job\n  bad: [indent"}, "job.yaml is not valid YAML: "),
        ({"job.yaml": "apiVersion: apps/v1\nkind: Deployment\n"}, "job.yaml is not a Job manifest"),
        ({"job.yaml": "- kind: Job\n"}, "job.yaml is not a Job manifest"),
        ({"job.yaml": "apiVersion: v1\nkind: Job\n"}, "job.yaml is not a batch/v1 Job"),
        ({"job.yaml": JOB_WITHOUT_TRAINING}, "the Job has no container named 'training'"),
        ({"other.yaml": JOB_WITHOUT_TRAINING}, "has no 'job.yaml' key"),
        ({}, "has no 'job.yaml' key"),
    ],
)
def test_invalid_template(
    kube_cluster: KubeControlPlane, api: k8s.ApiClient, data: dict[str, str], message: str
) -> None:
    namespace = kube_cluster.new_namespace("broken")
    _core(api).create_namespaced_config_map(
        namespace, {"metadata": {"name": TEMPLATE}, "data": data}
    )
    with connect(kube_cluster.kubeconfig, namespace=namespace) as connection:
        launcher = TrainingLauncher(connection, TEMPLATE)
        with pytest.raises(TemplateInvalidError) as caught:
            launcher.launch(LaunchRequest())
    assert caught.value.message.startswith(f"ConfigMap '{TEMPLATE}'")
    assert message in caught.value.message
    assert caught.value.status_code == 422
    assert _jobs(api, namespace) == []


# -- errors: RBAC and credentials -------------------------------------------------------------


def test_user_without_rbac(
    kube_cluster: KubeControlPlane, api: k8s.ApiClient, release_ns: str
) -> None:
    with connect(kube_cluster.nobody_kubeconfig(release_ns)) as connection:
        assert connection.namespace == release_ns
        launcher = TrainingLauncher(connection, TEMPLATE)
        with pytest.raises(PermissionDeniedError) as caught:
            launcher.launch(LaunchRequest())
        assert caught.value.message.startswith(
            f"cannot read the training Job template ConfigMap '{TEMPLATE}': not allowed by RBAC "
            f"in namespace '{release_ns}': configmaps \"{TEMPLATE}\" is forbidden: User "
            f'"porto-nobody" cannot get resource "configmaps" in API group "" in the namespace '
            f'"{release_ns}". Bind the user or ServiceAccount to a Role'
        )
        assert caught.value.status_code == 403
        with pytest.raises(PermissionDeniedError) as caught:
            launcher.runs()
        assert 'cannot list resource "jobs" in API group "batch"' in caught.value.message
        with pytest.raises(PermissionDeniedError) as caught:
            launcher.follow(RELEASE_JOB, Recorder(), poll=POLL, timeout=GUARD)
        assert f"cannot read Job '{RELEASE_JOB}': not allowed by RBAC" in caught.value.message
    assert _jobs(api, release_ns) == [RELEASE_JOB]


def _service_account_with_role(
    kube_cluster: KubeControlPlane,
    api: k8s.ApiClient,
    namespace: str,
    name: str,
    rules: list[dict[str, Any]],
) -> Path:
    """A ServiceAccount bound to a Role of ``rules``; its kubeconfig (a TokenRequest token)."""
    core = _core(api)
    rbac: Any = k8s.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    rbac.create_namespaced_role(namespace, {"metadata": {"name": name}, "rules": rules})
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    )
    token = kube_cluster.service_account_token(namespace, name)
    return kube_cluster.token_kubeconfig(token, f"{namespace}-{name}", namespace)


READ_TEMPLATE = {
    "apiGroups": [""],
    "resources": ["configmaps"],
    "verbs": ["get"],
    "resourceNames": [TEMPLATE],
}


def test_service_account_that_may_read_the_template_but_not_create_jobs(
    kube_cluster: KubeControlPlane, api: k8s.ApiClient, release_ns: str
) -> None:
    rules = [
        READ_TEMPLATE,
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list"]},
    ]
    kubeconfig = _service_account_with_role(kube_cluster, api, release_ns, "reader", rules)
    with connect(kubeconfig) as connection:
        launcher = TrainingLauncher(connection, TEMPLATE)
        assert launcher.template()["kind"] == "Job"
        assert RELEASE_JOB in [r.name for r in launcher.runs()]
        with pytest.raises(PermissionDeniedError) as caught:
            launcher.launch(LaunchRequest())
    message = caught.value.message
    assert message.startswith(
        f"cannot create the training Job: not allowed by RBAC in namespace '{release_ns}': "
        f'jobs.batch is forbidden: User "system:serviceaccount:{release_ns}:reader" cannot '
        f'create resource "jobs" in API group "batch" in the namespace "{release_ns}"'
    )
    assert "create/get/list on jobs.batch" in message
    assert _jobs(api, release_ns) == [RELEASE_JOB]


def test_the_documented_permissions_are_enough(
    kube_cluster: KubeControlPlane, api: k8s.ApiClient, release_ns: str, kubelet: FakeKubelet
) -> None:
    """The UI's Role (no events): launch and follow work, logs included, and no warning."""
    rules = [
        READ_TEMPLATE,
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    ]
    kubeconfig = _service_account_with_role(kube_cluster, api, release_ns, "launcher", rules)
    released = threading.Event()
    with connect(kubeconfig) as connection:
        launcher = TrainingLauncher(connection, TEMPLATE)
        name = launcher.launch(LaunchRequest(trigger="ui"))
        pod = kubelet.run_pod(release_ns, name, "training\n")

        def then(event: JobEvent) -> None:
            if event.kind == "log":
                kubelet.set_phase(release_ns, pod, "Succeeded")
                released.set()

        recorder = Recorder(then)
        with ControllerStandIns(api, release_ns, hold=lambda _n: not released.is_set()):
            outcome = launcher.follow(name, recorder, poll=POLL, timeout=GUARD)
    assert outcome.succeeded
    assert recorder.texts("log") == ["training"]
    assert recorder.texts("warning") == []


def test_follow_without_pod_permissions_warns_once(
    kube_cluster: KubeControlPlane,
    api: k8s.ApiClient,
    release_ns: str,
    launcher: TrainingLauncher,
) -> None:
    name = launcher.launch(LaunchRequest())
    rules = [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get"]}]
    kubeconfig = _service_account_with_role(kube_cluster, api, release_ns, "watcher", rules)
    with connect(kubeconfig) as connection:
        watcher = TrainingLauncher(connection, TEMPLATE)
        reads = count_job_reads(watcher)
        recorder = Recorder()
        with ControllerStandIns(api, release_ns, hold=lambda _n: len(reads) < 4):
            outcome = watcher.follow(name, recorder, poll=POLL, timeout=GUARD)
    assert outcome.succeeded
    assert len(reads) >= 4
    (warning,) = recorder.texts("warning")
    assert warning.startswith(
        f"not following pods and logs: cannot list the pods of Job '{name}': not allowed "
        f"by RBAC in namespace '{release_ns}'"
    )


def test_bad_token(kube_cluster: KubeControlPlane, release_ns: str) -> None:
    kubeconfig = kube_cluster.token_kubeconfig("not-a-token", "stranger", release_ns)
    with connect(kubeconfig) as connection, pytest.raises(PermissionDeniedError) as caught:
        TrainingLauncher(connection, TEMPLATE).launch(LaunchRequest())
    assert caught.value.message == (
        f"cannot read the training Job template ConfigMap '{TEMPLATE}': the Kubernetes API "
        "refused the credentials (401 Unauthorized); check the kubeconfig context or the "
        "ServiceAccount token"
    )


# -- errors: quota ----------------------------------------------------------------------------


def _quota_enforced(api: k8s.ApiClient, namespace: str) -> bool:
    """Whether the API server's quota admission already refuses a Job (its view of quotas
    follows the store through an informer: a new quota takes a moment to count)."""
    job = {"metadata": {"generateName": "probe-"}, "spec": {"template": _pod_spec()}}
    try:
        _batch(api).create_namespaced_job(namespace, job, dry_run="All")
    except ApiException as exc:
        return exc.status == 403 and "exceeded quota" in str(exc.body)
    return False


def test_quota_refuses_the_job(
    launcher: TrainingLauncher, api: k8s.ApiClient, release_ns: str
) -> None:
    core = _core(api)
    hard = {"count/jobs.batch": "0"}
    core.create_namespaced_resource_quota(
        release_ns, {"metadata": {"name": "no-jobs"}, "spec": {"hard": hard}}
    )
    # No quota controller runs: write the status it would write (nothing used yet). Admission
    # enforces what status.hard says.
    core.patch_namespaced_resource_quota_status(
        "no-jobs", release_ns, {"status": {"hard": hard, "used": {"count/jobs.batch": "0"}}}
    )
    wait_until(lambda: _quota_enforced(api, release_ns), DEADLINE, "quota admission", interval=0.1)
    with pytest.raises(QuotaExceededError) as caught:
        launcher.launch(LaunchRequest())
    message = caught.value.message
    assert message.startswith(
        f"cannot create the training Job: a ResourceQuota in namespace '{release_ns}' refuses "
        f'it: jobs.batch "{MANUAL}'
    )
    assert message.endswith(
        "is forbidden: exceeded quota: no-jobs, requested: count/jobs.batch=1, used: "
        "count/jobs.batch=0, limited: count/jobs.batch=0"
    )
    assert caught.value.status_code == 403
    assert _jobs(api, release_ns) == [RELEASE_JOB]


# -- errors: reaching the API server ----------------------------------------------------------


def _kubeconfig_variant(
    kube_cluster: KubeControlPlane, path: Path, change: Callable[[dict[str, Any]], None]
) -> Path:
    config = yaml.safe_load(kube_cluster.kubeconfig.read_text())
    change(config["clusters"][0]["cluster"])
    path.write_text(yaml.safe_dump(config))
    return path


def test_unreachable_api_server(kube_cluster: KubeControlPlane, tmp_path: Path) -> None:
    server = f"https://{LOOPBACK}:{free_port()}"  # nothing listens there
    kubeconfig = _kubeconfig_variant(
        kube_cluster, tmp_path / "dead", lambda c: c.update(server=server)
    )
    with connect(kubeconfig, namespace="default") as connection:
        launcher = TrainingLauncher(connection, TEMPLATE)
        for attempt in (lambda: launcher.launch(LaunchRequest()), launcher.runs):
            with pytest.raises(ClusterUnreachableError) as caught:
                attempt()
            assert f"the Kubernetes API at {server} is unreachable: " in caught.value.message
            assert "Connection refused" in caught.value.message
            assert caught.value.status_code == 503


def test_untrusted_api_server(kube_cluster: KubeControlPlane, tmp_path: Path) -> None:
    """A kubeconfig without the cluster's CA: the server's certificate is not trusted."""
    kubeconfig = _kubeconfig_variant(
        kube_cluster, tmp_path / "noca", lambda c: c.pop("certificate-authority-data")
    )
    with (
        connect(kubeconfig, namespace="default") as connection,
        pytest.raises(ClusterUnreachableError) as caught,
    ):
        TrainingLauncher(connection, TEMPLATE).template()
    assert "CERTIFICATE_VERIFY_FAILED" in caught.value.message


def test_the_kubeconfig_ca_is_used(kube_cluster: KubeControlPlane, tmp_path: Path) -> None:
    """The same kubeconfig with the CA inlined as a file reaches the server (the variant above
    fails for the CA alone)."""
    ca = tmp_path / "ca.crt"

    def to_file(cluster: dict[str, Any]) -> None:
        ca.write_bytes(base64.b64decode(cluster.pop("certificate-authority-data")))
        cluster["certificate-authority"] = str(ca)

    kubeconfig = _kubeconfig_variant(kube_cluster, tmp_path / "cafile", to_file)
    namespace = kube_cluster.new_namespace("cafile")
    with connect(kubeconfig, namespace=namespace) as connection:
        assert TrainingLauncher(connection, TEMPLATE).runs() == []
