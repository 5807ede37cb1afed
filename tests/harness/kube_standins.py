"""Stand-ins for the controllers a test control plane lacks (Job controller, kubelet).

Only the API server and etcd run, so nothing moves a Job or a Pod past "created". Helm waits for
its hook Jobs to complete and for its test pods to succeed; porto's launcher follows a Job to its
end. A ``ControllerStandIns`` thread writes, through the status subresource and the API server's
own validation, the status the real controllers would write: Jobs complete (or fail, for names
a test lists) and pods of ``helm test`` succeed. Everything else about the objects is what the
chart or the launcher created.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

POLL_SECONDS = 0.2


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _finished(job: Any) -> bool:
    conditions = (job.status and job.status.conditions) or []
    return any(c.type in ("Complete", "Failed") and c.status == "True" for c in conditions)


def job_status(*, succeed: bool, started: str | None = None) -> dict[str, Any]:
    """The status body the Job controller writes when a one-pod Job ends."""
    started = started or _now()
    now = _now()

    def condition(kind: str, reason: str) -> dict[str, str]:
        return {
            "type": kind,
            "status": "True",
            "reason": reason,
            "message": f"set by the porto test harness ({reason})",
            "lastProbeTime": now,
            "lastTransitionTime": now,
        }

    if succeed:
        return {
            "startTime": started,
            "completionTime": now,
            "active": 0,
            "ready": 0,
            "succeeded": 1,
            "conditions": [
                condition("SuccessCriteriaMet", "CompletionsReached"),
                condition("Complete", "CompletionsReached"),
            ],
        }
    return {
        "startTime": started,
        "active": 0,
        "ready": 0,
        "failed": 1,
        "conditions": [
            condition("FailureTarget", "BackoffLimitExceeded"),
            condition("Failed", "BackoffLimitExceeded"),
        ],
    }


class ControllerStandIns:
    """A thread that, in one namespace, finishes every Job and succeeds every helm test pod.

    ``fail`` decides per Job name whether it fails instead of completing; ``hold`` keeps a Job
    running (untouched) while it returns True, so a test can watch the in-between state.
    """

    def __init__(
        self,
        api: k8s.ApiClient,
        namespace: str,
        *,
        fail: Callable[[str], bool] = lambda _name: False,
        hold: Callable[[str], bool] = lambda _name: False,
    ) -> None:
        # Any: the client's Optional-everywhere models would need a None check per field.
        self.batch: Any = k8s.BatchV1Api(api)
        self.core: Any = k8s.CoreV1Api(api)
        self.namespace = namespace
        self.fail = fail
        self.hold = hold
        self.completed: list[str] = []
        self.failed: list[str] = []
        self.test_pods: list[str] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"standins-{namespace}", daemon=True)

    def __enter__(self) -> ControllerStandIns:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self._finish_jobs()
                self._succeed_test_pods()
            except ApiException as exc:  # a conflict or a deleted object: try again next round
                if exc.status not in (404, 409):
                    self.errors.append(f"{exc.status} {exc.reason}: {exc.body}")

    def _finish_jobs(self) -> None:
        for job in self.batch.list_namespaced_job(self.namespace).items:
            name = job.metadata.name
            if _finished(job) or self.hold(name):
                continue
            started = (job.status and job.status.start_time) or None
            succeed = not self.fail(name)
            body = {
                "status": job_status(
                    succeed=succeed,
                    started=started.strftime("%Y-%m-%dT%H:%M:%SZ") if started else None,
                )
            }
            self.batch.patch_namespaced_job_status(name, self.namespace, body)
            (self.completed if succeed else self.failed).append(name)

    def _succeed_test_pods(self) -> None:
        for pod in self.core.list_namespaced_pod(self.namespace).items:
            annotations = pod.metadata.annotations or {}
            if annotations.get("helm.sh/hook") != "test":
                continue
            if pod.status and pod.status.phase in ("Succeeded", "Failed"):
                continue
            body = {"status": {"phase": "Succeeded", "startTime": _now()}}
            self.core.patch_namespaced_pod_status(pod.metadata.name, self.namespace, body)
            self.test_pods.append(pod.metadata.name)
