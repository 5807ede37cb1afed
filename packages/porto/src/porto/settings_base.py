"""What the settings of every porto deployable share: the ``local``/``production`` switch, the one
list of placeholder secrets production refuses, one-line errors, and the ``env`` table.

Each deployable has one subclass with its own prefix (``PORTO_INFERENCE_``, ``PORTO_UI_``) set in
its ``model_config``; ``porto-inference env`` and ``porto-ui env`` print :meth:`env_table`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from porto.errors import ConfigError

Environment = Literal["local", "production"]

#: Values that are obviously copied from an example (compared case-insensitively); refused outside
#: local mode wherever a secret is read.
PLACEHOLDER_SECRETS = frozenset(
    {"changeme", "change-me", "change_me", "secret", "password", "porto", "minioadmin", "admin"}
)


def is_placeholder(secret: str) -> bool:
    """Whether ``secret`` is one of :data:`PLACEHOLDER_SECRETS`, in any case."""
    return secret.lower() in PLACEHOLDER_SECRETS


class SettingsError(ConfigError, ValueError):
    """Invalid settings, one line naming every bad variable.

    A ConfigError, which porto's CLIs print as ``error: <message>``, and a ValueError, which the
    UI's Streamlit script catches to show a misconfiguration on the page.
    """


class PortoSettings(BaseSettings):
    """Base of one deployable's settings: frozen, unknown variables ignored, overrides by field
    name even where a field also answers to a shared name (``DATABASE_URL``)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    #: What the deployable is called in error messages (``invalid <label> settings: ...``).
    label: ClassVar[str] = "porto"

    environment: Environment = Field(
        default="local",
        description="'local' (one machine, tests) accepts placeholder secrets and the "
        "conveniences other settings call local-only; 'production' refuses both.",
    )

    @classmethod
    def env_prefix(cls) -> str:
        """The prefix of every variable of this class (``PORTO_INFERENCE_``)."""
        return str(cls.model_config.get("env_prefix", ""))

    @classmethod
    def load(cls, **overrides: Any) -> Self:
        """The settings from the environment with ``overrides`` on top; a SettingsError naming
        every bad variable on one line instead of pydantic's multi-line report."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            prefix = cls.env_prefix()
            problems = "; ".join(
                f"{prefix}{'_'.join(str(p) for p in err['loc']).upper() or 'SETTINGS'}: "
                f"{err['msg']}"
                for err in exc.errors()
            )
            raise SettingsError(f"invalid {cls.label} settings: {problems}") from exc

    def refuse_placeholder(self, name: str, secret: SecretStr | None, remedy: str) -> None:
        """Raise ValueError if field ``name`` holds a placeholder secret outside local mode
        (called from a model validator, which turns it into the SettingsError of :meth:`load`)."""
        if self.environment == "local" or secret is None:
            return
        if is_placeholder(secret.get_secret_value()):
            prefix = self.env_prefix()
            raise ValueError(
                f"{prefix}{name.upper()} is a placeholder value; {remedy} (placeholders are only "
                f"accepted with {prefix}ENVIRONMENT=local)"
            )

    @classmethod
    def env_table(cls) -> str:
        """Every variable of this class as a Markdown table: name (and the shared names that
        also set it), default, meaning."""
        prefix = cls.env_prefix()
        lines = ["| variable | default | meaning |", "|---|---|---|"]
        for name, field in cls.model_fields.items():
            default = field.get_default(call_default_factory=False)
            if field.default_factory is not None:
                default = "(computed)"
            shown = "" if default is None else str(default)
            var = f"{prefix}{name.upper()}"
            aliases = getattr(field.validation_alias, "choices", None) or []
            extra = [a for a in aliases if isinstance(a, str) and a != var]
            if extra:
                var += " (" + ", ".join(extra) + ")"
            lines.append(f"| `{var}` | `{shown}` | {field.description or ''} |")
        return "\n".join(lines)
