"""Where the Kubernetes API is and who we are to it: in-cluster ServiceAccount or kubeconfig."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException

from porto.cluster.errors import ClusterUnreachableError

#: Where a pod finds its ServiceAccount (token, CA, namespace).
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass
class ClusterConnection:
    """An API client, the namespace to work in, and a description for messages."""

    api: k8s.ApiClient
    namespace: str
    server: str

    def close(self) -> None:
        """Release the client's connection pool."""
        self.api.close()


def _in_cluster() -> bool:
    return (
        bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
        and (SERVICE_ACCOUNT_DIR / "token").is_file()
    )


def connect(
    kubeconfig: str | Path | None = None,
    *,
    context: str | None = None,
    namespace: str | None = None,
) -> ClusterConnection:
    """Connect with ``kubeconfig`` when given, else in-cluster when running in a pod, else the
    default kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``).

    The namespace is ``namespace`` when given, else the pod's own (in-cluster) or the context's,
    else ``default``.
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
            k8s.ApiClient(configuration), namespace or pod_namespace, configuration.host
        )

    path = str(kubeconfig) if kubeconfig is not None else None
    if path is None:
        path = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or str(
            Path.home() / ".kube" / "config"
        )
    if not Path(path).expanduser().is_file():
        raise ClusterUnreachableError(
            f"no Kubernetes configuration: {path} does not exist (set KUBECONFIG, pass "
            "--kubeconfig, or run inside the cluster)"
        )
    configuration = k8s.Configuration()
    try:
        k8s_config.load_kube_config(
            config_file=path, context=context, client_configuration=configuration
        )
        contexts, active = k8s_config.list_kube_config_contexts(config_file=path)
    except (ConfigException, ValueError, KeyError, TypeError) as exc:
        raise ClusterUnreachableError(f"unusable kubeconfig {path}: {exc}") from exc
    chosen = next((c for c in contexts if c.get("name") == context), active) if context else active
    context_namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return ClusterConnection(
        k8s.ApiClient(configuration),
        namespace or context_namespace or "default",
        configuration.host,
    )
