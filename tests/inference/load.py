"""Steady prediction traffic against a real server, and the figures fault tests report.

Each request opens a new connection (``Connection: close``), so the kernel spreads them over
gunicorn's workers as it would spread clients. A request fails when it gets anything but 200,
including a refused or reset connection.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from harness.ports import wait_until
from harness.timing import DEADLINE
from inference.figures import record


@dataclass
class Outcome:
    """One request: its status (0 when no answer came) and the version that answered."""

    status: int
    version: str | None
    error: str = ""


@dataclass
class Load:
    """``threads`` clients posting ``/predict`` in a loop until :meth:`stop`."""

    url: str
    records: list[dict[str, Any]]
    threads: int = 3
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Load:
        for n in range(self.threads):
            thread = threading.Thread(target=self._run, args=(n,), daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, n: int) -> None:
        i = n
        while not self._stop.is_set():
            self.outcomes.append(post(self.url, self.records[i % len(self.records)]))
            i += self.threads

    def stop(self) -> None:
        """Stop the clients and wait for their last requests."""
        self._stop.set()
        for thread in self._workers:
            thread.join(timeout=60)

    def more(self, count: int, what: str, *, alive: Callable[[], bool] | None = None) -> None:
        """Wait until ``count`` more requests have been answered."""
        target = len(self.outcomes) + count
        wait_until(lambda: len(self.outcomes) >= target, DEADLINE, what, alive=alive)

    def failed(self, since: int = 0) -> list[Outcome]:
        """The requests (from index ``since``) that did not get a 200."""
        return [o for o in self.outcomes[since:] if o.status != 200]


def post(url: str, record: dict[str, Any]) -> Outcome:
    """POST one record to ``/predict`` over a fresh connection."""
    try:
        with httpx.Client(base_url=url, timeout=30, headers={"Connection": "close"}) as client:
            r = client.post("/predict", json=record)
    except httpx.HTTPError as exc:
        return Outcome(0, None, f"{type(exc).__name__}: {exc}")
    version = r.json().get("model_version") if r.status_code == 200 else None
    return Outcome(r.status_code, version, "" if r.status_code == 200 else r.text[:200])


def report(scenario: str, outcomes: list[Outcome]) -> int:
    """Record (pytest's terminal summary, :mod:`inference.figures`) how many of ``outcomes``
    failed and how; return that figure."""
    failed = [o for o in outcomes if o.status != 200]
    statuses: dict[str, int] = {}
    for o in failed:
        key = str(o.status) if o.status else o.error.split(":")[0]
        statuses[key] = statuses.get(key, 0) + 1
    how = ",".join(f"{k}:{v}" for k, v in sorted(statuses.items())) or "-"
    record(scenario, requests=len(outcomes), failed=len(failed), statuses=how)
    return len(failed)


def workers(server_pid: int) -> set[int]:
    """The pids of gunicorn's workers (the master's children)."""
    return {child.pid for child in psutil.Process(server_pid).children()}


def ready_lines(log: Path) -> int:
    """How many workers have finished starting (their "porto inference ready" log line)."""
    if not log.exists():
        return 0
    return log.read_text(errors="replace").count('"message":"porto inference ready"')


def kill_worker(server_pid: int, log: Path, sig: int) -> int:
    """Send ``sig`` to one worker and wait until gunicorn's replacement has started; return the
    pid of the replacement."""
    before = workers(server_pid)
    started = ready_lines(log)
    victim = min(before)
    os.kill(victim, sig)
    wait_until(
        lambda: victim not in workers(server_pid) and len(workers(server_pid) - before) == 1,
        DEADLINE,
        "gunicorn to respawn the worker",
    )
    wait_until(lambda: ready_lines(log) > started, DEADLINE, "the new worker to start")
    (new,) = workers(server_pid) - before
    return new
