"""The Training page's "Train a new model" against a real kube-apiserver (``kube_cluster``).

charts/porto is installed with helm into a namespace of its own per test; the UI then talks to
the API server as the chart's UI ServiceAccount, with a real token from the TokenRequest API, so
what it may do is decided by the chart's Role through the server's RBAC. Checked: the Job it
creates is the template's (image, ServiceAccount, pod) with the form's arguments and the ``ui``
trigger, and the runs list shows it; the token is refused elsewhere (another namespace, Secrets,
deleting Jobs, other ConfigMaps); without ui.trainingLauncher the refusal is the one clear line;
and the page itself (AppTest against the real inference API) launches, reports refusals with
st.error, and shows no form when the launcher is off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness.kube import KubeControlPlane
from harness.kube_helm import helm, new_release_namespace
from harness.timing import DEADLINE
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from porto.cluster import (
    ClusterError,
    PermissionDeniedError,
    TemplateMissingError,
    template_name_for,
)
from porto_ui import train_action
from porto_ui.settings import UISettings
from porto_ui.train_action import LaunchForm
from streamlit.testing.v1 import AppTest

from ui.conftest import APP, Stack

RELEASE = "porto"
TEMPLATE = template_name_for(RELEASE)
#: The UI's ServiceAccount (charts/ui: `<release>-ui`).
UI_ACCOUNT = f"{RELEASE}-ui"
LAUNCHER_ON = "ui.trainingLauncher.enabled=true"
TIMEOUT = DEADLINE


@dataclass
class Installed:
    """The chart in a namespace of its own, and the UI ServiceAccount's credentials there."""

    plane: KubeControlPlane
    namespace: str
    kubeconfig: Path

    def settings(self, **overrides: Any) -> UISettings:
        """UI settings for the launcher as the UI's ServiceAccount."""
        values: dict[str, Any] = {
            "training_launcher": True,
            "training_template": TEMPLATE,
            "kube_namespace": self.namespace,
            "kubeconfig": str(self.kubeconfig),
            **overrides,
        }
        return UISettings(**values)

    def admin(self) -> k8s.ApiClient:
        """An admin client (for reading back and for preparing objects)."""
        return self.plane.api_client()

    def uninstall(self) -> None:
        """helm uninstall (best effort: the namespace is the test's own)."""
        helm(self.plane, self.namespace, "uninstall", RELEASE, check=False)


def _install(plane: KubeControlPlane, *sets: str) -> Installed:
    """charts/porto with ``sets`` in a fresh namespace (the stand-ins complete the hook Job helm
    waits for); a kubeconfig with a real token of the UI's ServiceAccount."""
    flags = [arg for expression in sets for arg in ("--set", expression)]
    namespace = new_release_namespace(plane, "ui-train", *flags, release=RELEASE)
    token = plane.service_account_token(namespace, UI_ACCOUNT)
    return Installed(plane, namespace, plane.token_kubeconfig(token, f"ui-{namespace}", namespace))


@pytest.fixture
def launcher_on(kube_cluster: KubeControlPlane) -> Iterator[Installed]:
    """The chart with ui.trainingLauncher.enabled=true."""
    installed = _install(kube_cluster, LAUNCHER_ON)
    yield installed
    installed.uninstall()


@pytest.fixture
def launcher_off(kube_cluster: KubeControlPlane) -> Iterator[Installed]:
    """The chart with its defaults (no launcher)."""
    installed = _install(kube_cluster)
    yield installed
    installed.uninstall()


def _template_job(installed: Installed) -> dict[str, Any]:
    with installed.admin() as api:
        core: Any = k8s.CoreV1Api(api)
        config_map = core.read_namespaced_config_map(TEMPLATE, installed.namespace)
    job: dict[str, Any] = yaml.safe_load(config_map.data["job.yaml"])
    return job


def _stored_job(installed: Installed, name: str) -> dict[str, Any]:
    with installed.admin() as api:
        job = k8s.BatchV1Api(api).read_namespaced_job(name, installed.namespace)
        stored: dict[str, Any] = api.sanitize_for_serialization(job)
    return stored


def _refused(call: Callable[[], object]) -> ApiException:
    with pytest.raises(ApiException) as info:
        call()
    assert info.value.status == 403, info.value.body
    return info.value


# --- the module, as the UI's ServiceAccount ------------------------------------------------------


