"""``make monitor``'s Prometheus configuration: valid for promtool, and labelled like the
cluster, so the dashboards' queries work on a laptop unchanged."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from porto_dashboards import ROOT


def _monitor() -> ModuleType:
    spec = importlib.util.spec_from_file_location("porto_monitor", ROOT / "monitor.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_config_is_valid_and_labelled_like_a_service_monitor(
    promtool: Path, tmp_path: Path
) -> None:
    monitor = _monitor()
    config = monitor.config("127.0.0.1:8000", "127.0.0.1:9100", "127.0.0.1:8501", "5s")
    path = tmp_path / "prometheus.yml"
    path.write_text(json.dumps(config))
    result = subprocess.run(
        [str(promtool), "check", "config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = {job["job_name"]: job["static_configs"][0] for job in config["scrape_configs"]}
    assert set(jobs) == {"porto-inference", "porto-ui", "node-exporter"}
    api = jobs["porto-inference"]["labels"]
    assert (api["namespace"], api["service"], api["endpoint"]) == (
        "porto",
        "porto-inference",
        "http",
    )
    assert api["pod"].startswith("porto-inference-")


def test_runbook_base_url_rewrites_every_runbook_url(promtool: Path, tmp_path: Path) -> None:
    """``make monitor ARGS=--runbook-base-url=...``: the local Prometheus evaluates a copy of the
    rules whose runbook_url point at the given runbook; promtool accepts the copy."""
    monitor = _monitor()
    assert monitor.rules_text(None) == monitor.RULES.read_text()
    base = "http://wiki.internal/porto/runbook"
    rules = tmp_path / "porto.rules.yml"
    rules.write_text(monitor.rules_text(base))
    alerts = [r for g in yaml.safe_load(rules.read_text())["groups"] for r in g["rules"]]
    assert alerts and all(
        r["annotations"]["runbook_url"] == f"{base}#{r['alert'].lower()}" for r in alerts
    )
    result = subprocess.run(
        [str(promtool), "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    config = monitor.config("127.0.0.1:8000", None, None, "5s", rules)
    assert config["rule_files"] == [str(rules)]


def test_a_relative_runbook_base_url_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monitor = _monitor()
    with pytest.raises(SystemExit) as exit_info:
        monitor.main(["--runbook-base-url", "dashboards/RUNBOOK.md", "--data-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--runbook-base-url 'dashboards/RUNBOOK.md'" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir()), "nothing started or written"
