"""A real one-node Kubernetes cluster on this machine: ``make node-up`` / ``make node-down``, and
the ``porto_node`` fixture of the user-path tests (tests/node).

kind cannot run here (its node image comes from a registry), so the node is made of the parts
kind's image holds, run directly on the host as root: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, the kubelet on Debian's containerd and runc,
kube-proxy (iptables), a CNI bridge (Debian's containernetworking-plugins), and as pods CoreDNS
and the local-path provisioner (kind's default StorageClass ``standard``), so PVCs bind. The
Kubernetes binaries and CoreDNS are pinned in ``scripts/tools.sh`` and built once; the system
images are made from those binaries (``harness.node_images``): nothing is pulled.

What this machine needs, and why (each was a wall met on it):

- cgroup v1 only: the kubelet runs with ``failCgroupV1: false`` and the cgroupfs driver;
- root without CAP_SYS_RESOURCE: runc cannot write a container's ``oom_score_adj`` below the
  runtime's, so containerd runs with ``restrict_oom_score_adj`` and the kubelet with
  ``oomScoreAdj: 0``;
- Docker's ``FORWARD`` policy is DROP: a chain of the node's own accepts pod-to-pod (and so
  pod-to-Service) traffic on its bridge, and drops everything else that would leave the bridge;
- ``kubectl logs``/``port-forward`` go from the API server to the kubelet at the node's
  InternalIP (``--kubelet-preferred-address-types``).

Networking stays on the node's own bridge ``portonode0`` (10.217.0.1/24: the node's address and
the pods' gateway); the Service range 10.218.0.0/16 is routed to that bridge, so an address
no Service holds goes nowhere else. Everything ``up`` creates is listed in the state directory
and removed by ``down``: processes, pods' containers and shims, mounts, network namespaces,
iptables rules (kube-proxy's included), the bridge and the route; a second ``up`` starts clean.

Usage: ``python -m harness.node up|down|status|load IMAGE...`` (PYTHONPATH=tests; the Makefile's
node-up, node-down and load targets). ``up`` also merges context ``porto-node`` into the user's
kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.node_pki import NodePki, generate_node_pki
from harness.process import log_tail
from harness.tools import MissingToolError, cache_bin, tool_path

NODE_NAME = "porto-node"
CONTEXT = "porto-node"
BRIDGE = "portonode0"
NODE_IP = "10.217.0.1"
POD_CIDR = "10.217.0.0/24"
SERVICE_CIDR = "10.218.0.0/16"
KUBERNETES_SERVICE_IP = "10.218.0.1"
DNS_SERVICE_IP = "10.218.0.10"
APISERVER_PORT = 6443
ETCD_PORTS = (12379, 12380)
#: The iptables chain of the node's own FORWARD rules (``-I FORWARD 1 -j PORTO-NODE``).
CHAIN = "PORTO-NODE"
KUBE_BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
)
HOST_BINARIES = (
    "/usr/bin/containerd",
    "/usr/bin/runc",
    "/usr/lib/cni/bridge",
    "/usr/sbin/iptables",
)
#: The order processes start in; ``down`` stops them in reverse.
PROCESSES = (
    "etcd",
    "kube-apiserver",
    "containerd",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
)


class NodeError(RuntimeError):
    """The node cannot start: the message is one line naming what is missing or failed."""


@dataclass(frozen=True)
class NodePaths:
    """Where the node keeps things. ``state``: certificates, configs, logs, etcd's data, the
    kubelet's root and the volumes (removed by ``down``); ``run``: sockets, pid files and
    containerd's state; ``images``: containerd's content and snapshots, kept across runs in the
    porto cache so images are imported once."""

    state: Path = Path("/var/lib/porto-node")
    run: Path = Path("/run/porto-node")
    images: Path = field(default_factory=lambda: cache_bin().parent / "node" / "containerd")

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def pki(self) -> NodePki:
        return NodePki(self.state / "pki")

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (context ``porto-node``)."""
        return self.state / "kubeconfig"

    @property
    def containerd_socket(self) -> Path:
        return self.run / "containerd.sock"

    @property
    def kubelet_root(self) -> Path:
        return self.state / "kubelet"

    @property
    def volumes(self) -> Path:
        """Where the local-path provisioner makes PersistentVolumes."""
        return self.state / "volumes"

    def pid_file(self, name: str) -> Path:
        return self.run / "pids" / f"{name}.pid"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"


