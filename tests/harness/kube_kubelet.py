"""A stand-in kubelet, and the Job controller's pods on it, so the API server has logs to serve.

No kubelet runs on the test control plane (``harness.kube``), so no pod ever starts and
``GET .../pods/<pod>/log`` has nowhere to go. The API server does not read logs itself: it looks
up the pod's Node and proxies the request to ``https://<node address>:<kubeletEndpoint port>/
containerLogs/<namespace>/<pod>/<container>``. ``FakeKubelet`` is an HTTPS server on loopback,
registered as such a Node, that answers those requests with log text a test sets. Any
certificate will do: without ``--kubelet-certificate-authority`` (the harness does not pass it)
the API server does not verify the kubelet's certificate, so the API server's own serving
certificate is reused.

``RunningPods`` plays the rest of the Job controller for on-demand training Jobs: it creates the
pod of each new Job on the fake node, marks it Running, and once its log has been read marks it
Succeeded and releases the Job to ``ControllerStandIns`` (its ``hold``).
"""

from __future__ import annotations

import ssl
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from harness.kube import KubeControlPlane
from harness.ports import LOOPBACK

#: The container whose log porto's launcher reads.
TRAINING_CONTAINER = "training"
#: The labels the Job controller puts on its pods (the current one and the legacy one).
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


class FakeKubelet:
    """An HTTPS server on loopback answering the API server's ``/containerLogs/<ns>/<pod>/<c>``
    requests, registered as a Node whose ``kubeletEndpoint`` it is.

    Tests put each container's log text in ``logs[(namespace, pod, container)]`` (a container
    without one has an empty log); ``served`` counts the log requests per pod name. ``run_pod``
    creates a Job's pod on this node and ``set_phase`` moves it on, as a real kubelet would
    report. Use it as a context manager, or call ``close`` (which deletes the Node).
    """

    def __init__(self, plane: KubeControlPlane, api: k8s.ApiClient) -> None:
        self.logs: dict[tuple[str, str, str], str] = {}
        self.served: dict[str, int] = {}
        # Any: the client's models are Optional everywhere and its methods take plain dicts.
        self.core: Any = k8s.CoreV1Api(api)
        self.batch: Any = k8s.BatchV1Api(api)
        self.server = ThreadingHTTPServer((LOOPBACK, 0), self._handler())
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # Not verified by the API server (no --kubelet-certificate-authority): any will do.
        pki = plane.apiserver.pki
        tls.load_cert_chain(pki.serving_cert, pki.serving_key)
        self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.node = f"fake-node-{uuid.uuid4().hex[:8]}"
        try:
            self._register_node()
        except BaseException:
            self._stop_server()
            raise

    def _register_node(self) -> None:
        """Register this server as a Node: the API server sends its pods' log requests here."""
        port = self.server.server_address[1]
        self.core.create_node(
            {
                "metadata": {"name": self.node},
                "status": {
                    "addresses": [{"type": "InternalIP", "address": LOOPBACK}],
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
                },
            }
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        kubelet = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                parts = url.path.strip("/").split("/")
                if len(parts) != 4 or parts[0] != "containerLogs":
                    self.send_error(404)
                    return
                _, namespace, pod, container = parts
                kubelet.served[pod] = kubelet.served.get(pod, 0) + 1
                text = kubelet.logs.get((namespace, pod, container), "")
                # The kubelet, not the API server, applies ?tailLines=N.
                tail = urllib.parse.parse_qs(url.query).get("tailLines")
                if tail:
                    text = "".join(text.splitlines(keepends=True)[-int(tail[0]) :])
                body = text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def run_pod(
        self,
        namespace: str,
        job: str | Any,
        log: str,
        status: dict[str, Any] | None = None,
        container: str = TRAINING_CONTAINER,
    ) -> str:
        """Create the pod the Job controller would create for ``job`` (a name, or the Job as
        the client read it) on this node, with ``status`` (default: Running) and ``log`` as
        ``container``'s log so far; return the pod's name."""
        if isinstance(job, str):
            job = self.batch.read_namespaced_job(job, namespace)
        job_name = job.metadata.name
        template = self.core.api_client.sanitize_for_serialization(job.spec.template)
        name = f"{job_name}-{uuid.uuid4().hex[:5]}"
        labels = {
            **template.get("metadata", {}).get("labels", {}),
            **dict.fromkeys(JOB_NAME_LABELS, job_name),
        }
        owner = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": job_name,
            "uid": job.metadata.uid,
            "controller": True,
        }
        body = {
            "metadata": {"name": name, "labels": labels, "ownerReferences": [owner]},
            "spec": {**template["spec"], "nodeName": self.node},
        }
        self.logs[(namespace, name, container)] = log
        self.core.create_namespaced_pod(namespace, body)
        self.core.patch_namespaced_pod_status(
            name, namespace, {"status": status or {"phase": "Running"}}
        )
        return name

    def set_phase(self, namespace: str, pod: str, phase: str) -> None:
        """Report ``pod``'s phase (e.g. ``Succeeded``) through its status subresource."""
        self.core.patch_namespaced_pod_status(pod, namespace, {"status": {"phase": phase}})

    def _stop_server(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def close(self) -> None:
        """Delete the Node and stop the server."""
        try:
            self.core.delete_node(self.node)
        finally:
            self._stop_server()

    def __enter__(self) -> FakeKubelet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RunningPods:
    """A thread that plays the Job controller for the Jobs of ``namespace`` whose name starts
    with ``prefix`` (e.g. a chart's on-demand ``generateName``): it starts each one's pod on
    ``kubelet``'s node (Running, with ``log`` as its training container's log); once that log has
    been read, it marks the pod Succeeded and releases the Job. Pass ``hold`` to
    ``ControllerStandIns``, which then completes the Job.

    ``pods`` maps each Job to its pod, ``released`` holds the Jobs let go, ``errors`` the API
    errors the thread met (a test asserts there are none).
    """

    def __init__(
        self,
        kubelet: FakeKubelet,
        api: k8s.ApiClient,
        namespace: str,
        log: str,
        *,
        prefix: str,
    ) -> None:
        self.kubelet, self.namespace, self.log, self.prefix = kubelet, namespace, log, prefix
        self.core: Any = k8s.CoreV1Api(api)
        self.batch: Any = k8s.BatchV1Api(api)
        self.pods: dict[str, str] = {}  # Job → pod
        self.released: set[str] = set()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"running-pods-{namespace}", daemon=True
        )

    def hold(self, job: str) -> bool:
        """Whether ``ControllerStandIns`` should leave ``job`` running (its log not read yet)."""
        return job not in self.released

    def __enter__(self) -> RunningPods:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self._step()
            except ApiException as exc:
                self.errors.append(f"{exc.status}: {exc.body}")

    def _step(self) -> None:
        for job in self.batch.list_namespaced_job(self.namespace).items:
            name = job.metadata.name
            if name.startswith(self.prefix) and name not in self.pods:
                self.pods[name] = self.kubelet.run_pod(self.namespace, job, self.log)
        for job, pod in self.pods.items():
            if job not in self.released and pod in self.kubelet.served:
                self.kubelet.set_phase(self.namespace, pod, "Succeeded")
                self.released.add(job)
