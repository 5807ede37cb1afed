"""One settings object from the environment: prefix, shared aliases, unsafe placeholders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from porto.errors import ConfigError
from porto.settings_base import PLACEHOLDER_SECRETS
from porto_inference.cli import main
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


#: What `openssl rand -hex 32` prints: the kind of key production takes.
STRONG_KEY = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
PRODUCTION = {"environment": "production", "database_url": "postgresql://x"}


def test_placeholders_refused_outside_local_mode() -> None:
    with pytest.raises(ConfigError, match="placeholder"):
        load_settings(**PRODUCTION, api_key="changeme")
    with pytest.raises(ConfigError, match="placeholder"):
        load_settings(**PRODUCTION, api_key=STRONG_KEY, s3_secret_key="minioadmin")
    with pytest.raises(ConfigError, match="embedded database"):
        load_settings(environment="production", api_key=STRONG_KEY)
    ok = load_settings(**PRODUCTION, api_key=STRONG_KEY)
    assert ok.api_key is not None and ok.api_key.get_secret_value() == STRONG_KEY
    assert load_settings(api_key="changeme").api_key is not None  # local mode allows it


@pytest.mark.parametrize("secret", sorted(PLACEHOLDER_SECRETS))
def test_production_refuses_every_shared_placeholder_as_s3_secret(secret: str) -> None:
    with pytest.raises(ConfigError, match="PORTO_INFERENCE_S3_SECRET_KEY is a placeholder value"):
        load_settings(**PRODUCTION, api_key=STRONG_KEY, s3_secret_key=secret.upper())


def test_production_refuses_to_start_without_an_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a key, promote and reload would be open to anything that reaches the Service."""
    monkeypatch.delenv("PORTO_INFERENCE_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="API_KEY is required") as caught:
        load_settings(**PRODUCTION)
    assert "openssl rand -hex 32" in str(caught.value)
    monkeypatch.setenv("PORTO_INFERENCE_ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://x")
    with pytest.raises(ConfigError, match="API_KEY is required"):
        load_settings()
    monkeypatch.setenv("PORTO_INFERENCE_API_KEY", STRONG_KEY)
    assert load_settings().api_key is not None


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("x", "1 characters, fewer than 32"),
        ("k-8f3a9", "7 characters"),
        ("0123456789abcdef0123456789abcde", "31 characters"),
        ("a" * 64, "only 1 different characters"),
        ("changeme" * 4, "only 7 different characters"),
        ("secretsecretsecretsecretsecret12", "only 7 different characters"),
        ("9f86d081884c7d659a2feaa0 c55ad015a3bf4f1b", "printable ASCII without spaces"),
        ("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b\n", "printable ASCII without spaces"),
        ("9f86d081884c7d659a2feaa0c55ad015a3bf4f1bé", "printable ASCII without spaces"),
        ("Password", "placeholder"),
    ],
)
def test_production_refuses_a_weak_api_key(key: str, why: str) -> None:
    with pytest.raises(ConfigError, match="PORTO_INFERENCE_API_KEY") as caught:
        load_settings(**PRODUCTION, api_key=key)
    message = str(caught.value)
    assert why in message and "openssl rand -hex 32" in message, message
    assert key not in message or len(key) < 8  # the key itself is never echoed
    assert load_settings(api_key=key).api_key is not None  # local mode takes any key


@pytest.mark.parametrize(
    "key",
    [
        STRONG_KEY,
        "0123456789abcdef0123456789abcdef",  # `openssl rand -hex 16`: 32 characters
        "q3ZP9xv0T1m8cKf2LwYb7NsRj4HdGa6E",  # the chart's randAlphaNum
        "n0Vq+7bG/3xYk2Lw9ZpR1sT8cMfJ5hDe4aUiQ6oW=",  # `openssl rand -base64 30`
    ],
)
def test_production_takes_a_random_api_key(key: str) -> None:
    assert load_settings(**PRODUCTION, api_key=key).api_key is not None


def test_local_mode_needs_no_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make demo` and the tests run without a key: everything is open there."""
    monkeypatch.delenv("PORTO_INFERENCE_API_KEY", raising=False)
    monkeypatch.delenv("PORTO_INFERENCE_ENVIRONMENT", raising=False)
    settings = load_settings()
    assert settings.environment == "local" and settings.api_key is None


def test_bad_values_are_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="PORTO_INFERENCE_BATCH_MAX_ROWS"):
        load_settings(batch_max_rows=0)


def test_challengers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTO_INFERENCE_CHALLENGERS", " challenger, 20260102-000000-bbbb ,")
    monkeypatch.setenv("PORTO_INFERENCE_CANARY_SHARE", "0.1")
    settings = load_settings()
    assert settings.challengers == ["challenger", "20260102-000000-bbbb"]
    assert (settings.shadow_share, settings.canary_share) == (1.0, 0.1)
    monkeypatch.setenv("PORTO_INFERENCE_CHALLENGERS", "")
    monkeypatch.setenv("PORTO_INFERENCE_CANARY_SHARE", "0")
    assert load_settings().challengers == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"shadow_share": 1.5}, "PORTO_INFERENCE_SHADOW_SHARE: Input should be less than or"),
        ({"shadow_share": -0.1}, "PORTO_INFERENCE_SHADOW_SHARE: Input should be greater than"),
        ({"canary_share": 2}, "PORTO_INFERENCE_CANARY_SHARE"),
        ({"canary_share": 0.2}, "CANARY_SHARE=0.2 needs a challenger to serve"),
        ({"challengers": "a,a"}, "challengers name a version twice"),
        ({"challengers": "a b"}, "'a b' is not a version or alias name"),
        ({"challengers": "champion"}, "names the served alias 'champion'"),
        ({"shadow_queue_max_rows": 0}, "PORTO_INFERENCE_SHADOW_QUEUE_MAX_ROWS"),
        ({"promote_min_labels": 0}, "PORTO_INFERENCE_PROMOTE_MIN_LABELS"),
        ({"promote_min_auc_gain": -1}, "PORTO_INFERENCE_PROMOTE_MIN_AUC_GAIN"),
    ],
)
def test_challenger_settings_are_checked(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(**overrides)


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


def test_cli_exit_codes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """0 on success, 1 with one `error:` line for a porto failure, 2 for a usage error."""
    assert main(["env"]) == 0
    assert "`PORTO_INFERENCE_HOME (PORTO_HOME)`" in capsys.readouterr().out
    monkeypatch.setenv("PORTO_INFERENCE_BATCH_MAX_ROWS", "0")
    assert main(["check"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: invalid inference settings: PORTO_INFERENCE_BATCH_MAX_ROWS")
    assert len(err.strip().splitlines()) == 1
    assert main(["serve", "--port", "not-a-number"]) == 2
    assert "--port" in capsys.readouterr().err
    assert main(["nope"]) == 2
