"""A real Kubernetes control plane on loopback: etcd and kube-apiserver, as envtest runs them.

No kubelet, scheduler or controller-manager runs, so pods never start: tests check what the API
server accepts, validates, defaults and stores (and ``harness.kube_standins`` plays the few
controller parts a test needs, such as marking a Job complete). Authentication is by bearer
token (``--token-auth-file``: an admin in ``system:masters`` and an unprivileged user) and by
client certificate (the admin certificate from ``harness.kube_certs``); authorisation is RBAC,
so permission errors are the API server's own.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from harness.kube_certs import KubePki, generate_pki
from harness.ports import LOOPBACK, free_port, http_ok, port_open, wait_for_http, wait_until
from harness.process import spawn
from harness.server import LoopbackServer
from harness.timing import DEADLINE
from harness.tools import tool_path

#: The ServiceAccount issuer and audience of tokens the API server signs.
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
SERVICE_CIDR = "10.96.0.0/16"
#: The unprivileged user in the token file: authenticated, bound to nothing.
NOBODY = "porto-nobody"


class EtcdServer(LoopbackServer):
    """One etcd member on loopback client and peer ports, fsync off (test data only)."""

    def __init__(self, binary: Path | None = None, root: Path | None = None) -> None:
        self.binary = binary or tool_path("etcd")
        super().__init__(root, "porto-etcd-")
        self.peer_port = free_port()
        self.log = self.root / "etcd.log"

    @property
    def endpoint(self) -> str:
        """The client URL, e.g. ``http://127.0.0.1:41234``."""
        return f"http://{LOOPBACK}:{self.port}"

    def _start_once(self, timeout: float) -> None:
        if port_open(self.port) or port_open(self.peer_port):
            raise RuntimeError(f"port {self.port} or {self.peer_port} is already taken")
        began = time.monotonic()
        peer = f"http://{LOOPBACK}:{self.peer_port}"
        argv = [
            str(self.binary),
            "--name=porto-test",
            f"--data-dir={self.root / 'data'}",
            f"--listen-client-urls={self.endpoint}",
            f"--advertise-client-urls={self.endpoint}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=porto-test={peer}",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ]
        self._proc = spawn(argv, self.log, env={"PATH": "/usr/bin:/bin"}, cwd=self.root)
        self._await_ready(
            "etcd",
            lambda: wait_for_http(f"{self.endpoint}/health", timeout, alive=lambda: self.running),
            self.log,
        )
        self.startup_seconds = time.monotonic() - began
        self._started_once = True

    def ready(self) -> bool:
        """Whether etcd answers its health endpoint."""
        return http_ok(f"{self.endpoint}/health")


class KubeApiServer(LoopbackServer):
    """kube-apiserver on a loopback port, backed by ``etcd``, with RBAC and token/cert auth."""

    def __init__(self, etcd: EtcdServer, binary: Path | None = None, root: Path | None = None):
        self.binary = binary or tool_path("kube-apiserver")
        super().__init__(root, "porto-kube-apiserver-")
        self.etcd = etcd
        self.log = self.root / "kube-apiserver.log"
        self.pki: KubePki = generate_pki(self.root / "pki")
        self.admin_token = secrets.token_urlsafe(24)
        self.nobody_token = secrets.token_urlsafe(24)
        self._tokens = self.root / "tokens.csv"
        self._tokens.write_text(
            f'{self.admin_token},porto-admin,porto-admin,"system:masters"\n'
            f"{self.nobody_token},{NOBODY},{NOBODY}\n"
        )
        self._tokens.chmod(0o600)

    @property
    def url(self) -> str:
        """The API server URL, e.g. ``https://127.0.0.1:41234``."""
        return f"https://{LOOPBACK}:{self.port}"

    def _ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.pki.ca_cert))

    def get(self, path: str, token: str | None = None) -> tuple[int, str]:
        """GET ``path`` with a bearer token (default: the admin's); return status and body."""
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"Bearer {token or self.admin_token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5, context=self._ssl()) as resp:
                return int(resp.status), resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def ready(self) -> bool:
        """Whether ``/readyz`` answers 200 (every post-start hook, RBAC bootstrap included)."""
        try:
            return self.get("/readyz")[0] == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    def _start_once(self, timeout: float) -> None:
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is already taken")
        began = time.monotonic()
        pki = self.pki
        argv = [
            str(self.binary),
            f"--etcd-servers={self.etcd.endpoint}",
            f"--bind-address={LOOPBACK}",
            f"--advertise-address={LOOPBACK}",
            f"--secure-port={self.port}",
            f"--cert-dir={self.root / 'certs'}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--token-auth-file={self._tokens}",
            f"--service-account-issuer={SA_ISSUER}",
            f"--service-account-key-file={pki.sa_public}",
            f"--service-account-signing-key-file={pki.sa_private}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=RBAC",
            "--allow-privileged=false",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            "--v=1",
        ]
        self._proc = spawn(argv, self.log, env={"PATH": "/usr/bin:/bin"}, cwd=self.root)
        what = f"kube-apiserver {self.url}/readyz"
        self._await_ready(
            "kube-apiserver",
            lambda: wait_until(self.ready, timeout, what, alive=lambda: self.running),
            self.log,
            lines=40,
        )
        self.startup_seconds = time.monotonic() - began
        self._started_once = True

    def kubeconfig(
        self,
        path: Path,
        *,
        token: str | None = None,
        client_cert: bool = False,
        user: str = "admin",
        namespace: str = "default",
    ) -> Path:
        """Write a kubeconfig for this server: bearer ``token`` (default the admin's), or the
        admin client certificate with ``client_cert``."""
        ca = base64.b64encode(self.pki.ca_cert.read_bytes()).decode()
        credentials: dict[str, str]
        if client_cert:
            credentials = {
                "client-certificate-data": base64.b64encode(
                    self.pki.admin_cert.read_bytes()
                ).decode(),
                "client-key-data": base64.b64encode(self.pki.admin_key.read_bytes()).decode(),
            }
        else:
            credentials = {"token": token or self.admin_token}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "porto-test",
                    "cluster": {"server": self.url, "certificate-authority-data": ca},
                }
            ],
            "users": [{"name": user, "user": credentials}],
            "contexts": [
                {
                    "name": "porto-test",
                    "context": {"cluster": "porto-test", "user": user, "namespace": namespace},
                }
            ],
            "current-context": "porto-test",
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)
        return path


