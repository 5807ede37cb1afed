"""Running the real server (``porto-inference serve``: gunicorn + uvicorn workers) in tests, and
reading its /metrics."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.ports import free_port
from harness.process import await_child
from porto_inference.server import ServerProcess, start_server

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@contextmanager
def running_server(
    home: Path, log_dir: Path, *, workers: int = 2, **settings: object
) -> Iterator[ServerProcess]:
    """``porto-inference serve`` on a free loopback port with PORTO_HOME=home and
    ``PORTO_INFERENCE_<KEY>=value`` for each keyword; stopped (gracefully) afterwards."""
    env = {"PORTO_HOME": str(home), "PORTO_INFERENCE_LOG_REQUESTS": "false"}
    env.update({f"PORTO_INFERENCE_{k.upper()}": str(v) for k, v in settings.items()})
    log = log_dir / "server.log"
    server = start_server(port=free_port(), workers=workers, env=env, log_file=log)
    try:
        await_child(server, log)
        yield server
    finally:
        server.stop()


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of every sample in a Prometheus exposition text."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = dict(_LABEL.findall(match.group("labels") or ""))
        out.append((match.group("name"), labels, float(match.group("value"))))
    return out


def total(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(
        value
        for sample, sample_labels, value in samples(text)
        if sample == name and all(sample_labels.get(k) == v for k, v in labels.items())
    )
