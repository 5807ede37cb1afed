"""Container images made from files of this machine, with no registry and no image builder.

The node's own system images (the pause container, CoreDNS, the storage provisioner and its
helper, the monitoring stack) are single binaries: built by ``scripts/tools.sh`` (static Go) or
installed from Debian (busybox-static; Prometheus and the node exporter, with the shared
libraries ``ldd`` names). ``write_image`` lays one out as an OCI image archive (one
uncompressed layer, a config, a manifest and an index) that ``ctr images import`` takes.
Everything in it is deterministic: the same files give the same digests, so a node whose
containerd already holds an image can tell, and skip the import.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: The account the images' processes run as unless a pod says otherwise (distroless' nonroot).
NONROOT = 65532
_PASSWD = (
    "root:x:0:0:root:/root:/sbin/nologin\n"
    f"nonroot:x:{NONROOT}:{NONROOT}::/home/nonroot:/sbin/nologin\n"
)
_GROUP = f"root:x:0:\nnonroot:x:{NONROOT}:\n"


@dataclass
class ImageSpec:
    """What goes into an image: ``files`` maps a path in the image to a file of this machine,
    ``links`` a path to a symlink target; ``entrypoint`` and ``user`` become its config."""

    name: str
    files: Mapping[str, Path]
    entrypoint: Sequence[str]
    links: Mapping[str, str] = field(default_factory=dict)
    user: int = NONROOT
    env: Sequence[str] = ("PATH=/usr/local/bin:/usr/bin:/bin",)
    dynamic: bool = False  # also copy the shared libraries `ldd` lists for each file

    @property
    def reference(self) -> str:
        """The name containerd (and so the kubelet) knows it by: ``docker.io/library/<name>``."""
        return self.name if "/" in self.name else f"docker.io/library/{self.name}"


def shared_libraries(binary: Path) -> list[Path]:
    """The shared libraries (and the loader) ``ldd`` says ``binary`` needs; [] for a static one."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if out.returncode != 0 or "not a dynamic executable" in out.stdout + out.stderr:
        return []
    libs = []
    for line in out.stdout.splitlines():
        match = re.search(r"(/\S+)\s+\(0x", line)
        if match:
            libs.append(Path(match.group(1)))
    return libs


def _entry(
    tar: tarfile.TarFile,
    name: str,
    *,
    data: bytes | None = None,
    mode: int = 0o644,
    kind: bytes = tarfile.REGTYPE,
    link: str = "",
) -> None:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.type = kind
    info.mode = mode
    info.mtime = 0
    info.uid = info.gid = 0
    info.linkname = link
    if data is not None:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


def _layer(spec: ImageSpec) -> bytes:
    files: dict[str, Path] = dict(spec.files)
    if spec.dynamic:
        for binary in list(files.values()):
            for lib in shared_libraries(binary):
                files.setdefault(str(lib), lib.resolve())
    contents: dict[str, tuple[bytes, int]] = {
        "/etc/passwd": (_PASSWD.encode(), 0o644),
        "/etc/group": (_GROUP.encode(), 0o644),
        "/etc/nsswitch.conf": (b"hosts: files dns\n", 0o644),
    }
    for target, source in files.items():
        contents[target] = (source.read_bytes(), source.stat().st_mode & 0o777)
    dirs = {"/tmp", "/home/nonroot"}
    for path in [*contents, *spec.links]:
        parent = Path(path).parent
        while str(parent) != "/":
            dirs.add(str(parent))
            parent = parent.parent
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in sorted(dirs):
            mode = 0o1777 if directory == "/tmp" else 0o755
            _entry(tar, directory + "/", kind=tarfile.DIRTYPE, mode=mode)
        for path in sorted(contents):
            data, mode = contents[path]
            _entry(tar, path, data=data, mode=mode)
        for path in sorted(spec.links):
            _entry(tar, path, kind=tarfile.SYMTYPE, link=spec.links[path], mode=0o777)
    return buffer.getvalue()


def _blob(tar: tarfile.TarFile, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    _entry(tar, f"blobs/sha256/{digest}", data=data)
    return f"sha256:{digest}"


def write_image(spec: ImageSpec, path: Path) -> str:
    """Write ``spec`` as an OCI image archive to ``path``; return its manifest digest."""
    layer = _layer(spec)
    layer_digest = f"sha256:{hashlib.sha256(layer).hexdigest()}"
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Entrypoint": list(spec.entrypoint),
                "User": str(spec.user),
                "Env": list(spec.env),
                "WorkingDir": "/",
            },
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        },
        sort_keys=True,
    ).encode()
    with tarfile.open(path, "w") as tar:
        _entry(tar, "oci-layout", data=b'{"imageLayoutVersion":"1.0.0"}')
        config_digest = _blob(tar, config)
        _blob(tar, layer)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config_digest,
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": layer_digest,
                        "size": len(layer),
                    }
                ],
            },
            sort_keys=True,
        ).encode()
        manifest_digest = _blob(tar, manifest)
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": manifest_digest,
                    "size": len(manifest),
                    "annotations": {
                        "io.containerd.image.name": spec.reference,
                        "org.opencontainers.image.ref.name": spec.reference.rsplit(":", 1)[1],
                    },
                }
            ],
        }
        _entry(tar, "index.json", data=json.dumps(index, sort_keys=True).encode())
    return manifest_digest
