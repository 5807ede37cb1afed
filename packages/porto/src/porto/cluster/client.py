"""Where the Kubernetes API is and who we are to it: in-cluster ServiceAccount or kubeconfig."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException

from porto.cluster.errors import ClusterUnreachableError

#: Where a pod finds its ServiceAccount (token, CA, namespace).
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: Connection attempts per request: a refused or dropped connection is retried briefly, a request
#: the server received never is (creating a Job twice would start two runs).
RETRIES = urllib3.Retry(total=2, connect=2, read=0, status=0, other=0, backoff_factor=0.2)


@dataclass
class ClusterConnection:
    """An API client, the namespace to work in, and a description for messages."""

    api: k8s.ApiClient
    namespace: str
    server: str

    def close(self) -> None:
        """Release the client's connection pool."""
        self.api.close()

    def __enter__(self) -> ClusterConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _in_cluster() -> bool:
    return (
        bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
        and (SERVICE_ACCOUNT_DIR / "token").is_file()
    )


def _client(configuration: k8s.Configuration) -> k8s.ApiClient:
    configuration.retries = RETRIES
    return k8s.ApiClient(configuration)


def connect(
    kubeconfig: str | Path | None = None,
    *,
    context: str | None = None,
    namespace: str | None = None,
) -> ClusterConnection:
    """Connect with ``kubeconfig`` when given, else in-cluster when running in a pod, else the
    default kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``).

    The namespace is ``namespace`` when given, else the pod's own (in-cluster) or the context's,
    else ``default``. Raises ClusterUnreachableError when no usable configuration is found; no
    request is made yet, so an API server that does not answer shows on the first call.
    """
    if kubeconfig is None and context is None and _in_cluster():
        configuration = k8s.Configuration()
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except ConfigException as exc:
            raise ClusterUnreachableError(f"in-cluster Kubernetes configuration: {exc}") from exc
        own = SERVICE_ACCOUNT_DIR / "namespace"
        pod_namespace = own.read_text().strip() if own.is_file() else "default"
        return ClusterConnection(
            _client(configuration), namespace or pod_namespace, configuration.host
        )

    path = str(kubeconfig) if kubeconfig is not None else None
    if path is None:
        path = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or str(
            Path.home() / ".kube" / "config"
        )
    if not Path(path).expanduser().is_file():
        raise ClusterUnreachableError(
            f"no Kubernetes configuration: {path} is not a file (set KUBECONFIG, pass "
            "--kubeconfig, or run inside the cluster)"
        )
    configuration = k8s.Configuration()
    try:
        # persist_config=False: never write refreshed credentials back into the user's file.
        k8s_config.load_kube_config(
            config_file=path,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
        contexts, active = k8s_config.list_kube_config_contexts(config_file=path)
    except (ConfigException, yaml.YAMLError, OSError, ValueError, KeyError, TypeError) as exc:
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise ClusterUnreachableError(f"unusable kubeconfig {path}: {detail}") from exc
    chosen = next((c for c in contexts if c.get("name") == context), active) if context else active
    context_namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return ClusterConnection(
        _client(configuration),
        namespace or context_namespace or "default",
        configuration.host,
    )
