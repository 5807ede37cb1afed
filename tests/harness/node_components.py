"""The command lines and configuration files of the node's processes (``harness.node``).

Every listener binds the node's bridge address or loopback, never all interfaces: the API
server and the kubelet on ``NODE_IP`` (pods and the host reach them there), etcd, the
controller-manager, the scheduler and kube-proxy's health and metrics on 127.0.0.1.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from harness.kube import SA_ISSUER
from harness.node import (
    APISERVER_PORT,
    BRIDGE,
    DNS_SERVICE_IP,
    ETCD_PORTS,
    NODE_IP,
    NODE_NAME,
    POD_CIDR,
    SERVICE_CIDR,
    NodePaths,
)

#: The sandbox image every pod starts with (made by harness.node_images; never pulled).
PAUSE_IMAGE = "docker.io/library/porto-pause:1"


def _conf(paths: NodePaths, name: str) -> Path:
    return paths.state / "conf" / name


def etcd_argv(binary: Path, paths: NodePaths) -> list[str]:
    client, peer = (f"http://127.0.0.1:{port}" for port in ETCD_PORTS)
    return [
        str(binary),
        f"--name={NODE_NAME}",
        f"--data-dir={paths.state / 'etcd'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster={NODE_NAME}={peer}",
        "--listen-metrics-urls=",
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    ]


def apiserver_argv(binary: Path, paths: NodePaths) -> list[str]:
    pki = paths.pki
    return [
        str(binary),
        f"--etcd-servers=http://127.0.0.1:{ETCD_PORTS[0]}",
        f"--bind-address={NODE_IP}",
        f"--advertise-address={NODE_IP}",
        f"--secure-port={APISERVER_PORT}",
        f"--cert-dir={paths.state / 'apiserver-certs'}",
        f"--tls-cert-file={pki.cert('apiserver')}",
        f"--tls-private-key-file={pki.key('apiserver')}",
        f"--client-ca-file={pki.ca_cert}",
        f"--kubelet-client-certificate={pki.cert('apiserver-kubelet-client')}",
        f"--kubelet-client-key={pki.key('apiserver-kubelet-client')}",
        "--kubelet-preferred-address-types=InternalIP",
        f"--service-account-issuer={SA_ISSUER}",
        f"--service-account-key-file={pki.sa_public}",
        f"--service-account-signing-key-file={pki.sa_private}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true",
        "--profiling=false",
        "--v=1",
    ]


def _served_by_kubeconfig(paths: NodePaths, stem: str, port: int) -> list[str]:
    kubeconfig = _conf(paths, f"{stem}.kubeconfig")
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={paths.state / (stem + '-certs')}",
        "--leader-elect=false",
        "--profiling=false",
        "--v=1",
    ]


def controller_manager_argv(binary: Path, paths: NodePaths) -> list[str]:
    pki = paths.pki
    return [
        str(binary),
        *_served_by_kubeconfig(paths, "controller-manager", 10257),
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki.sa_private}",
        f"--root-ca-file={pki.ca_cert}",
        f"--cluster-signing-cert-file={pki.ca_cert}",
        f"--cluster-signing-key-file={pki.ca_key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--controllers=*",
    ]


def scheduler_argv(binary: Path, paths: NodePaths) -> list[str]:
    return [str(binary), *_served_by_kubeconfig(paths, "scheduler", 10259)]


def kubelet_argv(binary: Path, paths: NodePaths) -> list[str]:
    pki = paths.pki
    resolv = _conf(paths, "resolv.conf")
    # Pods with dnsPolicy Default get this, not the host's resolvers: nothing leaves the node.
    resolv.write_text(f"nameserver {DNS_SERVICE_IP}\n")
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "address": NODE_IP,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki.ca_cert)},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDomain": "cluster.local",
        "clusterDNS": [DNS_SERVICE_IP],
        "resolvConf": str(resolv),
        "oomScoreAdj": 0,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{paths.containerd_socket}",
        "staticPodPath": "",
        "serializeImagePulls": False,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
        },
        "tlsCertFile": str(pki.cert("apiserver")),
        "tlsPrivateKeyFile": str(pki.key("apiserver")),
    }
    path = _conf(paths, "kubelet.yaml")
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return [
        str(binary),
        f"--config={path}",
        f"--kubeconfig={_conf(paths, 'kubelet.kubeconfig')}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={NODE_IP}",
        f"--root-dir={paths.kubelet_root}",
        f"--cert-dir={paths.state / 'kubelet-certs'}",
        # cAdvisor's own containerd client (per-container metrics, container_*): it does not
        # follow containerRuntimeEndpoint, only this flag (default /run/containerd/...).
        f"--containerd={paths.containerd_socket}",
        "--v=1",
    ]


def proxy_argv(binary: Path, paths: NodePaths) -> list[str]:
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(_conf(paths, "proxy.kubeconfig"))},
        "mode": "iptables",
        "clusterCIDR": POD_CIDR,
        "hostnameOverride": NODE_NAME,
        "bindAddress": NODE_IP,
        "metricsBindAddress": "127.0.0.1:10249",
        "healthzBindAddress": "127.0.0.1:10256",
        "nodePortAddresses": [f"{NODE_IP}/32"],
        # 0: leave the host's conntrack table alone (the VM may not allow changing it).
        "conntrack": {"maxPerCore": 0, "min": 0},
        "iptables": {"localhostNodePorts": False},
    }
    path = _conf(paths, "kube-proxy.yaml")
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return [str(binary), f"--config={path}", "--v=1"]


def write_containerd_config(paths: NodePaths) -> Path:
    """containerd's config (v2 format, containerd 1.6) and the CNI network, returning the path
    of the former."""
    cni = paths.state / "conf" / "cni"
    cni.mkdir(parents=True, exist_ok=True)
    network = {
        "cniVersion": "1.0.0",
        "name": "porto-node",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [
                        [
                            {
                                "subnet": POD_CIDR,
                                "rangeStart": POD_CIDR.replace("0/24", "10"),
                                "rangeEnd": POD_CIDR.replace("0/24", "250"),
                                "gateway": NODE_IP,
                            }
                        ]
                    ],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(paths.state / "cni"),
                },
            }
        ],
    }
    (cni / "10-porto-node.conflist").write_text(json.dumps(network, indent=1))
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    config = f"""version = 2
root = "{paths.images}"
state = "{paths.run / "containerd"}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{paths.containerd_socket}"

[ttrpc]
  address = "{paths.containerd_socket}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{paths.state / "opt"}"

[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  BinaryName = "/usr/bin/runc"

[{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{cni}"
"""
    path = paths.state / "conf" / "containerd.toml"
    path.write_text(config)
    return path
