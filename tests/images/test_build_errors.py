"""What `make images` and the harness's engine say when they cannot work: one `error:` line naming
what to install or fix, a non-zero exit, and for a failed build the Dockerfile step that failed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness.docker import DockerEngine, EngineError
from images.conftest import BuiltImages

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "scripts" / "build-images.sh"
BASE = REPO / "scripts" / "base-image.sh"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

pytestmark = pytest.mark.integration


def _run(
    argv: list[str], env: dict[str, str], prefix: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(prefix or []), *argv],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def _error_line(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode != 0, out.stdout + out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), out.stderr
    return last


def test_no_engine_is_one_line(tmp_path: Path) -> None:
    sock = tmp_path / "no-engine.sock"
    out = _run([str(BUILD), "build", "inference"], {"DOCKER_HOST": f"unix://{sock}"})
    line = _error_line(out)
    assert f"no Docker engine answers at unix://{sock}" in line
    assert "start Docker, or set DOCKER_HOST" in line


def test_no_permission_on_the_socket_is_one_line(docker_engine: DockerEngine) -> None:
    if docker_engine.external:
        pytest.skip("the socket of an engine the harness did not start")
    out = _run(
        [str(BUILD), "build", "inference"],
        {"DOCKER_HOST": docker_engine.host, "DOCKER": str(docker_engine.cli), "HOME": "/tmp"},
        prefix=NOBODY,
    )
    line = _error_line(out)
    assert "no permission on the Docker socket" in line
    assert "docker group" in line


def test_an_unknown_image_is_one_line() -> None:
    line = _error_line(_run([str(BUILD), "build", "inferense"], {}))
    assert "unknown image 'inferense'" in line
    assert "inference ui training minio postgres" in line


def test_a_base_image_that_cannot_be_built_is_one_line(
    docker_engine: DockerEngine, tmp_path: Path
) -> None:
    """debootstrap from a mirror that does not answer (a closed loopback port): retried, then
    one line; nothing half-built is left in the cache."""
    out = _run(
        [str(BASE)],
        {
            **docker_engine.env(),
            "PORTO_CACHE": str(tmp_path),
            "DEBIAN_MIRROR": "http://127.0.0.1:9/debian",
            "PORTO_RETRIES": "1",
        },
    )
    line = _error_line(out)
    assert "debootstrap bookworm from http://127.0.0.1:9/debian failed" in line
    assert list((tmp_path / "base-images").iterdir()) == []


def test_a_failing_build_names_the_dockerfile_step(
    docker_engine: DockerEngine, built_images: BuiltImages
) -> None:
    """A base image without Python: the build stops at the step that needs it, and says so."""
    base = _run([str(BASE)], docker_engine.env()).stdout.strip()
    assert base.startswith("porto-base:"), base
    broken = "porto-test-no-python:1"
    dockerfile = f"FROM {base}\nRUN rm -f /usr/bin/python3*\n"
    docker_engine.docker("build", "-t", broken, "-", stdin=dockerfile.encode(), timeout=300)
    try:
        out = _run(
            [str(BUILD), "build", "inference"],
            {**docker_engine.env(), "BASE_IMAGE": broken, "IMAGE_TAG": "porto-test-broken"},
        )
    finally:
        docker_engine.docker("rmi", "--force", broken, check=False)
    line = _error_line(out)
    assert "building porto-inference failed at step: [deps" in line
    assert "python3 -m venv /opt/uv" in line
    assert "python3: not found" in out.stderr  # BuildKit's own output, above the line


def test_the_engine_needs_dockerd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import harness.docker as docker

    monkeypatch.delenv(docker.ENGINE_ENV, raising=False)
    monkeypatch.setattr(docker, "DOCKERD", tmp_path / "dockerd")
    with pytest.raises(EngineError, match=r"dockerd is missing: run `make test-deps` as root"):
        docker.DockerEngine(data_root=tmp_path / "data").start()


def test_the_engine_says_it_needs_root() -> None:
    code = (
        "import os; os.environ.pop('PORTO_TEST_DOCKER_HOST', None)\n"
        "from harness.docker import DockerEngine, EngineError\n"
        "try:\n    DockerEngine(data_root=__import__('pathlib').Path('/tmp/x')).start()\n"
        "except EngineError as e:\n    print(e)\n"
    )
    out = _run(
        [sys.executable, "-c", code],
        {"PYTHONPATH": str(REPO / "tests"), "HOME": "/tmp"},
        prefix=NOBODY,
    )
    assert "needs root" in out.stdout, out.stdout + out.stderr
    assert "PORTO_TEST_DOCKER_HOST" in out.stdout


def test_a_second_engine_on_the_same_data_root_is_refused(docker_engine: DockerEngine) -> None:
    if docker_engine.external:
        pytest.skip("the harness did not start this engine")
    with pytest.raises(EngineError, match="another porto Docker engine uses"):
        DockerEngine(data_root=docker_engine.data_root).start()


def _build_cache_bytes(engine: DockerEngine) -> float:
    """The engine's BuildKit cache size, as ``docker system df`` reports it."""
    import json

    for line in engine.docker("system", "df", "--format", "{{json .}}").stdout.splitlines():
        row = json.loads(line)
        if row["Type"] == "Build Cache":
            size = row["Size"]
            for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3), ("B", 1.0)):
                if size.endswith(unit):
                    return float(size[: -len(unit)]) * factor
    raise AssertionError("docker system df reports no build cache line")


def test_the_build_cache_is_trimmed_to_its_bound(
    docker_engine: DockerEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The prune command this Docker accepts, with a bound in the units the setting takes. The
    bound is the cache's size plus a megabyte (evicting nothing the suite's later builds use);
    which entries go first is BuildKit's least-recently-used order, not tested here."""
    import harness.docker as docker

    if docker_engine.external:
        assert docker.trim_build_cache(docker_engine) is None  # never a developer's own engine
        return
    bound = int(_build_cache_bytes(docker_engine)) + 1_000_000
    monkeypatch.setenv(docker.BUILD_CACHE_KEEP_ENV, f"{bound}B")
    summary = docker.trim_build_cache(docker_engine)
    assert summary is not None and "reclaimed" in summary.lower(), summary
    assert _build_cache_bytes(docker_engine) <= bound
    monkeypatch.setenv(docker.BUILD_CACHE_KEEP_ENV, "twelve gigabytes")
    refused = r"PORTO_BUILD_CACHE_KEEP=twelve gigabytes failed: .*invalid size"
    with pytest.raises(EngineError, match=refused):
        docker.trim_build_cache(docker_engine)


def test_a_developers_engine_is_never_pruned() -> None:
    import harness.docker as docker

    engine = docker.DockerEngine(host="unix:///nonexistent/docker.sock")
    assert docker.trim_build_cache(engine) is None
