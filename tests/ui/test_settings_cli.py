"""Settings from PORTO_UI_*, the metrics endpoint's once-per-process guard, and the CLI."""

from __future__ import annotations

import urllib.request

import pytest
from harness.ports import free_port
from porto.settings_base import PLACEHOLDER_SECRETS
from porto_ui import metrics
from porto_ui.cli import main
from porto_ui.server import app_path, settings_env, streamlit_command
from porto_ui.settings import load_settings


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTO_UI_API_URL", "http://api.example:9000/")
    monkeypatch.setenv("PORTO_UI_API_KEY", "abc")
    monkeypatch.setenv("PORTO_UI_METRICS_PORT", "0")
    settings = load_settings()
    assert settings.api_url == "http://api.example:9000"
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "abc"
    assert "abc" not in repr(settings)
    assert settings.metrics_port == 0


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PORTO_UI_API_URL", "api:8000", "PORTO_UI_API_URL"),
        ("PORTO_UI_CONNECT_TIMEOUT_S", "0", "PORTO_UI_CONNECT_TIMEOUT_S"),
        ("PORTO_UI_BATCH_CHUNK_ROWS", "50000", "PORTO_UI_BATCH_CHUNK_ROWS"),
    ],
)
def test_bad_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=message):
        load_settings()


def test_placeholder_keys_are_refused_outside_local_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTO_UI_API_KEY", "changeme")
    assert load_settings().environment == "local"
    monkeypatch.setenv("PORTO_UI_ENVIRONMENT", "production")
    with pytest.raises(ValueError, match="placeholder"):
        load_settings()


@pytest.mark.parametrize("key", sorted(PLACEHOLDER_SECRETS))
def test_the_ui_refuses_the_shared_placeholder_list(key: str) -> None:
    """porto.settings_base's one list (the UI's own copy once lacked ``minioadmin``)."""
    with pytest.raises(ValueError, match="PORTO_UI_API_KEY is a placeholder value"):
        load_settings(environment="production", api_key=key.upper())
    assert load_settings(api_key=key).api_key is not None  # local mode takes it


def test_metrics_are_served_once_per_process() -> None:
    assert metrics.start_server(0) is None  # off
    port = free_port()
    assert metrics.start_server(port) == port
    assert metrics.start_server(free_port()) == port  # a rerun never binds again
    metrics.count_page_view("unit-test")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    assert 'page_views_total{page="unit-test"} 1.0' in text
    assert "porto_ui_up 1.0" in text


def test_the_streamlit_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTO_UI_API_KEY", "s3cr3t-ui-key")
    settings = load_settings(host="0.0.0.0", port=8600)
    argv = streamlit_command(settings)
    assert argv[1:4] == ["-m", "porto_ui.launch", "run"]
    assert argv[4] == str(app_path()) and app_path().is_file()
    for flag in (
        "--server.headless=true",
        "--server.address=0.0.0.0",
        "--server.port=8600",
        "--browser.gatherUsageStats=false",
        "--server.fileWatcherType=none",
    ):
        assert flag in argv
    env = settings_env(settings)
    assert env["PORTO_UI_API_KEY"] == "s3cr3t-ui-key"
    assert env["PORTO_UI_PORT"] == "8600"
    assert "s3cr3t" not in " ".join(argv)


def test_cli_env_and_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env"]) == 0
    table = capsys.readouterr().out
    for variable in ("PORTO_UI_API_URL", "PORTO_UI_API_KEY", "PORTO_UI_METRICS_PORT"):
        assert f"`{variable}`" in table
    assert main(["serve", "--api-url", "not a url"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: invalid UI settings: PORTO_UI_API_URL") and "Traceback" not in err
    assert main(["serve", "--port", "not-a-number"]) == 2  # a usage error
    assert "--port" in capsys.readouterr().err
    assert main(["nope"]) == 2
