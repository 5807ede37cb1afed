"""The node itself (``harness.node``, `make node-up`): what runs on it, where it listens, what
its network lets through, the Makefile targets users type, and the one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from harness.node import (
    APISERVER_PORT,
    BRIDGE,
    CHAIN,
    NODE_IP,
    Node,
    NodeError,
    NodePaths,
)
from harness.tools import REPO_ROOT, make_dry_run, pinned_tools

from node.shell import UserShell


def test_the_node_runs_kubernetes_on_containerd(user: UserShell) -> None:
    node = json.loads(user.kubectl("get", "node", "porto-node", "-o", "json"))
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"] == "v1.36.3"
    assert info["containerRuntimeVersion"].startswith("containerd://")
    assert {a["type"]: a["address"] for a in node["status"]["addresses"]}["InternalIP"] == NODE_IP
    pods = json.loads(user.kubectl("get", "pods", "-A", "-o", "json"))["items"]
    running = {
        p["metadata"]["name"].rsplit("-", 2)[0] for p in pods if p["status"]["phase"] == "Running"
    }
    assert {"coredns", "local-path-provisioner", "prometheus-operator"} <= running, running
    classes = json.loads(user.kubectl("get", "storageclass", "-o", "json"))["items"]
    default = [
        c["metadata"]["name"]
        for c in classes
        if c["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class")
        == "true"
    ]
    assert default == ["standard"]


def test_listeners_are_on_the_nodes_bridge_or_loopback(porto_node: Node) -> None:
    """Nothing the node starts listens on the machine's other interfaces."""
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    ours = (
        "etcd",
        "kube-apiserver",
        "kube-controller",
        "kube-scheduler",
        "kubelet",
        "kube-proxy",
        "containerd",
    )
    for line in out.splitlines():
        if any(f'"{name}' in line for name in ours):
            address = line.split()[3].rsplit(":", 1)[0]
            assert address in (NODE_IP, "127.0.0.1"), line
    assert f"{NODE_IP}:{APISERVER_PORT}" in out


def test_pod_traffic_stays_on_the_bridge(porto_node: Node) -> None:
    """The node's FORWARD chain accepts bridge-to-bridge traffic (pods, Services) and drops
    whatever would leave the bridge for another interface, in either direction."""
    rules = subprocess.run(
        ["iptables", "-w", "-S", CHAIN], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert rules[1:] == [
        f"-A {CHAIN} -i {BRIDGE} -o {BRIDGE} -j ACCEPT",
        f"-A {CHAIN} -i {BRIDGE} -j DROP",
        f"-A {CHAIN} -o {BRIDGE} -j DROP",
    ]
    forward = subprocess.run(
        ["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    jumps = [line.split("-j ")[-1] for line in forward if line.startswith("-A FORWARD")]
    # Before Docker's chains (its policy is DROP); kube-proxy's own come first, as it puts them.
    assert CHAIN in jumps, forward
    docker = [i for i, target in enumerate(jumps) if target.startswith("DOCKER")]
    assert not docker or jumps.index(CHAIN) < min(docker), forward


def test_a_missing_binary_is_named_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTO_CACHE", str(tmp_path / "empty-cache"))
    node = Node(NodePaths(state=tmp_path / "state", run=tmp_path / "run"))
    with pytest.raises(NodeError, match=r"etcd binary .* is missing.*make test-deps") as error:
        node.check_prerequisites()
    assert "\n" not in str(error.value)
    assert not (tmp_path / "state").exists()  # checked before anything was made


def test_load_without_a_node_says_what_to_run(tmp_path: Path) -> None:
    node = Node(NodePaths(state=tmp_path / "state", run=tmp_path / "run"))
    with pytest.raises(NodeError, match="not up: `make node-up` first"):
        node.load(["porto-inference:x"])


def test_the_make_targets_of_the_node() -> None:
    up = make_dry_run("node-up")
    assert "scripts/tools.sh" in up and "kubelet" in up and "harness.node up" in up
    assert "harness.node down" in make_dry_run("node-down")
    load = make_dry_run("load", "KUBE_CONTEXT=porto-node", "IMAGE_TAG=t")
    assert "harness.node load" in load and "porto-postgres:t" in load and "kind load" not in load
    deploy = make_dry_run("deploy", "KUBE_CONTEXT=porto-node", "IMAGE_TAG=t")
    assert "-f deploy/porto-values-node.yaml --set postgres.image.tag=t" in deploy
    assert "porto-values-node" not in make_dry_run("deploy", "KUBE_CONTEXT=kind-porto")
    assert "IMAGES='inference ui training minio postgres'" in make_dry_run(
        "images", "KUBE_CONTEXT=porto-node", "IMAGE_TAG=t"
    )


def test_the_monitoring_stack_is_pinned_to_the_charts_operator() -> None:
    """The operator the node runs is the one whose CRDs the chart is validated against
    (deploy/versions.mk), and its Prometheus the version that operator runs by default (the
    last of its compatibility matrix; Prometheus v3.X.Y is Go module v0.3XX.Y)."""
    from harness.crds import PROMETHEUS_OPERATOR_CRDS
    from harness.versions import VERSIONS

    pins = pinned_tools()
    operator = VERSIONS.prometheus_operator
    assert pins["prometheus-operator"].startswith(f"prometheus-operator-{operator}")
    assert pins["prometheus-config-reloader"].startswith(f"prometheus-config-reloader-{operator}")
    promop = (REPO_ROOT / "tools" / "promop" / "go.mod").read_text()
    assert f"require github.com/prometheus-operator/prometheus-operator {operator}\n" in promop
    defaults = PROMETHEUS_OPERATOR_CRDS.module_dir() / "pkg" / "operator" / "defaults.go"
    matrix = defaults.read_text().split("PrometheusCompatibilityMatrix = []string{")[1]
    newest = re.findall(r'"(v[0-9.]+)"', matrix.split("}")[0])[-1]
    major, minor, patch = newest.removeprefix("v").split(".")
    module = f"v0.{int(major)}{int(minor):02d}.{patch}"
    assert pins["prometheus"] == f"prometheus-{newest}-static"
    prometheus = (REPO_ROOT / "tools" / "prometheus" / "go.mod").read_text()
    assert f"require github.com/prometheus/prometheus {module}\n" in prometheus


def test_a_process_that_exits_ends_the_wait_with_its_log(tmp_path: Path) -> None:
    paths = NodePaths(state=tmp_path / "state", run=tmp_path / "run")
    for directory in (paths.state, paths.logs, paths.run / "pids"):
        directory.mkdir(parents=True)
    node = Node(paths)
    node._start("broken", ["/bin/sh", "-c", "echo 'bad flag --x' >&2; exit 3"])
    # (Waiting the timeout out would end in "not within", not in the process's own log.)
    with pytest.raises(NodeError, match=r"broken exited:\n.*bad flag --x"):
        node._await("broken", lambda: False, timeout=120)
