"""``make monitor``: Prometheus and node exporter for porto's local mode, no cluster needed.

Prometheus (Debian package ``prometheus``) listens on 127.0.0.1:9090, scrapes the local API
(127.0.0.1:8000) every 5 s with the target labels a kube-prometheus-stack ServiceMonitor would
attach (so the dashboards' queries work unchanged), scrapes a node exporter it starts itself, and
evaluates porto's alert rules. Its data stays in ``$PORTO_HOME/prometheus``. Ctrl-C stops both.

Point any Grafana at http://127.0.0.1:9090 and import ``dashboards/*.json`` (or use the files in
``dashboards/provisioning/``); ``python dashboards/build.py --queries`` prints every panel query
ready to paste into Prometheus' own page.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
RULES = ROOT / "alerts" / "porto.rules.yml"
#: The labels a ServiceMonitor gives the inference pod's target in namespace ``porto``.
TARGET_LABELS = {
    "namespace": "porto",
    "service": "porto-inference",
    "pod": "porto-inference-local-0",
    "container": "inference",
    "endpoint": "http",
}
NODE_COLLECTORS = ("cpu", "diskstats", "filesystem", "loadavg", "meminfo", "stat", "uname")
#: A runbook_url's part before its ``#anchor`` (the chart's rules.runbookBaseUrl replaces it too).
RUNBOOK_BASE = re.compile(r"https?://[^#\"'\s]+#")


def rules_text(runbook_base_url: str | None) -> str:
    """porto's alert rules, with every runbook_url's base replaced by ``runbook_base_url``
    (None keeps the rules' own: the runbook in porto's repository)."""
    text = RULES.read_text()
    if runbook_base_url is None:
        return text
    if not re.fullmatch(r"https?://[^#\s]+", runbook_base_url):
        raise ValueError(
            f"--runbook-base-url {runbook_base_url!r}: an absolute http(s) address without #"
        )
    return RUNBOOK_BASE.sub(lambda _: runbook_base_url + "#", text)


def _binary(name: str, package: str) -> str:
    found = shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/bin:/usr/sbin")
    if found is None:
        sys.exit(f"{name} not found: `apt-get install {package}` (Debian/Ubuntu)")
    return found


def _host_port(address: str, option: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9090`` for IPv6) as a pair; ConfigError naming ``option``."""
    from porto.errors import ConfigError

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"{option} {address!r}: expected host:port, e.g. 127.0.0.1:9090")
    return host.strip("[]"), int(port)


def config(
    api: str, node: str | None, ui: str | None, interval: str, rules: Path = RULES
) -> dict[str, Any]:
    """The Prometheus configuration (JSON is valid YAML), evaluating the rule file ``rules``."""
    jobs: list[dict[str, Any]] = [
        {
            "job_name": "porto-inference",
            "static_configs": [{"targets": [api], "labels": TARGET_LABELS}],
        }
    ]
    if ui:
        ui_labels = {**TARGET_LABELS, "service": "porto-ui", "pod": "porto-ui-local-0"}
        ui_labels["container"] = "ui"
        jobs.append(
            {"job_name": "porto-ui", "static_configs": [{"targets": [ui], "labels": ui_labels}]}
        )
    if node:
        jobs.append({"job_name": "node-exporter", "static_configs": [{"targets": [node]}]})
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(rules)],
        "scrape_configs": jobs,
    }


def main(argv: list[str] | None = None) -> int:
    """Run Prometheus (and node exporter) until Ctrl-C; return the exit status."""
    parser = argparse.ArgumentParser(prog="make monitor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", default="127.0.0.1:8000", help="inference API host:port")
    parser.add_argument("--ui", help="UI metrics host:port, if the UI runs")
    parser.add_argument(
        "--listen",
        default=os.environ.get("PORTO_MONITOR_LISTEN", "127.0.0.1:9090"),
        help="Prometheus address (PORTO_MONITOR_LISTEN, 127.0.0.1:9090)",
    )
    parser.add_argument(
        "--node-listen",
        default=os.environ.get("PORTO_MONITOR_NODE_LISTEN", "127.0.0.1:9100"),
        help="node exporter address (PORTO_MONITOR_NODE_LISTEN, 127.0.0.1:9100)",
    )
    parser.add_argument("--no-node-exporter", action="store_true", help="skip node exporter")
    parser.add_argument("--interval", default="5s", help="scrape and rule evaluation interval")
    parser.add_argument(
        "--runbook-base-url",
        help="absolute address of your copy of dashboards/RUNBOOK.md: the alerts' runbook_url "
        "become <it>#<alert> (default: the runbook in porto's repository)",
    )
    home = Path(os.environ.get("PORTO_HOME", ".porto"))
    parser.add_argument("--data-dir", type=Path, default=home / "prometheus", help="TSDB dir")
    args = parser.parse_args(argv)
    try:
        rules = rules_text(args.runbook_base_url)
    except ValueError as exc:
        parser.error(str(exc))

    from porto.errors import PortoError
    from porto.ports import ensure_all_free

    listens = [(args.listen, "--listen")]
    if not args.no_node_exporter:
        listens.append((args.node_listen, "--node-listen"))
    try:
        ensure_all_free([(*_host_port(address, option), option) for address, option in listens])
    except PortoError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1

    prometheus = _binary("prometheus", "prometheus")
    node_binary = (
        None
        if args.no_node_exporter
        else _binary("prometheus-node-exporter", "prometheus-node-exporter")
    )
    args.data_dir.mkdir(parents=True, exist_ok=True)
    config_file = args.data_dir / "prometheus.yml"
    rules_file = args.data_dir / RULES.name  # a copy, with the runbook address asked for
    rules_file.write_text(rules)
    node = args.node_listen if node_binary else None
    settings = config(args.api, node, args.ui, args.interval, rules_file)
    config_file.write_text(json.dumps(settings, indent=2))

    commands: list[list[str]] = []
    if node_binary:
        collectors = [f"--collector.{name}" for name in NODE_COLLECTORS]
        commands.append(
            [
                node_binary,
                f"--web.listen-address={node}",
                "--collector.disable-defaults",
                *collectors,
            ]
        )
    commands.append(
        [
            prometheus,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={args.data_dir / 'data'}",
            f"--web.listen-address={args.listen}",
            "--storage.tsdb.retention.time=7d",
            "--log.level=warn",
        ]
    )
    # Ctrl-C and `kill` both stop everything; a job started in the background ignores SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    children = [(argv[0], subprocess.Popen(argv)) for argv in commands]
    sys.stderr.write(
        f"Prometheus on http://{args.listen} scraping the API at {args.api} every {args.interval}"
        f"{f' and node exporter on {node}' if node else ''}; alert rules from {RULES.name}.\n"
        "Panel queries: python dashboards/build.py --queries. Ctrl-C stops.\n"
    )
    died = None
    try:
        while died is None:
            time.sleep(0.5)
            died = next((name for name, child in children if child.poll() is not None), None)
    except KeyboardInterrupt:
        pass
    finally:
        for _, child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for _, child in children:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
    if died is not None:
        sys.stderr.write(f"{died} stopped on its own: see its output above\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
