"""What a kind cluster has running beside the control plane, applied to the node by ``up``:
CoreDNS (Service ``kube-dns`` at the node's DNS address) and the local-path provisioner with
the default StorageClass ``standard`` (kind's name), so PVCs bind to directories on the node.

Both run from the node's own images (``harness.node_images``), as non-root where they can:
CoreDNS listens on 1053 and the Service maps 53 to it; the provisioner's helper pods (which
make and remove the volume directories) run busybox as root, as upstream's do.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from harness.node import DNS_SERVICE_IP, NodeError, _wait
from harness.node_images import tool_version

if TYPE_CHECKING:
    from harness.node import Node

COREFILE = """.:1053 {
    errors
    health :8080
    ready :8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    prometheus :9153
    cache 30
    loop
    reload
}
"""

_RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def _rbac(name: str, namespace: str, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": f"porto-node:{name}"},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"porto-node:{name}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"porto-node:{name}",
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    ]


def deployment(
    name: str,
    namespace: str,
    labels: dict[str, str],
    account: str,
    container: dict[str, Any],
    *,
    user: int = 65534,
    **pod: Any,
) -> dict[str, Any]:
    """A one-replica Deployment of one container from a node image (never pulled), locked down
    (non-root ``user``, read-only root, no capabilities); ``pod`` adds pod spec fields."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": account,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": user,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {"imagePullPolicy": "Never", "securityContext": _RESTRICTED, **container}
                    ],
                    **pod,
                },
            },
        },
    }


def coredns() -> list[dict[str, Any]]:
    labels = {"k8s-app": "kube-dns"}
    image = f"porto-coredns:{tool_version('coredns')}"
    rules = [
        {
            "apiGroups": [""],
            "resources": ["endpoints", "services", "pods", "namespaces"],
            "verbs": ["list", "watch"],
        },
        {
            "apiGroups": ["discovery.k8s.io"],
            "resources": ["endpointslices"],
            "verbs": ["list", "watch"],
        },
    ]
    return [
        *_rbac("coredns", "kube-system", rules),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "coredns", "namespace": "kube-system"},
            "data": {"Corefile": COREFILE},
        },
        deployment(
            "coredns",
            "kube-system",
            labels,
            "coredns",
            {
                "name": "coredns",
                "image": image,
                "args": ["-conf", "/etc/coredns/Corefile"],
                "ports": [
                    {"name": "dns", "containerPort": 1053, "protocol": "UDP"},
                    {"name": "dns-tcp", "containerPort": 1053, "protocol": "TCP"},
                    {"name": "metrics", "containerPort": 9153, "protocol": "TCP"},
                ],
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}},
                "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}},
                "resources": {
                    "requests": {"cpu": "50m", "memory": "32Mi"},
                    "limits": {"memory": "128Mi"},
                },
                "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
            },
            user=65532,
            priorityClassName="system-cluster-critical",
            dnsPolicy="Default",
            volumes=[{"name": "config", "configMap": {"name": "coredns"}}],
        ),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
            "spec": {
                "selector": labels,
                "clusterIP": DNS_SERVICE_IP,
                "ports": [
                    {"name": "dns", "port": 53, "targetPort": 1053, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "targetPort": 1053, "protocol": "TCP"},
                    {"name": "metrics", "port": 9153, "targetPort": 9153, "protocol": "TCP"},
                ],
            },
        },
    ]


LOCAL_PATH_ACCOUNT = "local-path-provisioner-service-account"
LOCAL_PATH_SETUP = """#!/bin/sh
set -eu
mkdir -m 0777 -p "$VOL_DIR"
"""
LOCAL_PATH_TEARDOWN = """#!/bin/sh
set -eu
rm -rf "$VOL_DIR"
"""


