"""Start a training run on the cluster from the chart's Job template and follow it.

The chart installs a ConfigMap ``<release>-training-job-template`` whose ``job.yaml`` is the
complete training Job of that release (image, Secrets, store, ServiceAccount, resources, with a
``generateName``). A launch reads it, adjusts the ``training`` container's arguments (data
source, ``--promote``, ``--set`` overrides), labels it with who asked, and creates it. Nothing
about the pod is invented here, so a run started from the CLI or the UI is the same as the one
``helm install`` starts.

RBAC a launcher needs in its namespace: get on configmaps (the template), create, get and list on
jobs.batch; following a run also lists pods, reads pods/log and lists events (each optional: a
refusal there becomes a warning, or for events silence, not a failure).
"""

from __future__ import annotations

import copy
import re
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
    PermissionDeniedError,
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
#: The chart labels every training Job (release, CronJob, template) with this, value "training".
COMPONENT_LABEL = "app.kubernetes.io/component"
#: Label the Job controller puts on its pods (Kubernetes ≥ 1.27).
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
#: Seconds one API call may take before it counts as a failure.
REQUEST_TIMEOUT = (5.0, 30.0)
#: A label value (``porto.dev/trigger``): at most 63 characters of this shape.
LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
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
    """The template ConfigMap of Helm release ``release``, named as the chart names it:
    ``training.fullname`` (``<release>-training``, cut to 63, one trailing ``-`` trimmed) cut so
    that ``-job-template`` fits in 63 characters, one trailing ``-`` trimmed again.

    A release installed with ``training.fullnameOverride`` or ``nameOverride`` names its template
    differently: pass that name as the template instead.
    """
    suffix = "job-template"
    fullname = f"{release}-training"[:63].removesuffix("-")
    return f"{fullname[: 63 - 1 - len(suffix)].removesuffix('-')}-{suffix}"


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
        if not self.trigger or not LABEL_VALUE.match(self.trigger):
            raise ClusterError(
                f"bad trigger {self.trigger!r}: a label value (letters, digits, '-', '_', '.'; "
                "at most 63 characters)",
                400,
            )


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
class PodLog:
    """One pod of a run: its phase and the tail of its training log (or why there is none)."""

    pod: str
    phase: str
    text: str


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
        if condition.type == "Suspended":
            return "pending", "suspended"
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
                detail = " ".join(str(exc.reason or exc).split())[:300]
                raise ClusterUnreachableError(f"cannot {doing}: {detail}") from exc
            raise translate(exc.status, exc.body, doing=doing, namespace=self.namespace) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ClusterUnreachableError(
                f"cannot {doing}: the Kubernetes API at {self.connection.server} is unreachable: "
                f"{_network_reason(exc)}"
            ) from exc

    # -- template and launch -----------------------------------------------------------------

    def template(self) -> dict[str, Any]:
        """The Job manifest stored in the template ConfigMap (TemplateMissingError when there is
        none, TemplateInvalidError when it holds no usable training Job)."""
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
        node: Any = manifest
        for key in ("spec", "template", "spec", "containers"):
            node = node.get(key) if isinstance(node, dict) else None
        containers = node if isinstance(node, list) else []
        for container in containers:
            if isinstance(container, dict) and container.get("name") == TRAINING_CONTAINER:
                return container
        raise TemplateInvalidError(
            f"{where}: the Job has no container named '{TRAINING_CONTAINER}'"
        )

    def build(
        self, request: LaunchRequest, manifest: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The Job to create for ``request``: the template (``manifest``, else the ConfigMap's)
        with the run's arguments, trigger label and annotations; nothing else changes."""
        job = copy.deepcopy(manifest) if manifest is not None else self.template()
        container = self._training_container(job, f"ConfigMap '{self.template_name}'")
        args = [str(a) for a in container.get("args") or []]
        if request.rows is not None or request.data_uri:
            args = _without_options(args, ("--rows", "--data"))
            if request.rows is not None:
                args += ["--rows", str(request.rows)]
            else:
                args += ["--data", str(request.data_uri)]
        if request.promote and "--promote" not in args:
            args.append("--promote")
        for key, value in request.overrides.items():
            args += ["--set", f"{key}={value}"]
        container["args"] = args

        metadata = job.setdefault("metadata", {})
        metadata["namespace"] = self.namespace
        if not metadata.get("name") and not metadata.get("generateName"):
            metadata["generateName"] = "porto-training-manual-"
        labels = metadata.get("labels") or {}
        labels[TRIGGER_LABEL] = request.trigger
        metadata["labels"] = labels
        annotations = metadata.get("annotations") or {}
        if request.requested_by:
            annotations[REQUESTED_BY_ANNOTATION] = request.requested_by
        if request.overrides:
            annotations[OVERRIDES_ANNOTATION] = ",".join(
                f"{k}={v}" for k, v in request.overrides.items()
            )
        metadata["annotations"] = annotations
        return job

    def create(self, request: LaunchRequest, *, dry_run: bool = False) -> dict[str, Any]:
        """Create the Job; return it as the API server stored it (``dry_run``: as it would store
        it: admitted, defaulted and named by the server, but not stored)."""
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
        stored: dict[str, Any] = self.connection.api.sanitize_for_serialization(created)
        return stored

    def launch(self, request: LaunchRequest, *, dry_run: bool = False) -> str:
        """Create the Job; return its name (``dry_run``: validated by the server, not stored)."""
        return str(self.create(request, dry_run=dry_run)["metadata"]["name"])

    # -- status and following ----------------------------------------------------------------

    def read_job(self, name: str) -> Any:
        """The Job object (a plain not-found ClusterError with status 404 when there is none)."""
        return self._call(
            f"read Job '{name}'",
            lambda: self.batch.read_namespaced_job(
                name, self.namespace, _request_timeout=REQUEST_TIMEOUT
            ),
        )

    def _job_pods(self, name: str) -> list[Any]:
        """The pods the Job controller started for Job ``name``, oldest first."""
        pods = self._call(
            f"list the pods of Job '{name}'",
            lambda: self.core.list_namespaced_pod(
                self.namespace,
                label_selector=f"{JOB_NAME_LABEL}={name}",
                _request_timeout=REQUEST_TIMEOUT,
            ),
        ).items
        return sorted(pods, key=lambda p: str(p.metadata.creation_timestamp or ""))

    def pod_logs(self, name: str, lines: int = 200) -> list[PodLog]:
        """The pods of Job ``name`` (oldest first), each with the last ``lines`` lines of its
        training log, or why there is none (a pod not started yet says what it waits for)."""
        out: list[PodLog] = []
        for pod in self._job_pods(name):
            pod_name = pod.metadata.name
            phase = (pod.status and pod.status.phase) or "Unknown"
            if phase not in ("Running", "Succeeded", "Failed"):
                waiting = _waiting_reason(pod)
                detail = f" ({waiting})" if waiting else ""
                out.append(PodLog(pod_name, phase, f"no log yet: the pod is {phase}{detail}"))
                continue
            try:
                text = self.core.read_namespaced_pod_log(
                    pod_name,
                    self.namespace,
                    container=TRAINING_CONTAINER,
                    tail_lines=lines,
                    _request_timeout=REQUEST_TIMEOUT,
                )
            except ApiException as exc:
                text = f"log unavailable: {api_message(exc.body) or exc.reason}"
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                text = f"log unavailable: {_network_reason(exc)}"
            out.append(PodLog(pod_name, phase, str(text or "")))
        return out

    def runs(self) -> list[RunSummary]:
        """Training Jobs of the namespace (the chart's and manual ones), newest first."""
        jobs = self._call(
            "list training Jobs",
            lambda: self.batch.list_namespaced_job(
                self.namespace,
                label_selector=f"{COMPONENT_LABEL}=training",
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
        return sorted(out, key=lambda r: (r.created, r.name), reverse=True)

    def follow(
        self,
        name: str,
        on_event: Callable[[JobEvent], None],
        *,
        timeout: float | None = None,
        poll: float = 1.0,
        logs: bool = True,
    ) -> JobOutcome:
        """Report status changes, pod problems, warning events and new log lines until the Job
        ends.

        Raises ClusterError (status 504) when ``timeout`` passes first (the Job keeps running)
        and JobFailedError when the Job is deleted while followed. A failed Job is an outcome, not
        an exception: callers decide what failure means to them.
        """
        began = time.monotonic()
        last_state = ""
        watch = _Watch()
        while True:
            try:
                job = self.read_job(name)
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
                self._report_pods(name, on_event, watch)
                self._report_events(name, on_event, watch)
            if state in ("succeeded", "failed"):
                return JobOutcome(name, state == "succeeded", reason, time.monotonic() - began)
            if timeout is not None and time.monotonic() - began > timeout:
                raise ClusterError(
                    f"Job '{name}' is still {state} after {timeout:g}s; it keeps running "
                    f"(follow it again with `porto-train cluster follow {name}`)",
                    504,
                )
            time.sleep(poll)

    def _report_pods(self, name: str, on_event: Callable[[JobEvent], None], watch: _Watch) -> None:
        """New log lines of the Job's pods, and why a pod does not start (once per reason)."""
        if watch.pods_off:
            return
        try:
            pods = self._job_pods(name)
        except PermissionDeniedError as exc:
            watch.pods_off = True
            on_event(JobEvent("warning", f"not following pods and logs: {exc}"))
            return
        except ClusterError:
            return  # the next round tries again; the Job read reports a dead API server
        for pod in pods:
            pod_name = pod.metadata.name
            watch.pod_names.add(pod_name)
            for problem in _pod_problems(pod):
                watch.warn_once(f"pod/{pod_name}: {problem}", on_event)
            phase = pod.status.phase if pod.status else None
            if phase not in ("Running", "Succeeded", "Failed") or pod_name in watch.logs_done:
                continue
            finished = phase in ("Succeeded", "Failed")
            self._new_log_lines(pod_name, on_event, watch, finished=finished)

    def _new_log_lines(
        self,
        pod: str,
        on_event: Callable[[JobEvent], None],
        watch: _Watch,
        *,
        finished: bool,
    ) -> None:
        try:
            text = self.core.read_namespaced_pod_log(
                pod, self.namespace, container=TRAINING_CONTAINER, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            detail = api_message(exc.body) or str(exc.reason)
            watch.warn_once(f"pod/{pod}: logs unavailable: {detail}", on_event, key=f"{pod}/logs")
            return
        except (urllib3.exceptions.HTTPError, OSError):
            return  # the next round tries again; the Job read reports a dead API server
        lines = str(text or "").splitlines()
        if lines and not finished and not str(text).endswith("\n"):
            lines.pop()  # a line still being written: report it once complete
        for line in lines[watch.seen_lines.get(pod, 0) :]:
            on_event(JobEvent("log", line))
        watch.seen_lines[pod] = max(len(lines), watch.seen_lines.get(pod, 0))
        if finished:
            watch.logs_done.add(pod)

    def _report_events(
        self, name: str, on_event: Callable[[JobEvent], None], watch: _Watch
    ) -> None:
        """Warning events of the Job and its pods (pods the Job controller cannot create, e.g.
        refused by a compute quota; volumes that do not mount; …), once each."""
        if watch.events_off:
            return
        try:
            events = self._call(
                "list events",
                lambda: self.core.list_namespaced_event(
                    self.namespace, field_selector="type=Warning", _request_timeout=REQUEST_TIMEOUT
                ),
            ).items
        except PermissionDeniedError:
            watch.events_off = True  # optional: status and pods still tell the story
            return
        except ClusterError:
            return
        for event in events:
            involved = event.involved_object
            if involved is None or involved.name is None:
                continue
            ours = (involved.kind == "Job" and involved.name == name) or (
                involved.kind == "Pod" and involved.name in watch.pod_names
            )
            if not ours:
                continue
            kind = str(involved.kind).lower()
            text = f"{kind}/{involved.name}: {event.reason}: {event.message or ''}".strip()
            watch.warn_once(text, on_event, key=f"event/{event.metadata.uid}")


@dataclass
class _Watch:
    """What one ``follow`` has already reported."""

    seen_lines: dict[str, int] = field(default_factory=dict)
    logs_done: set[str] = field(default_factory=set)
    pod_names: set[str] = field(default_factory=set)
    warned: set[str] = field(default_factory=set)
    pods_off: bool = False
    events_off: bool = False

    def warn_once(
        self, text: str, on_event: Callable[[JobEvent], None], *, key: str | None = None
    ) -> None:
        if (key or text) in self.warned:
            return
        self.warned.add(key or text)
        on_event(JobEvent("warning", text))


def _pod_problems(pod: Any) -> list[str]:
    """Why a pod does not start and will not without someone fixing something."""
    problems = []
    for status in _container_statuses(pod):
        waiting = status.state and status.state.waiting
        if waiting and waiting.reason in STUCK_REASONS:
            problems.append(f"{waiting.reason}: {waiting.message or ''}".strip().rstrip(":"))
    for condition in (pod.status and pod.status.conditions) or []:
        if condition.type == "PodScheduled" and condition.status == "False" and condition.reason:
            problems.append(f"{condition.reason}: {condition.message or ''}".strip().rstrip(":"))
    return problems


def _network_reason(exc: BaseException) -> str:
    """The useful part of a urllib3/socket error ("[Errno 111] Connection refused", "read timed
    out", a TLS verification failure), without the pool and URL noise around it."""
    reason: BaseException = exc
    while isinstance(reason, urllib3.exceptions.MaxRetryError) and reason.reason is not None:
        reason = reason.reason
    text = " ".join(str(reason).split())
    for marker in ("Failed to establish a new connection: ", "Caused by "):
        if marker in text:
            text = text.split(marker, 1)[1]
    return (text or type(reason).__name__)[:300]


def _waiting_reason(pod: Any) -> str:
    """``<reason>: <message>`` of the first container that waits (e.g. ImagePullBackOff)."""
    for status in _container_statuses(pod):
        waiting = status.state and status.state.waiting
        if waiting and waiting.reason:
            return f"{waiting.reason}: {waiting.message}" if waiting.message else waiting.reason
    return ""


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