def test_launch_creates_the_template_job_labelled_ui(launcher_on: Installed) -> None:
    settings = launcher_on.settings()
    form = LaunchForm(
        source="synthetic",
        rows=5000,
        promote=True,
        overrides="# a comment\nmodel.type=sklearn\n\nseed = 11\n",
    )
    started = train_action.launch(settings, form, who="alice")
    assert started.namespace == launcher_on.namespace
    assert started.kubectl == f"kubectl -n {launcher_on.namespace} logs -f job/{started.job}"

    template = _template_job(launcher_on)
    job = _stored_job(launcher_on, started.job)
    assert job["metadata"]["name"].startswith(template["metadata"]["generateName"])
    labels = job["metadata"]["labels"]
    assert labels["porto.dev/trigger"] == "ui"
    assert labels["app.kubernetes.io/component"] == "training"
    assert labels["app.kubernetes.io/instance"] == RELEASE
    annotations = job["metadata"]["annotations"]
    assert annotations["porto.dev/requested-by"] == "alice"
    assert annotations["porto.dev/overrides"] == "model.type=sklearn,seed=11"

    pod, wanted = job["spec"]["template"]["spec"], template["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == wanted["serviceAccountName"] == f"{RELEASE}-training"
    (container,) = pod["containers"]
    (expected,) = wanted["containers"]
    assert container["image"] == expected["image"]
    assert container["env"] == expected["env"]
    assert container["resources"] == expected["resources"]
    # (the server adds defaults such as a configMap volume's defaultMode)
    assert [(v["name"], sorted(v)) for v in pod["volumes"]] == [
        (v["name"], sorted(v)) for v in wanted["volumes"]
    ]
    assert [c["name"] for c in pod.get("initContainers", [])] == [
        c["name"] for c in wanted.get("initContainers", [])
    ]
    for key in ("backoffLimit", "ttlSecondsAfterFinished", "activeDeadlineSeconds"):
        assert job["spec"].get(key) == template["spec"].get(key), key
    # The template's arguments with the form's data source, --promote and overrides.
    args = container["args"]
    assert args[0] == "train"
    assert args[args.index("--rows") + 1] == "5000"
    assert "--data" not in args
    assert "--promote" in args
    sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    assert sets[-2:] == ["model.type=sklearn", "seed=11"]
    expected_sets = [
        a for i, a in enumerate(expected["args"]) if i and expected["args"][i - 1] == "--set"
    ]
    assert sets[:-2] == expected_sets

    # The runs list (the same token) has it, newest first, started from the UI.
    namespace, runs = train_action.recent_runs(settings)
    assert namespace == launcher_on.namespace
    # (newest first by creation time, which has 1 s resolution: the release's own run, created
    # within the same second, may come first)
    ours = next(r for r in runs if r.name == started.job)
    assert (ours.trigger, ours.requested_by, ours.state) == ("ui", "alice", "pending")
    assert len(runs) == 2  # and the release's own run
    assert started.job in set(train_action.runs_table(runs)["job"])


def test_the_template_data_source_is_kept_unless_the_form_changes_it(
    launcher_on: Installed,
) -> None:
    settings = launcher_on.settings()
    template_args = _template_job(launcher_on)["spec"]["template"]["spec"]["containers"][0]["args"]
    kept = _stored_job(launcher_on, train_action.launch(settings, LaunchForm()).job)
    assert kept["spec"]["template"]["spec"]["containers"][0]["args"] == template_args

    uri = "s3://porto-data/train.parquet"
    job = _stored_job(
        launcher_on, train_action.launch(settings, LaunchForm("s3", data_uri=uri)).job
    )
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--data") + 1] == uri
    assert "--rows" not in args


def test_a_runs_pods_and_logs_are_read_with_the_ui_token(launcher_on: Installed) -> None:
    settings = launcher_on.settings()
    started = train_action.launch(settings, LaunchForm("synthetic", rows=1000))
    # No Job controller: no pod yet.
    assert train_action.run_logs(settings, started.job) == []
    # A pod as the Job controller would create it (admin), not scheduled: no log to read.
    template = _template_job(launcher_on)["spec"]["template"]
    with launcher_on.admin() as api:
        admin: Any = k8s.CoreV1Api(api)
        admin.create_namespaced_pod(
            launcher_on.namespace,
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{started.job}-abcde",
                    "labels": {"batch.kubernetes.io/job-name": started.job},
                },
                "spec": template["spec"],
            },
        )
    (pod,) = train_action.run_logs(settings, started.job)
    assert (pod.pod, pod.phase) == (f"{started.job}-abcde", "Pending")
    assert pod.text == "no log yet: the pod is Pending"


