"""Traffic for the user-path tests: requests to porto's API, and a steady load that records every
answer, sent through the Service's ClusterIP (kube-proxy's rules on the node, as a client in
the cluster reaches it), so a rolling update or a deleted pod is seen as clients see it. A
port-forward would not do: it is pinned to one pod and breaks when that pod goes.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any


def call(
    base: str,
    path: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    content_type: str = "application/json",
    timeout: float = 10,
    key: str | None = None,
) -> tuple[int, Any]:
    """(status, decoded JSON or text) of GET ``path``, or POST of ``body`` (JSON) / ``raw``;
    with ``key`` as X-API-Key (the release's API key: predict, feedback, promote need it)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": content_type} if data else {}
    if key:
        headers["X-API-Key"] = key
    request = urllib.request.Request(base + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            status, text = int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


@dataclass
class Answer:
    status: int  # 0: no HTTP answer (connection refused, reset, timeout)
    version: str = ""
    prediction_id: str = ""
    error: str = ""


@dataclass
class Load:
    """``workers`` threads posting ``record`` to ``base``/predict (with the API ``key``) back to
    back until ``stop``."""

    base: str
    record: dict[str, Any]
    key: str | None = None
    workers: int = 4
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self, worker: int) -> None:
        sent = 0
        while not self._stop.is_set():
            sent += 1
            body = {"id": f"load-{worker}-{sent}", "features": self.record}
            try:
                status, answer = call(self.base, "/predict", body, timeout=15, key=self.key)
                result = (
                    Answer(status, answer.get("model_version", ""), answer.get("prediction_id", ""))
                    if status == 200
                    else Answer(status, error=str(answer)[:200])
                )
            except (OSError, urllib.error.URLError) as exc:
                result = Answer(0, error=repr(exc)[:200])
            with self._lock:
                self.answers.append(result)

    def __enter__(self) -> Load:
        for worker in range(self.workers):
            thread = threading.Thread(target=self._run, args=(worker,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def wait_for(self, count: int, timeout: float = 120) -> None:
        """Until ``count`` answers have come back."""
        deadline = time.monotonic() + timeout
        while len(self.answers) < count and time.monotonic() < deadline:
            time.sleep(0.2)

    @property
    def failed(self) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.status != 200]

    @property
    def versions(self) -> list[str]:
        """The model versions that answered, in order of first appearance."""
        with self._lock:
            return list(dict.fromkeys(a.version for a in self.answers if a.status == 200))

    @property
    def prediction_ids(self) -> list[str]:
        with self._lock:
            return [a.prediction_id for a in self.answers if a.status == 200]