def local_path_provisioner(volumes: str) -> list[dict[str, Any]]:
    namespace = "local-path-storage"
    labels = {"app": "local-path-provisioner"}
    helper = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "helper-pod"},
        "spec": {
            "priorityClassName": "system-node-critical",
            "containers": [
                {"name": "helper-pod", "image": "porto-busybox:1", "imagePullPolicy": "Never"}
            ],
        },
    }
    config = {"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": [volumes]}]}
    rules = [
        {
            "apiGroups": [""],
            "resources": ["nodes", "persistentvolumeclaims", "configmaps", "pods", "pods/log"],
            "verbs": ["get", "list", "watch"],
        },
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete", "patch"]},
        {
            "apiGroups": [""],
            "resources": ["persistentvolumes"],
            "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"],
        },
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
        {
            "apiGroups": ["storage.k8s.io"],
            "resources": ["storageclasses"],
            "verbs": ["get", "list", "watch"],
        },
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["get", "create", "update", "delete"],
        },
    ]
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        # Upstream's account name: the provisioner runs its helper pods as it too.
        *_rbac(LOCAL_PATH_ACCOUNT, namespace, rules),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "local-path-config", "namespace": namespace},
            "data": {
                "config.json": json.dumps(config),
                "setup": LOCAL_PATH_SETUP,
                "teardown": LOCAL_PATH_TEARDOWN,
                "helperPod.yaml": json.dumps(helper),
            },
        },
        deployment(
            "local-path-provisioner",
            namespace,
            labels,
            LOCAL_PATH_ACCOUNT,
            {
                "name": "local-path-provisioner",
                "image": "porto-local-path-provisioner:" + tool_version("local-path-provisioner"),
                "command": [
                    "/usr/bin/local-path-provisioner",
                    "start",
                    "--config",
                    "/etc/config/config.json",
                    "--helper-image",
                    "porto-busybox:1",
                ],
                "env": [
                    {
                        "name": "POD_NAMESPACE",
                        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                    },
                    {"name": "CONFIG_MOUNT_PATH", "value": "/etc/config/"},
                ],
                "volumeMounts": [{"name": "config", "mountPath": "/etc/config/"}],
            },
            user=65532,
            volumes=[{"name": "config", "configMap": {"name": "local-path-config"}}],
        ),
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": "standard",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "rancher.io/local-path",
            "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Delete",
        },
    ]


def apply(node: Node, documents: list[dict[str, Any]]) -> None:
    """``kubectl apply --server-side`` the documents."""
    body = "\n".join(json.dumps(doc) for doc in documents).encode()
    node.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=body)


def rollout(
    node: Node, namespace: str, workload: str, timeout: float = 180, logs_of: str | None = None
) -> None:
    """Wait for a workload's rollout (``deployment/x``, ``statefulset/x``, ``daemonset/x``);
    NodeError with the namespace's pods, its events and the tail of ``logs_of``'s log if it
    does not finish."""
    out = node.kubectl(
        "-n",
        namespace,
        "rollout",
        "status",
        workload,
        f"--timeout={int(timeout)}s",
        check=False,
        timeout=timeout + 30,
    )
    if out.returncode != 0:
        pods = node.kubectl("-n", namespace, "get", "pods", "-o", "wide", check=False)
        events = node.kubectl(
            "-n", namespace, "get", "events", "--sort-by=.lastTimestamp", check=False
        )
        logs = (
            node.kubectl("-n", namespace, "logs", logs_of, "--tail=30", check=False).stdout
            if logs_of
            else b""
        )
        raise NodeError(
            f"{namespace}/{workload} did not roll out: {out.stderr.decode().strip()}\n"
            f"{pods.stdout.decode()}\n{events.stdout.decode()[-3000:]}\n{logs.decode()}"
        )


def apply_addons(node: Node) -> None:
    """CoreDNS and the local-path provisioner, waiting until both run."""
    _wait(
        lambda: (
            node.kubectl(
                "-n", "kube-system", "get", "serviceaccount", "default", check=False
            ).returncode
            == 0
        ),
        60,
        "the kube-system default ServiceAccount",
    )
    apply(node, coredns() + local_path_provisioner(str(node.paths.volumes)))
    rollout(node, "kube-system", "deployment/coredns")
    rollout(node, "local-path-storage", "deployment/local-path-provisioner")
