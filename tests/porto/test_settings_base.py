"""porto.settings_base: the one placeholder list and its guard, one-line errors that are both
ConfigError and ValueError, and the ``env`` table every CLI prints (seen through a settings
class of the tests' own; tests/inference and tests/ui check each service's subclass)."""

from __future__ import annotations

from pathlib import Path

import pytest
from porto.errors import ConfigError
from porto.settings_base import (
    PLACEHOLDER_SECRETS,
    PortoSettings,
    SettingsError,
    is_placeholder,
)
from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

STRONG_KEY = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


class _Demo(PortoSettings):
    """A deployable of the tests' own, to see the base without either service's rules."""

    model_config = SettingsConfigDict(env_prefix="PORTO_DEMO_TEST_")
    label = "demo"

    token: SecretStr | None = Field(default=None, description="A secret.")
    home: Path = Field(
        default=Path(".porto"),
        validation_alias=AliasChoices("PORTO_DEMO_TEST_HOME", "PORTO_HOME"),
        description="Also PORTO_HOME.",
    )
    count: int = Field(default_factory=lambda: 3, ge=1, description="Computed.")

    @model_validator(mode="after")
    def _refuse(self) -> _Demo:
        self.refuse_placeholder("token", self.token, "set a real token")
        return self


def test_placeholders_are_recognised_in_any_case() -> None:
    assert {"changeme", "minioadmin", "admin"} <= PLACEHOLDER_SECRETS
    assert is_placeholder("ChangeMe") and is_placeholder("MINIOADMIN")
    assert not is_placeholder(STRONG_KEY)


def test_the_guard_names_the_variable_and_the_way_out() -> None:
    with pytest.raises(SettingsError) as caught:
        _Demo.load(environment="production", token="Password")
    assert str(caught.value) == (
        "invalid demo settings: PORTO_DEMO_TEST_SETTINGS: Value error, PORTO_DEMO_TEST_TOKEN is "
        "a placeholder value; set a real token (placeholders are only accepted with "
        "PORTO_DEMO_TEST_ENVIRONMENT=local)"
    )
    assert _Demo.load(environment="production", token=STRONG_KEY).token is not None
    assert _Demo.load(environment="production").token is None  # nothing set, nothing refused


def test_a_settings_error_is_a_config_error_and_a_value_error() -> None:
    """porto's CLIs print a ConfigError as one line; the UI's page catches a ValueError."""
    with pytest.raises(SettingsError) as caught:
        _Demo.load(count=0, environment="staging")
    error = caught.value
    assert isinstance(error, ConfigError) and isinstance(error, ValueError)
    assert error.message.startswith("invalid demo settings: ")
    assert "PORTO_DEMO_TEST_COUNT" in error.message
    assert "PORTO_DEMO_TEST_ENVIRONMENT" in error.message
    assert "\n" not in error.message


def test_overrides_by_field_name_win_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PORTO_HOME", "/srv/porto")
    assert _Demo.load().home == Path("/srv/porto")
    assert _Demo.load(home=Path("/elsewhere")).home == Path("/elsewhere")
    monkeypatch.setenv("PORTO_DEMO_TEST_ENVIRONMENT", "production")
    assert _Demo.load().environment == "production"


def test_the_env_table() -> None:
    lines = _Demo.env_table().splitlines()
    assert lines[:2] == ["| variable | default | meaning |", "|---|---|---|"]
    assert lines[2].startswith("| `PORTO_DEMO_TEST_ENVIRONMENT` | `local` | 'local'")
    assert "| `PORTO_DEMO_TEST_TOKEN` | `` | A secret. |" in lines
    assert "| `PORTO_DEMO_TEST_HOME (PORTO_HOME)` | `.porto` | Also PORTO_HOME. |" in lines
    assert "| `PORTO_DEMO_TEST_COUNT` | `(computed)` | Computed. |" in lines
    assert len(lines) == 2 + len(_Demo.model_fields)
