"""The node's system images, made from binaries of this machine (``harness.oci``) and imported
into its containerd once: the sandbox (pause), CoreDNS, the local-path provisioner and the
busybox its helper pods run, and the monitoring stack (Prometheus Operator and its config
reloader, Prometheus, kube-state-metrics, and the node exporter from Debian).

An image is imported only when containerd lacks it at that manifest digest, which depends only
on the files in it: a rebuilt binary gives a new digest and is imported again.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from harness.oci import ImageSpec, write_image
from harness.tools import REPO_ROOT, cache_bin, pinned_tools, tool_path

if TYPE_CHECKING:
    from harness.node import Node

PAUSE_SOURCE = REPO_ROOT / "deploy" / "node" / "pause.c"
BUSYBOX = Path("/bin/busybox")
#: Debian's build (package prometheus-node-exporter), dynamically linked.
NODE_EXPORTER = Path("/usr/bin/prometheus-node-exporter")


def tool_version(name: str) -> str:
    """The pinned version of tool ``name`` (from its cached binary name in scripts/tools.sh)."""
    out = pinned_tools()[name]
    return out[len(name) + 1 :].removesuffix("-static")


def pause_binary() -> Path:
    """deploy/node/pause.c built statically, cached by the source's content."""
    import hashlib

    digest = hashlib.sha256(PAUSE_SOURCE.read_bytes()).hexdigest()[:12]
    out = cache_bin() / f"porto-pause-{digest}"
    if not out.exists():
        tmp = out.with_suffix(".tmp")
        subprocess.run(
            ["gcc", "-static", "-O2", "-o", str(tmp), str(PAUSE_SOURCE)],
            check=True,
            capture_output=True,
        )
        tmp.rename(out)
    return out


def _busybox_links(*applets: str) -> dict[str, str]:
    return {f"/bin/{applet}": "busybox" for applet in applets}


def system_images(monitoring: bool = True) -> Iterator[ImageSpec]:
    """The images the node runs, named ``porto-<component>:<version>``."""
    yield ImageSpec("porto-pause:1", {"/pause": pause_binary()}, ["/pause"])
    yield ImageSpec(
        f"porto-coredns:{tool_version('coredns')}",
        {"/coredns": tool_path("coredns")},
        ["/coredns"],
    )
    yield ImageSpec(
        f"porto-local-path-provisioner:{tool_version('local-path-provisioner')}",
        {"/usr/bin/local-path-provisioner": tool_path("local-path-provisioner")},
        ["/usr/bin/local-path-provisioner"],
    )
    yield ImageSpec(
        "porto-busybox:1",
        {"/bin/busybox": BUSYBOX},
        ["/bin/sh"],
        links=_busybox_links("sh", "mkdir", "rm", "chmod", "ls", "cat", "sleep", "wget", "echo"),
        user=0,
    )
    if not monitoring:
        return
    operator = tool_version("prometheus-operator")
    yield ImageSpec(
        f"porto-prometheus-operator:{operator}",
        {"/bin/operator": tool_path("prometheus-operator")},
        ["/bin/operator"],
    )
    yield ImageSpec(
        f"porto-prometheus-config-reloader:{operator}",
        {"/bin/prometheus-config-reloader": tool_path("prometheus-config-reloader")},
        ["/bin/prometheus-config-reloader"],
    )
    yield ImageSpec(
        f"porto-kube-state-metrics:{tool_version('kube-state-metrics')}",
        {"/kube-state-metrics": tool_path("kube-state-metrics")},
        ["/kube-state-metrics"],
    )
    yield ImageSpec(
        f"porto-prometheus:{tool_version('prometheus')}",
        {"/bin/prometheus": tool_path("prometheus")},
        ["/bin/prometheus"],
    )
    yield ImageSpec(
        f"porto-node-exporter:{debian_version('prometheus-node-exporter')}",
        {"/bin/node_exporter": NODE_EXPORTER},
        ["/bin/node_exporter"],
        dynamic=True,
    )


def debian_version(package: str) -> str:
    """The upstream part of an installed Debian package's version (``2.42.0+ds-5`` -> 2.42.0)."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, check=True
    ).stdout
    return out.split(":")[-1].split("+")[0].split("-")[0]


def import_system_images(node: Node, monitoring: bool = True) -> list[str]:
    """Import every system image containerd lacks; return the references imported."""
    present = {}
    for line in node._ctr("images", "ls").stdout.decode().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3:
            present[fields[0]] = fields[2]
    imported = []
    with tempfile.TemporaryDirectory(prefix="porto-node-images-") as tmp:
        for spec in system_images(monitoring):
            archive = Path(tmp) / "image.tar"
            digest = write_image(spec, archive)
            if present.get(spec.reference) == digest:
                continue
            node._ctr("images", "import", str(archive))
            imported.append(spec.reference)
    return imported
