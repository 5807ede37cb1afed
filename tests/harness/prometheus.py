"""A real Prometheus and node exporter (Debian's packages) on free loopback ports, and a tiny
exporter for fixture series, so dashboards and alert rules are run against the real thing.

Prometheus gets a throwaway storage directory, a 1 s scrape and rule-evaluation interval (data
within seconds of the traffic that makes it), and its config as JSON (a subset of YAML, so no
YAML writer is needed). Queries go through its HTTP API exactly as Grafana's would.
"""

from __future__ import annotations

import json
import shutil
import signal
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from harness.ports import LOOPBACK, port_open, wait_for_http, wait_until
from harness.process import spawn, terminate
from harness.server import LoopbackServer
from harness.timing import DEADLINE
from harness.tools import MissingToolError

#: node-exporter collectors the dashboards read; the rest only slow every scrape down.
NODE_COLLECTORS = ("cpu", "diskstats", "filesystem", "loadavg", "meminfo", "stat", "uname")


def debian_binary(name: str, package: str) -> Path:
    """Return the path of ``name`` from a Debian package; MissingToolError saying how to get it."""
    found = shutil.which(name, path="/usr/bin:/usr/sbin:/bin:/sbin")
    if found is None:
        raise MissingToolError(
            f"{name} is missing: run `apt-get install {package}` (or `.ci/run`, which installs "
            "everything the tests need)"
        )
    return Path(found)


class PromQLError(RuntimeError):
    """Prometheus refused a query (``bad_data`` for a parse error, ``execution`` otherwise)."""

    def __init__(self, expr: str, error_type: str, error: str) -> None:
        super().__init__(f"{error_type}: {error}\n  query: {expr}")
        self.expr = expr
        self.error_type = error_type
        self.error = error


class _Process(LoopbackServer):
    """A server binary with a log file, started on a free loopback port and polled until ready."""

    name = "server"
    ready_path = "/"

    def __init__(self, binary: Path, root: Path | None) -> None:
        super().__init__(root, f"porto-{self.name}-")
        self.binary = binary
        self.log = self.root / f"{self.name}.log"

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234``."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def address(self) -> str:
        """``host:port`` as a scrape target."""
        return f"{LOOPBACK}:{self.port}"

    def argv(self) -> list[str]:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def _start_once(self, timeout: float) -> None:
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is already taken")
        began = time.monotonic()
        self._proc = spawn(self.argv(), self.log, env={"PATH": "/usr/bin:/bin"}, cwd=self.root)
        ready = self.url + self.ready_path
        self._await_ready(
            self.name, lambda: wait_for_http(ready, timeout, alive=lambda: self.running), self.log
        )
        self.startup_seconds = time.monotonic() - began

    def stop(self) -> None:
        """Stop the process (SIGTERM) and wait until its port is closed."""
        if self._proc is None:
            return
        terminate(self._proc, signal.SIGTERM)
        self._proc = None
        wait_until(lambda: not port_open(self.port), 10, f"{self.name} port {self.port} to close")


class NodeExporter(_Process):
    """prometheus-node-exporter with the collectors porto's node panels use."""

    name = "node-exporter"
    ready_path = "/metrics"

    def __init__(self, root: Path | None = None) -> None:
        super().__init__(
            debian_binary("prometheus-node-exporter", "prometheus-node-exporter"), root
        )

    def argv(self) -> list[str]:
        """Command line: loopback only, default collectors off, the listed ones on."""
        return [
            str(self.binary),
            f"--web.listen-address={self.address}",
            "--collector.disable-defaults",
            *(f"--collector.{name}" for name in NODE_COLLECTORS),
        ]


