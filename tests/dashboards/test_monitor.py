"""``make monitor``'s Prometheus configuration: valid for promtool, and labelled like the
cluster, so the dashboards' queries work on a laptop unchanged."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path
from types import ModuleType

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
