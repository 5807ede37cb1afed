"""One settings object from the environment: prefix, shared aliases, unsafe placeholders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from porto.errors import ConfigError
from porto_inference.settings import Settings, default_workers, load_settings


def test_prefix_and_shared_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTO_HOME", "/srv/porto")
    monkeypatch.setenv("DATABASE_URL", "postgresql://a:b@db/x")
    monkeypatch.setenv("PORTO_INFERENCE_BATCH_MAX_ROWS", "50")
    monkeypatch.setenv("PORTO_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    s = Settings()
    assert s.home == Path("/srv/porto")
    assert s.resolved_store_uri == "/srv/porto/artifacts"
    assert s.database_url is not None
    assert s.database_url.get_secret_value() == "postgresql://a:b@db/x"
    assert s.batch_max_rows == 50
    assert s.s3_options().endpoint_url == "http://127.0.0.1:9000"
    monkeypatch.setenv("PORTO_INFERENCE_DATABASE_URL", "postgresql://prefixed/x")
    assert Settings().database_url.get_secret_value() == "postgresql://prefixed/x"  # type: ignore[union-attr]


def test_defaults() -> None:
    s = Settings()
    assert (s.host, s.port, s.batch_max_rows) == ("127.0.0.1", 8000, 10_000)
    assert s.workers == default_workers() >= 1
    assert s.model_alias == "champion" and s.fallback_alias == "latest"


def test_placeholders_refused_outside_local_mode() -> None:
    with pytest.raises(ConfigError, match="placeholder"):
        load_settings(environment="production", api_key="changeme", database_url="postgresql://x")
    with pytest.raises(ConfigError, match="embedded database"):
        load_settings(environment="production")
    ok = load_settings(environment="production", api_key="k-8f3a9", database_url="postgresql://x")
    assert ok.api_key is not None
    assert load_settings(api_key="changeme").api_key is not None  # local mode allows it


def test_bad_values_are_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="PORTO_INFERENCE_BATCH_MAX_ROWS"):
        load_settings(batch_max_rows=0)


def test_cli_env_lists_every_variable() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "porto_inference", "env"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    for name in Settings.model_fields:
        assert f"PORTO_INFERENCE_{name.upper()}" in out
    assert "DATABASE_URL" in out and "PORTO_HOME" in out
