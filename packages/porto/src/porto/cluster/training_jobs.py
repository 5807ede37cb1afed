"""Start a training run on the cluster from the chart's Job template and follow it.

The chart installs a ConfigMap ``<release>-training-job-template`` whose ``job.yaml`` is the
complete training Job of that release (image, Secrets, store, ServiceAccount, resources, with a
``generateName``). A launch reads it, adjusts the ``training`` container's arguments (data
source, ``--promote``, ``--set`` overrides), labels it with who asked, and creates it. Nothing
about the pod is invented here, so a run started from the CLI or the UI is the same as the one
``helm install`` starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from porto.cluster.client import ClusterConnection
from porto.cluster.errors import (
    ClusterError,
    ClusterUnreachableError,
    JobFailedError,
    TemplateInvalidError,
    TemplateMissingError,
    api_message,
    translate,
)

TEMPLATE_KEY = "job.yaml"
TRAINING_CONTAINER = "training"
TRIGGER_LABEL = "porto.dev/trigger"
REQUESTED_BY_ANNOTATION = "porto.dev/requested-by"
OVERRIDES_ANNOTATION = "porto.dev/overrides"
#: Label the Job controller puts on its pods (Kubernetes ≥ 1.27).
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
#: Seconds one API call may take before it counts as a failure.
REQUEST_TIMEOUT = (5.0, 30.0)
#: Waiting reasons of a pod that will not start without someone fixing something.
STUCK_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "CrashLoopBackOff",
    }
)

T = TypeVar("T")


def template_name_for(release: str) -> str:
    """The template ConfigMap of Helm release ``release`` (chart naming: ``<release>-training``
    plus ``-job-template``, within 63 characters)."""
    suffix = "-job-template"
    return f"{release}-training"[: 63 - len(suffix)].rstrip("-") + suffix


@dataclass
class LaunchRequest:
    """What one run should do differently from the template."""

    #: Train on this many SYNTHETIC rows (replaces the template's data source).
    rows: int | None = None
    #: Train on this s3:// dataset (replaces the template's data source).
    data_uri: str | None = None
    #: Make the new version champion whatever its score.
    promote: bool = False
    #: ``porto-train train --set key=value`` overrides, applied after the template's.
    overrides: dict[str, str] = field(default_factory=dict)
    #: Who started it, as the ``porto.dev/trigger`` label: ``cli`` or ``ui``.
    trigger: str = "cli"
    #: Free text recorded in an annotation (a user name, a host).
    requested_by: str | None = None

    def __post_init__(self) -> None:
        if self.rows is not None and self.data_uri:
            raise ClusterError("give either rows (synthetic data) or a data URI, not both", 400)
        if self.rows is not None and self.rows < 100:
            raise ClusterError(f"rows must be at least 100, got {self.rows}", 400)
        if self.data_uri and not self.data_uri.startswith("s3://"):
            raise ClusterError(
                f"a cluster run reads its data from the object store: expected an s3:// URI, "
                f"got {self.data_uri!r}",
                400,
            )
        for key in self.overrides:
            if not key or "=" in key or key != key.strip():
                raise ClusterError(f"bad override key {key!r}: expected key=value", 400)


@dataclass(frozen=True)
class JobEvent:
    """Something worth telling the user while a run is followed."""

    kind: str  # "status" | "log" | "warning"
    text: str


@dataclass(frozen=True)
class JobOutcome:
    """How a followed run ended."""

    name: str
    succeeded: bool
    reason: str
    seconds: float


@dataclass(frozen=True)
class RunSummary:
    """One training Job of the namespace, for listings."""

    name: str
    trigger: str
    state: str  # "running" | "succeeded" | "failed" | "pending"
    created: str
    requested_by: str


def _job_state(job: Any) -> tuple[str, str]:
    """``(state, reason)`` of a Job object from its status."""
    status = job.status
    for condition in (status and status.conditions) or []:
        if condition.status != "True":
            continue
        if condition.type == "Complete":
            return "succeeded", condition.message or condition.reason or "complete"
        if condition.type == "Failed":
            return "failed", condition.message or condition.reason or "failed"
    if status and (status.active or 0) > 0:
        return "running", f"{status.active} pod(s) active"
    return "pending", "waiting for a pod"


class TrainingLauncher:
    """Launches and follows training Jobs in one namespace from one template ConfigMap."""

    def __init__(self, connection: ClusterConnection, template: str) -> None:
        self.connection = connection
        self.namespace = connection.namespace
        self.template_name = template
        # Any: the client's Optional-everywhere models would need a None check per field.
        self.batch: Any = k8s.BatchV1Api(connection.api)
        self.core: Any = k8s.CoreV1Api(connection.api)

    # -- API calls with porto's errors -------------------------------------------------------

    def _call(self, doing: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except ApiException as exc:
            if exc.status == 0 or exc.status is None:  # raised by the client, not the server
                raise ClusterUnreachableError(f"cannot {doing}: {exc.reason or exc}") from exc
            raise translate(exc.status, exc.body, doing=doing, namespace=self.namespace) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ClusterUnreachableError(
                f"cannot {doing}: the Kubernetes API at {self.connection.server} is unreachable "
                f"({type(exc).__name__}: {str(exc)[:200]})"
            ) from exc

    # -- template and launch -----------------------------------------------------------------

    def template(self) -> dict[str, Any]:
        """The Job manifest stored in the template ConfigMap."""
        doing = f"read the training Job template ConfigMap '{self.template_name}'"
        try:
            config_map = self._call(
                doing,
                lambda: self.core.read_namespaced_config_map(
                    self.template_name, self.namespace, _request_timeout=REQUEST_TIMEOUT
                ),
            )
        except ClusterError as exc:
            if exc.status_code == 404:
                raise TemplateMissingError(
                    f"no training Job template: ConfigMap '{self.template_name}' does not exist "
                    f"in namespace '{self.namespace}'. Install the porto chart there with "
                    "training.enabled=true and training.jobTemplate.enabled=true (the default), "
                    "or name the template of another release (--release / --template)"
                ) from exc
            raise
        text = (config_map.data or {}).get(TEMPLATE_KEY)
        where = f"ConfigMap '{self.template_name}'"
        if not text:
            raise TemplateInvalidError(f"{where} has no '{TEMPLATE_KEY}' key")
        try:
            manifest = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise TemplateInvalidError(f"{where}: {TEMPLATE_KEY} is not valid YAML: {exc}") from exc
        if not isinstance(manifest, dict) or manifest.get("kind") != "Job":
            raise TemplateInvalidError(f"{where}: {TEMPLATE_KEY} is not a Job manifest")
        if not str(manifest.get("apiVersion", "")).startswith("batch/"):
            raise TemplateInvalidError(f"{where}: {TEMPLATE_KEY} is not a batch/v1 Job")
        self._training_container(manifest, where)
        return manifest

    @staticmethod
    def _training_container(manifest: dict[str, Any], where: str) -> dict[str, Any]:
        containers = (
            manifest.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
        )
        for container in containers:
            if isinstance(container, dict) and container.get("name") == TRAINING_CONTAINER:
                return container
        raise TemplateInvalidError(
            f"{where}: the Job has no container named '{TRAINING_CONTAINER}'"
        )

    def build(
        self, request: LaunchRequest, manifest: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The Job to create for ``request``: the template with the run's arguments and labels."""
        job = manifest if manifest is not None else self.template()
        container = self._training_container(job, f"ConfigMap '{self.template_name}'")
        args = [str(a) for a in container.get("args") or []]
        if request.rows is not None or request.data_uri:
            args = _without_options(args, ("--rows", "--data"))
            args += (
                ["--rows", str(request.rows)]
                if request.rows is not None
                else [
                    "--data",
                    str(request.data_uri),
                ]
            )
        if request.promote and "--promote" not in args:
            args.append("--promote")
        for key, value in request.overrides.items():
            args += ["--set", f"{key}={value}"]
        container["args"] = args

        metadata = job.setdefault("metadata", {})
        metadata["namespace"] = self.namespace
        if not metadata.get("name") and not metadata.get("generateName"):
            metadata["generateName"] = "porto-training-manual-"
        labels = metadata.setdefault("labels", {}) or {}
        labels[TRIGGER_LABEL] = request.trigger
        metadata["labels"] = labels
        annotations = metadata.setdefault("annotations", {}) or {}
        if request.requested_by:
            annotations[REQUESTED_BY_ANNOTATION] = request.requested_by
        if request.overrides:
            annotations[OVERRIDES_ANNOTATION] = ",".join(
                f"{k}={v}" for k, v in request.overrides.items()
            )
        metadata["annotations"] = annotations
        return job

    def launch(self, request: LaunchRequest, *, dry_run: bool = False) -> str:
        """Create the Job; return its name (``dry_run``: validated by the server, not stored)."""
        body = self.build(request)
        created = self._call(
            "create the training Job",
            lambda: self.batch.create_namespaced_job(
                self.namespace,
                body,
                dry_run="All" if dry_run else None,
                _request_timeout=REQUEST_TIMEOUT,
            ),
        )
        return str(created.metadata.name)

    # -- status and following ----------------------------------------------------------------

    def read_job(self, name: str) -> Any:
        """The Job object (TemplateMissing-style 404 becomes a plain not-found ClusterError)."""
        return self._call(
            f"read Job '{name}'",
            lambda: self.batch.read_namespaced_job(
                name, self.namespace, _request_timeout=REQUEST_TIMEOUT
            ),
        )

    def runs(self) -> list[RunSummary]:
        """Training Jobs of the namespace (the chart's and manual ones), newest first."""
        jobs = self._call(
            "list training Jobs",
            lambda: self.batch.list_namespaced_job(
                self.namespace,
                label_selector="app.kubernetes.io/component=training",
                _request_timeout=REQUEST_TIMEOUT,
            ),
        )
        out = []
        for job in jobs.items:
            meta = job.metadata
            state, _ = _job_state(job)
            out.append(
                RunSummary(
                    name=meta.name,
                    trigger=(meta.labels or {}).get(TRIGGER_LABEL, "helm"),
                    state=state,
                    created=meta.creation_timestamp.isoformat() if meta.creation_timestamp else "",
                    requested_by=(meta.annotations or {}).get(REQUESTED_BY_ANNOTATION, ""),
                )
            )
        return sorted(out, key=lambda r: r.created, reverse=True)

    def follow(
        self,
        name: str,
        on_event: Callable[[JobEvent], None],
        *,
        timeout: float | None = None,
        poll: float = 1.0,
        logs: bool = True,
    ) -> JobOutcome:
        """Report status changes, pod problems and new log lines until the Job ends.

        Raises ClusterError when ``timeout`` passes first (the Job keeps running) and
        JobFailedError when the Job is deleted while followed. A failed Job is an outcome, not
        an exception: callers decide what failure means to them.
        """
        began = time.monotonic()
        last_state = ""
        seen_lines: dict[str, int] = {}
        warned: set[str] = set()
        while True:
            try:
                job = self._call(
                    f"read Job '{name}'",
                    lambda: self.batch.read_namespaced_job_status(
                        name, self.namespace, _request_timeout=REQUEST_TIMEOUT
                    ),
                )
            except ClusterError as exc:
                if exc.status_code == 404:
                    raise JobFailedError(
                        f"Job '{name}' no longer exists in namespace '{self.namespace}' "
                        "(deleted, or removed by its ttlSecondsAfterFinished)"
                    ) from exc
                raise
            state, reason = _job_state(job)
            if state != last_state:
                on_event(JobEvent("status", f"job/{name}: {state} ({reason})"))
                last_state = state
            if logs:
                self._report_pods(name, on_event, seen_lines, warned)
            if state in ("succeeded", "failed"):
                return JobOutcome(name, state == "succeeded", reason, time.monotonic() - began)
            if timeout is not None and time.monotonic() - began > timeout:
                raise ClusterError(
                    f"Job '{name}' is still {state} after {timeout:.0f}s; it keeps running "
                    f"(follow it again with `porto-train cluster follow {name}`)",
                    504,
                )
            time.sleep(poll)

    def _report_pods(
        self,
        name: str,
        on_event: Callable[[JobEvent], None],
        seen_lines: dict[str, int],
        warned: set[str],
    ) -> None:
        """New log lines of the Job's pods, and why a pod does not start (once per reason)."""
        if "logs-forbidden" in warned:
            return
        try:
            pods = self._call(
                f"list the pods of Job '{name}'",
                lambda: self.core.list_namespaced_pod(
                    self.namespace,
                    label_selector=f"{JOB_NAME_LABEL}={name}",
                    _request_timeout=REQUEST_TIMEOUT,
                ),
            ).items
        except ClusterError as exc:
            warned.add("logs-forbidden")
            on_event(JobEvent("warning", f"not following pods and logs: {exc}"))
            return
        for pod in pods:
            pod_name = pod.metadata.name
            for status in _container_statuses(pod):
                waiting = status.state and status.state.waiting
                if waiting and waiting.reason in STUCK_REASONS:
                    key = f"{pod_name}/{waiting.reason}"
                    if key not in warned:
                        warned.add(key)
                        detail = f"{waiting.reason}: {waiting.message or ''}".strip()
                        on_event(JobEvent("warning", f"pod/{pod_name}: {detail}"))
            if pod.status is None or pod.status.phase not in ("Running", "Succeeded", "Failed"):
                continue
            self._new_log_lines(pod_name, on_event, seen_lines, warned)

    def _new_log_lines(
        self,
        pod: str,
        on_event: Callable[[JobEvent], None],
        seen_lines: dict[str, int],
        warned: set[str],
    ) -> None:
        try:
            text = self.core.read_namespaced_pod_log(
                pod, self.namespace, container=TRAINING_CONTAINER, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            key = f"{pod}/logs"
            if key not in warned:
                warned.add(key)
                on_event(
                    JobEvent("warning", f"pod/{pod}: logs unavailable: {api_message(exc.body)}")
                )
            return
        except (urllib3.exceptions.HTTPError, OSError):
            return  # the next round tries again; the status read reports a dead API server
        lines = str(text or "").splitlines()
        for line in lines[seen_lines.get(pod, 0) :]:
            on_event(JobEvent("log", line))
        seen_lines[pod] = len(lines)


def _container_statuses(pod: Any) -> Iterable[Any]:
    status = pod.status
    if status is None:
        return []
    return [*(status.init_container_statuses or []), *(status.container_statuses or [])]


def _without_options(args: list[str], options: tuple[str, ...]) -> list[str]:
    """``args`` without each ``option value`` pair (and ``option=value``) of ``options``."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in options:
            skip = True
            continue
        if any(arg.startswith(f"{o}=") for o in options):
            continue
        out.append(arg)
    return out
