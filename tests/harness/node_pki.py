"""The certificates of the node's components, generated at every ``node up``.

One CA signs the API server's serving certificate (the node's address, the ``kubernetes``
Service's ClusterIP and names) and a client certificate per component, named as Kubernetes'
default RBAC expects: ``system:kube-controller-manager``, ``system:kube-scheduler``,
``system:kube-proxy``, the kubelet as ``system:node:<node>`` in ``system:nodes`` (the Node
authorizer and NodeRestriction admission), the API server's client towards kubelets, and the
admin in ``system:masters``. The ServiceAccount signing key pair sits beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.kube_certs import (
    _issue,
    _key,
    _name,
    _write_cert,
    _write_key,
    issue_apiserver_serving,
    issue_client,
    write_service_account_keys,
)

#: Client certificates: file stem -> (common name, organisation).
CLIENTS = {
    "admin": ("porto-node-admin", "system:masters"),
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", None),
    "scheduler": ("system:kube-scheduler", None),
    "proxy": ("system:kube-proxy", None),
}


@dataclass(frozen=True)
class NodePki:
    """Where the files are: ``cert(name)`` / ``key(name)`` for every client in ``CLIENTS`` and
    ``kubelet``, plus the CA, the serving pair and the ServiceAccount keys."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def sa_public(self) -> Path:
        return self.directory / "sa.pub"

    @property
    def sa_private(self) -> Path:
        return self.directory / "sa.key"

    def cert(self, name: str) -> Path:
        return self.directory / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.directory / f"{name}.key"


def generate_node_pki(directory: Path, node: str, addresses: list[str]) -> NodePki:
    """Write a fresh CA and every certificate the node's components use; ``addresses`` are the
    API server's IP SANs (the node's address, the ``kubernetes`` ClusterIP, loopback)."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = NodePki(directory)
    ca_key = _key()
    ca_name = _name("porto-node-ca")
    _write_cert(_issue(ca_name, ca_key, ca_name, ca_key, ca=True), pki.ca_cert)
    _write_key(ca_key, pki.ca_key)

    names = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
    serving_key, serving = issue_apiserver_serving(
        ca_name, ca_key, addresses, [*names, "kubernetes.default.svc.cluster.local"]
    )
    _write_cert(serving, pki.cert("apiserver"))
    _write_key(serving_key, pki.key("apiserver"))

    clients = dict(CLIENTS)
    clients["kubelet"] = (f"system:node:{node}", "system:nodes")
    for stem, (common, org) in clients.items():
        key, cert = issue_client(ca_name, ca_key, common, org)
        _write_cert(cert, pki.cert(stem))
        _write_key(key, pki.key(stem))

    write_service_account_keys(pki.sa_private, pki.sa_public)
    return pki
