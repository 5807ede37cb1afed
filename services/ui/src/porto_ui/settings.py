"""The UI's one settings object, read from ``PORTO_UI_*`` environment variables.

The UI talks to the inference API, so its configuration is where that API is, the key it may
need, how long to wait for it, and where the UI's own Prometheus metrics are served; and, only
when the training launcher is on, which Job template to start training runs from and where. The
Helm chart sets exactly these variables; local mode needs none of them.
"""

from __future__ import annotations

from typing import Any

from porto.settings_base import PortoSettings
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

ENV_PREFIX = "PORTO_UI_"


class UISettings(PortoSettings):
    """Configuration of one UI deployment (production refuses a placeholder API key)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX)
    label = "UI"

    host: str = Field(
        default="127.0.0.1", description="Address the UI (Streamlit) binds (0.0.0.0 in a pod)."
    )
    port: int = Field(default=8501, ge=1, le=65535, description="Port the UI binds.")
    api_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL of the porto inference API (the only service the UI talks to).",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="Sent as X-API-Key on every call when set: the API needs it for "
        "predictions, promotion and monitoring when it has a key configured (always, in "
        "production; the chart reads it from the API's key Secret).",
    )
    connect_timeout_s: float = Field(
        default=1.0,
        gt=0,
        description="TCP connect timeout: short, so a down API is reported at once.",
    )
    read_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description="Read timeout of ordinary calls: a slow API is reported instead of "
        "freezing the page.",
    )
    batch_timeout_s: float = Field(
        default=60.0, gt=0, description="Read timeout of one batch chunk and of a promotion."
    )
    batch_chunk_rows: int = Field(
        default=2000,
        ge=1,
        le=10_000,
        description="Rows per /predict/batch call (the progress bar advances per chunk; the API "
        "refuses more than its PORTO_INFERENCE_BATCH_MAX_ROWS, 10,000 by default).",
    )
    max_upload_mb: int = Field(
        default=200, ge=1, description="Largest upload Streamlit accepts, in megabytes."
    )
    max_upload_rows: int = Field(
        default=200_000, ge=1, description="Largest CSV (data rows) the batch page accepts."
    )
    monitor_refresh_s: float = Field(
        default=10.0,
        ge=0,
        description="The monitoring page refreshes itself this often (0: only on demand).",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Address of the UI's Prometheus endpoint (0.0.0.0 in a cluster).",
    )
    metrics_port: int = Field(
        default=8502,
        ge=0,
        le=65535,
        description="Port of the UI's Prometheus endpoint (page views, API calls); 0 turns it off.",
    )

    training_launcher: bool = Field(
        default=False,
        description="Show the Training page's 'Train a new model' form: it creates a training Job "
        "from the chart's Job template through the Kubernetes API (the chart's "
        "ui.trainingLauncher.enabled grants the ServiceAccount a Role for it).",
    )
    training_template: str = Field(
        default="porto-training-job-template",
        min_length=1,
        description="ConfigMap holding the training Job template (release `porto`'s by default).",
    )
    kube_namespace: str | None = Field(
        default=None,
        description="Namespace to start training Jobs in (unset: the pod's own, or the "
        "kubeconfig context's).",
    )
    kubeconfig: str | None = Field(
        default=None,
        description="Kubeconfig for the training launcher outside a cluster (unset: in-cluster "
        "ServiceAccount in a pod, else $KUBECONFIG or ~/.kube/config).",
    )

    @field_validator("api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        url = value.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return url

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> UISettings:
        self.refuse_placeholder("api_key", self.api_key, "set the API's real key")
        return self


def load_settings(**overrides: Any) -> UISettings:
    """The settings from the environment with ``overrides`` on top (a SettingsError, which is a
    ValueError, naming every bad variable on one line)."""
    return UISettings.load(**overrides)