def test_the_ui_token_is_refused_everything_else(
    launcher_on: Installed, kube_cluster: KubeControlPlane
) -> None:
    other = kube_cluster.new_namespace("ui-other")
    template = _template_job(launcher_on)
    template["metadata"]["namespace"] = other
    with kube_cluster.api_client(launcher_on.kubeconfig) as api:
        # Any: the refusals below send plain dicts, as kubectl would.
        batch: Any = k8s.BatchV1Api(api)
        core: Any = k8s.CoreV1Api(api)
        # Jobs in another namespace.
        refusal = _refused(lambda: batch.create_namespaced_job(other, template))
        assert f"system:serviceaccount:{launcher_on.namespace}:{UI_ACCOUNT}" in str(refusal.body)
        _refused(lambda: batch.list_namespaced_job(other))
        # Secrets, in its own namespace too.
        _refused(lambda: core.list_namespaced_secret(launcher_on.namespace))
        _refused(lambda: core.read_namespaced_secret(f"{RELEASE}-minio", launcher_on.namespace))
        # ConfigMaps other than the template; writing the template.
        _refused(lambda: core.read_namespaced_config_map(UI_ACCOUNT, launcher_on.namespace))
        _refused(lambda: core.list_namespaced_config_map(launcher_on.namespace))
        _refused(
            lambda: core.patch_namespaced_config_map(
                TEMPLATE, launcher_on.namespace, {"data": {"job.yaml": "{}"}}
            )
        )
        # Deleting or changing Jobs; creating pods directly.
        started = train_action.launch(launcher_on.settings(), LaunchForm())
        _refused(lambda: batch.delete_namespaced_job(started.job, launcher_on.namespace))
        _refused(
            lambda: batch.patch_namespaced_job(
                started.job, launcher_on.namespace, {"metadata": {"labels": {"x": "y"}}}
            )
        )
        _refused(
            lambda: core.create_namespaced_pod(
                launcher_on.namespace,
                {"metadata": {"name": "x"}, "spec": template["spec"]["template"]["spec"]},
            )
        )
    # Through the module: the launcher in another namespace says why, in one line.
    with pytest.raises(PermissionDeniedError) as info:
        train_action.launch(launcher_on.settings(kube_namespace=other), LaunchForm())
    message = str(info.value)
    assert message.startswith(
        f"cannot read the training Job template ConfigMap '{TEMPLATE}': not allowed by RBAC in "
        f"namespace '{other}'"
    )
    assert "\n" not in message


def test_without_the_launcher_the_ui_token_gets_the_clear_message(
    launcher_off: Installed,
) -> None:
    settings = launcher_off.settings()
    with pytest.raises(PermissionDeniedError) as info:
        train_action.launch(settings, LaunchForm())
    message = str(info.value)
    assert message.startswith(
        f"cannot read the training Job template ConfigMap '{TEMPLATE}': not allowed by RBAC in "
        f"namespace '{launcher_off.namespace}'"
    )
    assert f"system:serviceaccount:{launcher_off.namespace}:{UI_ACCOUNT}" in message
    assert "ui.trainingLauncher.enabled=true" in message
    assert "\n" not in message
    with pytest.raises(
        PermissionDeniedError, match="cannot list training Jobs: not allowed by RBAC"
    ):
        train_action.recent_runs(settings)
    with launcher_off.admin() as api:
        jobs = k8s.BatchV1Api(api).list_namespaced_job(
            launcher_off.namespace, label_selector="porto.dev/trigger=ui"
        )
    assert jobs.items == []


def test_a_missing_template_is_said_plainly(kube_cluster: KubeControlPlane) -> None:
    installed = _install(
        kube_cluster, LAUNCHER_ON, "ui.trainingLauncher.templateName=no-such-template"
    )
    try:
        settings = installed.settings(training_template="no-such-template")
        with pytest.raises(TemplateMissingError, match="ConfigMap 'no-such-template' does not"):
            train_action.launch(settings, LaunchForm())
    finally:
        installed.uninstall()


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (LaunchForm("s3", data_uri="  "), "give the dataset's s3:// URI"),
        (LaunchForm("s3", data_uri="/data/train.csv"), "expected an s3:// URI"),
        (LaunchForm("synthetic", rows=10), "rows must be at least 100"),
        (LaunchForm(overrides="model.type=sklearn\njust-a-key"), "override line 2: expected"),
        (LaunchForm(overrides="=value"), "override line 1: expected key=value"),
    ],
)
def test_bad_forms_are_refused_before_any_request(form: LaunchForm, message: str) -> None:
    with pytest.raises(ClusterError, match=message):
        train_action.build_request(form)