class PrometheusServer(_Process):
    """One Prometheus with the given scrape jobs and rule files and a throwaway TSDB.

    ``scrape_configs`` are Prometheus ``scrape_configs`` entries (dicts); helpers such as
    :func:`static_job` build the common case.
    """

    name = "prometheus"
    ready_path = "/-/ready"

    def __init__(
        self,
        scrape_configs: Sequence[Mapping[str, Any]],
        rule_files: Sequence[Path] = (),
        *,
        interval: str = "1s",
        root: Path | None = None,
    ) -> None:
        super().__init__(debian_binary("prometheus", "prometheus"), root)
        self.scrape_configs = list(scrape_configs)
        self.rule_files = [Path(p).resolve() for p in rule_files]
        self.interval = interval
        self.config_file = self.root / "prometheus.yml"
        self.data_dir = self.root / "data"

    def argv(self) -> list[str]:
        """Write the config, then return the command line (loopback, temp storage)."""
        config = {
            "global": {
                "scrape_interval": self.interval,
                "scrape_timeout": self.interval,
                "evaluation_interval": self.interval,
            },
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": self.scrape_configs,
        }
        self.config_file.write_text(json.dumps(config, indent=2))
        return [
            str(self.binary),
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address={self.address}",
            "--storage.tsdb.retention.time=1d",
            "--log.level=warn",
        ]

    # --- HTTP API --------------------------------------------------------------------------

    def api(self, path: str, params: Mapping[str, str | Sequence[str]] | None = None) -> Any:
        """GET ``/api/v1/<path>`` and return ``data``; PromQLError when Prometheus says error."""
        query = urllib.parse.urlencode(params or {}, doseq=True)
        url = f"{self.url}/api/v1/{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:  # 400/422 carry Prometheus' JSON error
            body = json.loads(exc.read() or b"{}")
        if body.get("status") != "success":
            expr = str((params or {}).get("query", path))
            raise PromQLError(expr, body.get("errorType", "?"), body.get("error", str(body)))
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Evaluate ``expr`` at ``at`` (default now): the instant vector (or scalar as one item)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self.api("query", params)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """Evaluate ``expr`` at every ``step`` seconds from ``start`` to ``end`` (a matrix)."""
        data = self.api(
            "query_range",
            {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step}"},
        )
        return list(data["result"])

    def label_values(self, label: str, match: str | None = None) -> list[str]:
        """Values of ``label`` (among series matching ``match``), as Grafana's label_values()."""
        params: dict[str, str | Sequence[str]] = {"match[]": [match]} if match else {}
        return sorted(self.api(f"label/{label}/values", params))

    def targets(self) -> list[dict[str, Any]]:
        """Active scrape targets with their health and last error."""
        return list(self.api("targets", {"state": "active"})["activeTargets"])

    def rules(self) -> list[dict[str, Any]]:
        """Every loaded rule with its health, last error and state."""
        return [rule for group in self.api("rules")["groups"] for rule in group["rules"]]

    def wait_for_targets(self, timeout: float = DEADLINE) -> None:
        """Wait until every scrape target has been scraped successfully at least once."""

        def all_up() -> bool:
            targets = self.targets()
            return bool(targets) and all(t["health"] == "up" for t in targets)

        try:
            wait_until(all_up, timeout, "Prometheus targets up", alive=lambda: self.running)
        except TimeoutError as exc:
            down = {t["scrapeUrl"]: t["lastError"] for t in self.targets() if t["health"] != "up"}
            raise TimeoutError(f"{exc}; down: {down}") from exc

    def wait_for_data(self, expr: str, timeout: float = DEADLINE) -> list[dict[str, Any]]:
        """Poll ``expr`` until it returns a non-empty result; return it (TimeoutError if never)."""
        result: list[dict[str, Any]] = []

        def present() -> bool:
            nonlocal result
            result = self.query(expr)
            return bool(result)

        wait_until(present, timeout, f"data for {expr}", alive=lambda: self.running, interval=0.25)
        return result


def static_job(
    name: str,
    targets: Sequence[str],
    labels: Mapping[str, str] | None = None,
    *,
    metrics_path: str = "/metrics",
    honor_labels: bool = False,
) -> dict[str, Any]:
    """A scrape job for fixed ``host:port`` targets, with extra target ``labels``."""
    job: dict[str, Any] = {
        "job_name": name,
        "metrics_path": metrics_path,
        "honor_labels": honor_labels,
        "static_configs": [{"targets": list(targets), "labels": dict(labels or {})}],
    }
    return job


class FixtureExporter:
    """Serves ``render()`` as Prometheus text on ``/metrics`` from a thread, on loopback.

    For series that cannot exist on this machine (a Kubernetes cluster's): the caller's
    ``render`` writes them, clearly labelled, and may let counters grow with time.
    """

    def __init__(self, render: Callable[[], str]) -> None:
        self.render = render
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # scrapes every second would flood the test output

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """``host:port`` as a scrape target."""
        return f"{LOOPBACK}:{self.port}"

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