def _run(
    argv: Sequence[str], *, check: bool = True, input: bytes | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(list(argv), capture_output=True, input=input, timeout=timeout)
    if check and result.returncode != 0:
        raise NodeError(
            f"`{' '.join(argv)}` failed ({result.returncode}): "
            f"{result.stderr.decode(errors='replace').strip()[-400:]}"
        )
    return result


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not alive
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait(
    check: Any, timeout: float, what: str, log: Path | None = None, interval: float = 0.5
) -> Any:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
            last = result
        except NodeError:
            raise  # the process died: no use waiting
        except Exception as exc:  # any failure of a probe means "not yet"
            last = exc
        time.sleep(interval)
    tail = f"\n{log_tail(log, 30)}" if log else ""
    raise NodeError(f"{what}: not within {timeout:.0f}s (last: {last!r}){tail}")


class Node:
    """The node's lifecycle: ``up`` (idempotent when it is already up), ``down``, ``status``."""

    def __init__(self, paths: NodePaths | None = None, *, monitoring: bool = True) -> None:
        self.paths = paths or NodePaths()
        #: Whether ``up`` also runs the monitoring stack (``harness.node_monitoring``).
        self.monitoring = monitoring
        self.startup_seconds: float | None = None

    # --- prerequisites ----------------------------------------------------------------------
    def binaries(self) -> dict[str, Path]:
        """The pinned Kubernetes binaries; NodeError naming the first one missing."""
        found = {}
        for name in KUBE_BINARIES:
            try:
                found[name] = tool_path(name)
            except MissingToolError as exc:
                raise NodeError(f"{exc}; `make test-deps` builds it") from None
        return found

    def check_prerequisites(self) -> dict[str, Path]:
        """Everything ``up`` needs, checked before anything is changed."""
        if os.geteuid() != 0:
            raise NodeError("the node runs as root (kubelet, containerd, iptables): run as root")
        for binary in HOST_BINARIES:
            if not os.access(binary, os.X_OK):
                raise NodeError(
                    f"{binary} is missing: `apt-get install containerd runc "
                    "containernetworking-plugins iptables` (`make test-deps` does)"
                )
        if (
            not Path("/sys/fs/cgroup/memory").is_dir()
            and not Path("/sys/fs/cgroup/cgroup.controllers").exists()
        ):
            raise NodeError("no cgroup filesystem at /sys/fs/cgroup: the kubelet needs cgroups")
        if not Path("/proc/sys/net/bridge/bridge-nf-call-iptables").exists():
            _run(["modprobe", "br_netfilter"], check=False)
            if not Path("/proc/sys/net/bridge/bridge-nf-call-iptables").exists():
                raise NodeError(
                    "the kernel has no br_netfilter (net.bridge.bridge-nf-call-iptables): "
                    "Services need it"
                )
        return self.binaries()

    # --- state ------------------------------------------------------------------------------
    def pid(self, name: str) -> int | None:
        try:
            pid = int(self.paths.pid_file(name).read_text())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def is_up(self) -> bool:
        """Whether every process runs and the API server answers."""
        return all(self.pid(name) for name in PROCESSES) and self._api_ready()

    def _api_ready(self) -> bool:
        pki = self.paths.pki
        try:
            context = ssl.create_default_context(cafile=str(pki.ca_cert))
            context.load_cert_chain(pki.cert("admin"), pki.key("admin"))
            url = f"https://{NODE_IP}:{APISERVER_PORT}/readyz"
            with urllib.request.urlopen(url, timeout=3, context=context) as resp:
                return int(resp.status) == 200
        except (OSError, urllib.error.URLError, ssl.SSLError):
            return False

    def kubectl(
        self, *args: str, input: bytes | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[bytes]:
        """Run the pinned kubectl against the node as admin."""
        argv = [str(tool_path("kubectl")), "--kubeconfig", str(self.paths.kubeconfig), *args]
        return _run(argv, input=input, check=check, timeout=timeout)

    # --- processes --------------------------------------------------------------------------
    def _start(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> int:
        """Start a daemon detached from the caller (it outlives ``make node-up``), its output in
        ``logs/<name>.log``, its pid in ``run/pids/<name>.pid``."""
        log = self.paths.log(name)
        environment = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        environment.update(env or {})
        with log.open("ab") as out:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=environment,
                cwd=self.paths.state,
                start_new_session=True,
            )
        self.paths.pid_file(name).write_text(str(proc.pid))
        return proc.pid

    def _await(self, name: str, check: Any, timeout: float = 120) -> None:
        def ready() -> Any:
            if not self.pid(name):
                raise NodeError(f"{name} exited:\n{log_tail(self.paths.log(name), 30)}")
            return check()

        _wait(ready, timeout, f"{name} to get ready", self.paths.log(name))

    def _stop(self, name: str, timeout: float = 20) -> None:
        pid = self.pid(name)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)  # a daemon this process started: reap it
        self.paths.pid_file(name).unlink(missing_ok=True)

    # --- up ---------------------------------------------------------------------------------
    def up(self, *, merge_kubeconfig: bool = False, log: Any = None) -> None:
        """Bring the node up (clearing what a previous run left), with CoreDNS and the
        StorageClass ready; a no-op when it is already up."""
        say = log or (lambda message: None)
        if self.is_up():
            say(f"{NODE_NAME} is already up")
            return
        binaries = self.check_prerequisites()
        began = time.monotonic()
        if self.paths.run.exists() or self.paths.state.exists():
            say("clearing what an earlier node left")
            self.down()
        for directory in (
            self.paths.state,
            self.paths.logs,
            self.paths.run / "pids",
            self.paths.images,
            self.paths.volumes,
        ):
            directory.mkdir(parents=True, exist_ok=True)
        self.paths.state.chmod(0o700)
        say("network: bridge, route, iptables")
        self._network_up()
        pki = generate_node_pki(
            self.paths.pki.directory, NODE_NAME, [NODE_IP, KUBERNETES_SERVICE_IP, "127.0.0.1"]
        )
        self._write_kubeconfigs(pki)
        from harness import node_components as components

        say("etcd, kube-apiserver")
        self._start("etcd", components.etcd_argv(binaries["etcd"], self.paths))
        self._await("etcd", lambda: _http_ok(f"http://127.0.0.1:{ETCD_PORTS[0]}/health"))
        self._start(
            "kube-apiserver", components.apiserver_argv(binaries["kube-apiserver"], self.paths)
        )
        self._await("kube-apiserver", self._api_ready, timeout=180)
        say("containerd, the node's images")
        config = components.write_containerd_config(self.paths)
        self._start("containerd", ["/usr/bin/containerd", "--config", str(config)])
        self._await("containerd", lambda: self._ctr("version", check=False).returncode == 0)
        from harness.node_images import import_system_images

        import_system_images(self, self.monitoring)
        say("controller-manager, scheduler, kubelet, kube-proxy")
        self._start(
            "kube-controller-manager",
            components.controller_manager_argv(binaries["kube-controller-manager"], self.paths),
        )
        self._start(
            "kube-scheduler", components.scheduler_argv(binaries["kube-scheduler"], self.paths)
        )
        self._start("kubelet", components.kubelet_argv(binaries["kubelet"], self.paths))
        self._start("kube-proxy", components.proxy_argv(binaries["kube-proxy"], self.paths))
        self._await("kubelet", self._node_ready, timeout=180)
        say("add-ons: CoreDNS, local-path provisioner (StorageClass standard)")
        from harness.node_addons import apply_addons

        apply_addons(self)
        if self.monitoring:
            say("monitoring: Prometheus Operator, Prometheus, kube-state-metrics, node exporter")
            from harness.node_monitoring import apply_monitoring

            apply_monitoring(self)
        if merge_kubeconfig:
            merge_into_user_kubeconfig(self.paths.kubeconfig)
        self.startup_seconds = time.monotonic() - began
        say(f"{NODE_NAME} is up in {self.startup_seconds:.0f}s (context {CONTEXT})")

    def _node_ready(self) -> bool:
        out = self.kubectl("get", "node", NODE_NAME, "-o", "json", check=False)
        if out.returncode != 0:
            return False
        conditions = json.loads(out.stdout)["status"].get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def _ctr(
        self, *args: str, check: bool = True, input: bytes | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[bytes]:
        argv = ["/usr/bin/ctr", "--address", str(self.paths.containerd_socket), "-n", "k8s.io"]
        return _run([*argv, *args], check=check, input=input, timeout=timeout)

    def _network_up(self) -> None:
        _run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        _run(["ip", "addr", "add", f"{NODE_IP}/24", "dev", BRIDGE])
        _run(["ip", "link", "set", BRIDGE, "up"])
        _run(["ip", "route", "add", SERVICE_CIDR, "dev", BRIDGE, "src", NODE_IP])
        for key in ("net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables"):
            Path("/proc/sys", key).write_text("1")
        _run(["iptables", "-w", "-N", CHAIN])
        for rule in (
            ["-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"],
            ["-i", BRIDGE, "-j", "DROP"],
            ["-o", BRIDGE, "-j", "DROP"],
        ):
            _run(["iptables", "-w", "-A", CHAIN, *rule])
        _run(["iptables", "-w", "-I", "FORWARD", "1", "-j", CHAIN])

    def _write_kubeconfigs(self, pki: NodePki) -> None:
        server = f"https://{NODE_IP}:{APISERVER_PORT}"
        for stem in ("admin", "controller-manager", "scheduler", "proxy", "kubelet"):
            path = (
                self.paths.kubeconfig
                if stem == "admin"
                else self.paths.state / "conf" / f"{stem}.kubeconfig"
            )
            write_kubeconfig(path, server, pki, stem, embed=stem == "admin")

    # --- images -----------------------------------------------------------------------------
    def image_ids(self) -> dict[str, str]:
        """Image reference -> the Docker image ID it was loaded from (``load``'s record)."""
        record = self.paths.images / "loaded.json"
        try:
            loaded: dict[str, str] = json.loads(record.read_text())
        except (OSError, ValueError):
            return {}
        present = set(self._ctr("images", "ls", "-q").stdout.decode().split())
        return {ref: i for ref, i in loaded.items() if _normalise(ref) in present}

    def load(self, images: Sequence[str], docker: str = "docker", log: Any = None) -> None:
        """Copy Docker images into the node's containerd (``docker save | ctr images import``),
        skipping those already there with the same image ID."""
        say = log or (lambda message: None)
        if not self.pid("containerd"):
            raise NodeError(f"{NODE_NAME} is not up: `make node-up` first")
        loaded = self.image_ids()
        for image in images:
            inspect = _run([docker, "image", "inspect", "--format", "{{.Id}}", image], check=False)
            if inspect.returncode != 0:
                raise NodeError(f"image {image} is not in Docker: `make images` first")
            image_id = inspect.stdout.decode().strip()
            if loaded.get(image) == image_id:
                say(f"{image}: already on {NODE_NAME}")
                continue
            same = next((ref for ref, i in loaded.items() if i == image_id), None)
            if same:  # the same image under another name: name it, copy nothing
                self._ctr("images", "tag", "--force", _normalise(same), _normalise(image))
                loaded[image] = image_id
                (self.paths.images / "loaded.json").write_text(
                    json.dumps(loaded, indent=1, sort_keys=True)
                )
                say(f"{image}: tagged (the same image as {same})")
                continue
            began = time.monotonic()
            save = subprocess.Popen([docker, "save", image], stdout=subprocess.PIPE)
            assert save.stdout is not None
            ctr = subprocess.run(
                [
                    "/usr/bin/ctr",
                    "--address",
                    str(self.paths.containerd_socket),
                    "-n",
                    "k8s.io",
                    "images",
                    "import",
                    "-",
                ],
                stdin=save.stdout,
                capture_output=True,
                timeout=1800,
            )
            save.stdout.close()
            if save.wait() != 0 or ctr.returncode != 0:
                raise NodeError(f"loading {image} failed: {ctr.stderr.decode()[-400:]}")
            loaded[image] = image_id
            record = self.paths.images / "loaded.json"
            record.write_text(json.dumps(loaded, indent=1, sort_keys=True))
            say(f"{image}: loaded in {time.monotonic() - began:.0f}s")

    # --- down -------------------------------------------------------------------------------
    def down(self, log: Any = None) -> None:
        """Stop everything ``up`` started and remove what it made; safe to run at any point."""
        say = log or (lambda message: None)
        if self.pid("kubelet") and self._api_ready():
            say("deleting the pods (their network is torn down by the kubelet)")
            self.kubectl(
                "delete",
                "pods",
                "--all",
                "--all-namespaces",
                "--grace-period=5",
                "--wait=true",
                "--timeout=60s",
                check=False,
                timeout=90,
            )
        for name in ("kube-proxy", "kubelet", "kube-scheduler", "kube-controller-manager"):
            self._stop(name)
        if self.pid("containerd"):
            self._remove_containers()
        self._stop("containerd")
        self._kill_shims()
        for name in ("kube-apiserver", "etcd"):
            self._stop(name)
        self._unmount_all()
        self._network_down()
        self._remove_cgroups()
        shutil.rmtree(self.paths.run, ignore_errors=True)
        shutil.rmtree(self.paths.state, ignore_errors=True)
        remove_from_user_kubeconfig()
        say(f"{NODE_NAME} is down")

    def _remove_containers(self) -> None:
        tasks = self._ctr("tasks", "ls", "-q", check=False).stdout.decode().split()
        for task in tasks:
            self._ctr("tasks", "kill", "-s", "SIGKILL", task, check=False)
        for task in tasks:
            self._ctr("tasks", "delete", "-f", task, check=False)
        containers = self._ctr("containers", "ls", "-q", check=False).stdout.decode().split()
        if containers:
            self._ctr("containers", "delete", *containers, check=False)

    def _kill_shims(self) -> None:
        marker = str(self.paths.containerd_socket)
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "containerd-shim" in cmdline and marker in cmdline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(proc.name), signal.SIGKILL)

    def _unmount_all(self) -> None:
        roots = (
            str(self.paths.state),
            str(self.paths.run),
            str(self.paths.images),
            "/run/netns/cni-",
            "/var/run/netns/cni-",
        )
        for _ in range(3):
            mounts = [
                line.split()[1].encode().decode("unicode_escape")
                for line in Path("/proc/self/mounts").read_text().splitlines()
            ]
            ours = sorted((m for m in mounts if m.startswith(roots)), key=len, reverse=True)
            if not ours:
                break
            for mount in ours:
                _run(["umount", "-l", mount], check=False)
        for netns in Path("/run/netns").glob("cni-*") if Path("/run/netns").is_dir() else []:
            _run(["ip", "netns", "delete", netns.name], check=False)

    def _network_down(self) -> None:
        with contextlib.suppress(MissingToolError):
            _run([str(tool_path("kube-proxy")), "--cleanup"], check=False)
        _remove_kube_chains()
        while _run(["iptables", "-w", "-D", "FORWARD", "-j", CHAIN], check=False).returncode == 0:
            pass
        _run(["iptables", "-w", "-F", CHAIN], check=False)
        _run(["iptables", "-w", "-X", CHAIN], check=False)
        _run(["ip", "route", "del", SERVICE_CIDR], check=False)
        _run(["ip", "link", "del", BRIDGE], check=False)

    def _remove_cgroups(self) -> None:
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            top = hierarchy / "kubepods"
            if not top.is_dir():
                continue
            for directory in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if directory.is_dir():
                    with contextlib.suppress(OSError):
                        directory.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()

    # --- status -----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {name: self.pid(name) for name in PROCESSES} | {"api_ready": self._api_ready()}


def leftovers(paths: NodePaths) -> list[str]:
    """What a node left on this machine after ``down``: its processes and containers' shims,
    mounts, network namespaces, iptables chains, the bridge, the route, its directories."""
    found = []
    roots = (str(paths.state), str(paths.run))
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        ours = any(root in cmdline for root in roots) or str(paths.containerd_socket) in cmdline
        if ours and _alive(int(proc.name)):
            found.append(f"process {proc.name}: {cmdline[:120]}")
    for line in Path("/proc/self/mounts").read_text().splitlines():
        mount = line.split()[1]
        if mount.startswith((*roots, str(paths.images), "/run/netns/cni-")):
            found.append(f"mount {mount}")
    for command in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle"):
            listing = _run([command, "-w", "-t", table, "-S"], check=False).stdout.decode()
            found += [
                f"{command} -t {table} {line}"
                for line in listing.splitlines()
                if line.startswith("-N ") and line.split()[1].startswith(("KUBE-", CHAIN))
            ]
    if _run(["ip", "link", "show", BRIDGE], check=False).returncode == 0:
        found.append(f"bridge {BRIDGE}")
    if _run(["ip", "route", "show", SERVICE_CIDR], check=False).stdout.strip():
        found.append(f"route {SERVICE_CIDR}")
    found += [f"directory {d}" for d in (paths.state, paths.run) if d.exists()]
    return found


def _remove_kube_chains() -> None:
    """Remove the chains the kubelet adds (``KUBE-FIREWALL``, ``KUBE-KUBELET-CANARY``) and any
    other ``KUBE-*`` chain ``kube-proxy --cleanup`` left, with the rules that jump to them.
    Kubernetes runs nowhere else in this network namespace (kind's nodes have their own)."""
    for command in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle"):
            listing = _run([command, "-w", "-t", table, "-S"], check=False)
            if listing.returncode != 0:
                continue
            lines = listing.stdout.decode().splitlines()
            for line in lines:
                parts = line.split()
                if (
                    parts[:1] == ["-A"]
                    and "-j" in parts
                    and parts[parts.index("-j") + 1].startswith("KUBE-")
                    and not parts[1].startswith("KUBE-")
                ):
                    _run([command, "-w", "-t", table, "-D", *parts[1:]], check=False)
            chains = [p.split()[1] for p in lines if p.startswith("-N KUBE-")]
            for chain in chains:
                _run([command, "-w", "-t", table, "-F", chain], check=False)
            for chain in chains:
                _run([command, "-w", "-t", table, "-X", chain], check=False)


def _normalise(reference: str) -> str:
    """A short image name as containerd stores it: ``porto-ui:1`` -> ``docker.io/library/…``."""
    first = reference.split("/", 1)[0]
    if "/" not in reference:
        return f"docker.io/library/{reference}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{reference}"
    return reference


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return int(resp.status) == 200
    except (OSError, urllib.error.URLError):
        return False


def write_kubeconfig(path: Path, server: str, pki: NodePki, stem: str, *, embed: bool) -> Path:
    """A kubeconfig for ``server`` authenticating with client certificate ``stem``; ``embed``
    puts the certificates in the file (a user's copy), otherwise it points at them."""
    user: dict[str, str]
    cluster: dict[str, str] = {"server": server}
    if embed:
        cluster["certificate-authority-data"] = base64.b64encode(pki.ca_cert.read_bytes()).decode()
        user = {
            "client-certificate-data": base64.b64encode(pki.cert(stem).read_bytes()).decode(),
            "client-key-data": base64.b64encode(pki.key(stem).read_bytes()).decode(),
        }
    else:
        cluster["certificate-authority"] = str(pki.ca_cert)
        user = {"client-certificate": str(pki.cert(stem)), "client-key": str(pki.key(stem))}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": cluster}],
        "users": [{"name": f"{CONTEXT}-{stem}", "user": user}],
        "contexts": [
            {"name": CONTEXT, "context": {"cluster": CONTEXT, "user": f"{CONTEXT}-{stem}"}}
        ],
        "current-context": CONTEXT,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def user_kubeconfig() -> Path:
    """The kubeconfig kubectl and helm use by default: the first of ``$KUBECONFIG``, or
    ``~/.kube/config``."""
    first = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    return Path(first) if first else Path.home() / ".kube" / "config"


def merge_into_user_kubeconfig(node_config: Path) -> Path:
    """Put context ``porto-node`` (and its cluster and user) into the user's kubeconfig,
    replacing an earlier one; other contexts and the current context are left alone."""
    target = user_kubeconfig()
    ours = yaml.safe_load(node_config.read_text())
    config: dict[str, Any] = {}
    if target.exists():
        config = yaml.safe_load(target.read_text()) or {}
    config.setdefault("apiVersion", "v1")
    config.setdefault("kind", "Config")
    for section in ("clusters", "users", "contexts"):
        names = {entry["name"] for entry in ours[section]}
        kept = [e for e in config.get(section) or [] if e.get("name") not in names]
        config[section] = kept + ours[section]
    config.setdefault("current-context", CONTEXT)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    target.chmod(0o600)
    return target


def remove_from_user_kubeconfig() -> None:
    """Remove context ``porto-node`` (and its cluster and users) from the user's kubeconfig."""
    target = user_kubeconfig()
    if not target.exists():
        return
    config = yaml.safe_load(target.read_text()) or {}
    changed = False
    for section in ("clusters", "users", "contexts"):
        entries = config.get(section) or []
        kept = [e for e in entries if not str(e.get("name", "")).startswith(CONTEXT)]
        changed |= len(kept) != len(entries)
        config[section] = kept
    if config.get("current-context") == CONTEXT:
        config["current-context"] = ""
        changed = True
    if changed:
        target.write_text(yaml.safe_dump(config, sort_keys=False))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.node", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start the node (context porto-node in your kubeconfig)")
    sub.add_parser("down", help="stop the node and remove everything it made")
    sub.add_parser("status", help="print which processes run")
    load = sub.add_parser("load", help="copy Docker images into the node's containerd")
    load.add_argument("images", nargs="+")
    load.add_argument("--docker", default=os.environ.get("DOCKER", "docker"))
    args = parser.parse_args(argv)
    node = Node()

    def say(message: str) -> None:
        print(f"{NODE_NAME}: {message}", file=sys.stderr, flush=True)

    try:
        if args.command == "up":
            node.up(merge_kubeconfig=True, log=say)
        elif args.command == "down":
            node.down(log=say)
        elif args.command == "status":
            print(json.dumps(node.status(), indent=1))
            return 0 if node.is_up() else 1
        else:
            node.load(args.images, args.docker, log=say)
    except NodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