def test_a_form_becomes_the_launchers_request() -> None:
    request = train_action.build_request(
        LaunchForm("synthetic", rows=2000, data_uri="s3://ignored", overrides="a=1\na=2\nb=")
    )
    assert (request.rows, request.data_uri, request.trigger) == (2000, None, "ui")
    assert request.overrides == {"a": "2", "b": ""}
    assert request.requested_by and request.requested_by.startswith("porto-ui@")
    request = train_action.build_request(LaunchForm(rows=2000))
    assert (request.rows, request.data_uri, request.promote) == (None, None, False)


# --- the page (AppTest, real inference API and real API server) ---------------------------------


def _training_page() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    at.switch_page("app_pages/training.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _page_env(
    stack: Stack, ui_env: Callable[..., None], installed: Installed, kubeconfig: Path
) -> None:
    ui_env(
        stack.api_url,
        training_launcher="true",
        training_template=TEMPLATE,
        kube_namespace=installed.namespace,
        kubeconfig=str(kubeconfig),
    )


def test_the_page_starts_a_run(
    stack: Stack, ui_env: Callable[..., None], launcher_on: Installed
) -> None:
    _page_env(stack, ui_env, launcher_on, launcher_on.kubeconfig)
    at = _training_page()
    assert "Train a new model" in [s.value for s in at.subheader]
    assert not at.error
    at.radio(key="train-source").set_value("synthetic")
    at.number_input(key="train-rows").set_value(1200)
    at.checkbox(key="train-promote").check()
    at.text_area(key="train-overrides").input("model.type=sklearn")
    (submit,) = [b for b in at.form_submit_button if b.label == "Start training"]
    submit.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    (success,) = at.success
    with launcher_on.admin() as api:
        batch: Any = k8s.BatchV1Api(api)
        jobs = batch.list_namespaced_job(
            launcher_on.namespace, label_selector="porto.dev/trigger=ui"
        ).items
    (job,) = jobs
    name = job.metadata.name
    assert f"Started training Job `{name}` in namespace `{launcher_on.namespace}`" in success.value
    assert f"kubectl -n {launcher_on.namespace} logs -f job/{name}" in success.value
    args = job.spec.template.spec.containers[0].args
    assert args[args.index("--rows") + 1] == "1200"
    assert "--promote" in args and "model.type=sklearn" in args
    assert job.metadata.annotations["porto.dev/requested-by"].startswith("porto-ui@")
    # The runs table lists it, and its logs can be asked for (no pod yet without a controller).
    table = at.dataframe[-1].value
    assert name in list(table["job"])
    assert at.selectbox(key="train-logs-job").value == name
    at.button(key="train-show-logs").click().run()
    assert not at.exception
    assert f"Job `{name}` has no pod yet." in [c.value for c in at.caption]


def test_the_page_shows_an_rbac_refusal_and_keeps_working(
    stack: Stack,
    ui_env: Callable[..., None],
    launcher_on: Installed,
    kube_cluster: KubeControlPlane,
) -> None:
    nobody = kube_cluster.nobody_kubeconfig(launcher_on.namespace)
    _page_env(stack, ui_env, launcher_on, nobody)
    at = _training_page()
    # The runs list is refused; the rest of the page is drawn.
    assert "Charts" in [s.value for s in at.subheader]
    (listing,) = at.error
    assert "cannot list training Jobs: not allowed by RBAC" in listing.value
    (submit,) = [b for b in at.form_submit_button if b.label == "Start training"]
    submit.click().run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 2
    assert errors[0].startswith("**The training run was not started.** cannot read the training")
    assert f"not allowed by RBAC in namespace '{launcher_on.namespace}'" in errors[0]
    assert "porto-nobody" in errors[0]
    assert not at.success


def test_the_page_has_no_form_when_the_launcher_is_off(
    stack: Stack, ui_env: Callable[..., None]
) -> None:
    ui_env(stack.api_url)
    at = _training_page()
    assert "Start training" not in [b.label for b in at.form_submit_button]
    assert "Train a new model" not in [s.value for s in at.subheader]
    assert not at.error
    assert any("ui.trainingLauncher.enabled=true" in c.value for c in at.caption)