class KubeControlPlane:
    """etcd + kube-apiserver, an admin kubeconfig, clients, and namespace/CRD helpers."""

    def __init__(self, root: Path | None = None) -> None:
        # Resolve both binaries before creating anything, so a missing tool leaves no temp dir.
        etcd_bin, apiserver_bin = tool_path("etcd"), tool_path("kube-apiserver")
        self.etcd = EtcdServer(etcd_bin, root / "etcd" if root else None)
        self.apiserver = KubeApiServer(
            self.etcd, apiserver_bin, root / "apiserver" if root else None
        )
        self.kubeconfig = self.apiserver.root / "kubeconfig"
        self.startup_seconds: float | None = None

    def start(self) -> None:
        """Start etcd, then the API server; write the admin kubeconfig."""
        began = time.monotonic()
        self.etcd.start()
        self.apiserver.start()
        self.apiserver.kubeconfig(self.kubeconfig)
        self.startup_seconds = time.monotonic() - began

    def close(self) -> None:
        """Stop both servers and remove their directories."""
        self.apiserver.close()
        self.etcd.close()

    def __enter__(self) -> KubeControlPlane:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The API server URL."""
        return self.apiserver.url

    def api_client(self, kubeconfig: Path | None = None) -> k8s.ApiClient:
        """A ``kubernetes`` ApiClient from ``kubeconfig`` (default: the admin's)."""
        api: k8s.ApiClient = k8s_config.new_client_from_config(
            config_file=str(kubeconfig or self.kubeconfig)
        )
        return api

    def token_kubeconfig(self, token: str, name: str, namespace: str = "default") -> Path:
        """A kubeconfig authenticating with ``token`` (e.g. a ServiceAccount's)."""
        return self.apiserver.kubeconfig(
            self.apiserver.root / "kubeconfigs" / f"{name}.yaml",
            token=token,
            user=name,
            namespace=namespace,
        )

    def nobody_kubeconfig(self, namespace: str = "default") -> Path:
        """A kubeconfig of an authenticated user with no RBAC bindings."""
        return self.token_kubeconfig(self.apiserver.nobody_token, NOBODY, namespace)

    def create_namespace(self, name: str, labels: dict[str, str] | None = None) -> str:
        """Create namespace ``name`` (with ``labels``) and its ``default`` ServiceAccount.

        The ServiceAccount controller (controller-manager) that would create it does not run,
        and the ServiceAccount admission plugin refuses pods whose account does not exist.
        """
        with self.api_client() as api:
            core = k8s.CoreV1Api(api)
            core.create_namespace(
                k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels=labels))
            )
            core.create_namespaced_service_account(
                name, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name="default"))
            )
        return name

    def new_namespace(self, prefix: str, labels: dict[str, str] | None = None) -> str:
        """Create a namespace of a test's own, ``<prefix>-<8 random hex digits>`` (the session's
        cluster is shared, and namespaces are never reused), as ``create_namespace`` does."""
        return self.create_namespace(f"{prefix}-{uuid.uuid4().hex[:8]}", labels)

    def service_account_token(self, namespace: str, name: str, seconds: int = 3600) -> str:
        """A token for ServiceAccount ``namespace/name`` from the TokenRequest API."""
        with self.api_client() as api:
            request = k8s.AuthenticationV1TokenRequest(
                spec=k8s.V1TokenRequestSpec(audiences=[SA_ISSUER], expiration_seconds=seconds)
            )
            core: Any = k8s.CoreV1Api(api)
            answer = core.create_namespaced_service_account_token(name, namespace, request)
            return str(answer.status.token)

    def install_crds(self, documents: Iterable[dict[str, Any]], timeout: float = DEADLINE) -> None:
        """Create CustomResourceDefinitions and wait until each is Established."""
        with self.api_client() as api:
            ext: Any = k8s.ApiextensionsV1Api(api)
            names = []
            for doc in documents:
                ext.create_custom_resource_definition(doc)
                names.append(doc["metadata"]["name"])

            def established() -> bool:
                for name in names:
                    crd = ext.read_custom_resource_definition(name)
                    conditions = crd.status.conditions or []
                    if not any(c.type == "Established" and c.status == "True" for c in conditions):
                        return False
                return True

            wait_until(established, timeout, f"CRDs {names} to be established", interval=0.2)


@contextmanager
def kube_control_plane(root: Path | None = None) -> Iterator[KubeControlPlane]:
    """Start a control plane for the ``with`` block."""
    with KubeControlPlane(root) as plane:
        yield plane


def dump(obj: Any) -> str:
    """A kubernetes client object as JSON (for assertion messages)."""
    return json.dumps(k8s.ApiClient().sanitize_for_serialization(obj), indent=1)[:4000]
