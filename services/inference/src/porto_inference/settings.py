"""The inference service's one settings object, read from environment variables.

Every variable carries the ``PORTO_INFERENCE_`` prefix; a few also answer to the names the rest of
porto (and common tooling) already uses: ``PORTO_HOME``, ``DATABASE_URL`` and ``PORTO_S3_*``.
The Helm chart sets exactly these variables; local mode needs none of them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from porto.settings_base import PortoSettings, is_placeholder
from porto.store import S3Options
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

ENV_PREFIX = "PORTO_INFERENCE_"

#: The API key production demands: this long (``openssl rand -hex 32`` gives 64 characters, the
#: chart generates 48), printable ASCII without spaces (it travels in an HTTP header), and made
#: of at least this many different characters (refuses ``aaaa…`` and a word repeated to length).
API_KEY_MIN_LENGTH = 32
API_KEY_MIN_DISTINCT = 8
#: How to make a key that passes, for the error messages.
API_KEY_HOWTO = (
    "generate one with `openssl rand -hex 32` (the Helm chart generates one into a Secret "
    "unless global.apiKey.existingSecret names yours)"
)


def api_key_problem(key: str) -> str | None:
    """Why ``key`` is too weak for production, or None when it will do.

    A heuristic, not a proof of randomness: it refuses what is short, repetitive or copied from
    an example, and lets any key of 32+ random characters through.
    """
    if is_placeholder(key):
        return "is a placeholder value"
    if len(key) < API_KEY_MIN_LENGTH:
        return f"has {len(key)} characters, fewer than {API_KEY_MIN_LENGTH}"
    if not all("!" <= char <= "~" for char in key):
        return "must be printable ASCII without spaces (it is sent in an HTTP header)"
    if len(set(key)) < API_KEY_MIN_DISTINCT:
        return (
            f"uses only {len(set(key))} different characters (at least "
            f"{API_KEY_MIN_DISTINCT}): it is not random"
        )
    return None


def default_workers() -> int:
    """One worker per usable CPU: inference is CPU-bound, so more only adds context switches."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class Settings(PortoSettings):
    """Configuration of one inference deployment (all workers of all pods share it).

    Production (``environment``) also refuses the embedded database and requires a strong API
    key (32+ random characters).
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX)
    label = "inference"

    # --- where things live ---------------------------------------------------------------------
    home: Path = Field(
        default=Path(".porto"),
        validation_alias=AliasChoices("PORTO_INFERENCE_HOME", "PORTO_HOME"),
        description="Local state directory (artifacts, embedded database). Also PORTO_HOME.",
    )
    store_uri: str | None = Field(
        default=None,
        description="Artifact store: file:// directory or s3://bucket/prefix. "
        "Default: <home>/artifacts, where `porto-train` writes in local mode.",
    )
    model_name: str = Field(default="porto", description="Registry name of the model to serve.")
    model_alias: str = Field(
        default="champion", description="Alias served by default and watched for promotions."
    )
    fallback_alias: str = Field(
        default="latest", description="Alias served when `model_alias` does not exist (yet)."
    )
    poll_interval_s: float = Field(
        default=10.0, gt=0, description="How often each worker checks the alias for a new version."
    )
    model_cache_size: int = Field(
        default=3, ge=1, description="Versions kept loaded for `model_version=` requests (LRU)."
    )
    model_threads: int = Field(
        default=1,
        ge=1,
        description="CatBoost threads per prediction call (workers already use "
        "every core, so more threads only contend).",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PORTO_INFERENCE_S3_ENDPOINT_URL", "PORTO_S3_ENDPOINT_URL"),
        description="S3/MinIO endpoint. Also PORTO_S3_ENDPOINT_URL.",
    )
    s3_access_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PORTO_INFERENCE_S3_ACCESS_KEY", "PORTO_S3_ACCESS_KEY"),
        description="S3 access key. Also PORTO_S3_ACCESS_KEY.",
    )
    s3_secret_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("PORTO_INFERENCE_S3_SECRET_KEY", "PORTO_S3_SECRET_KEY"),
        description="S3 secret key. Also PORTO_S3_SECRET_KEY.",
    )
    s3_region: str = Field(
        default="us-east-1",
        validation_alias=AliasChoices("PORTO_INFERENCE_S3_REGION", "PORTO_S3_REGION"),
        description="S3 region. Also PORTO_S3_REGION.",
    )

    # --- HTTP server -----------------------------------------------------------------------------
    host: str = Field(default="127.0.0.1", description="Address gunicorn binds.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port gunicorn binds.")
    workers: int = Field(
        default_factory=default_workers, ge=1, description="gunicorn worker processes."
    )
    timeout_s: int = Field(
        default=60, ge=1, description="gunicorn: a worker silent this long is restarted."
    )
    graceful_timeout_s: int = Field(
        default=30, ge=1, description="gunicorn: time a worker gets to finish on SIGTERM."
    )
    keepalive_s: int = Field(default=5, ge=0, description="HTTP keep-alive seconds.")
    metrics_dir: Path | None = Field(
        default=None,
        description="PROMETHEUS_MULTIPROC_DIR for `serve`; emptied at start. Default: a fresh "
        "temporary directory.",
    )

    # --- requests --------------------------------------------------------------------------------
    api_key: SecretStr | None = Field(
        default=None,
        description="Needed, as `Authorization: Bearer <key>` or `X-API-Key: <key>`, by "
        "/predict, /predict/batch, /feedback, /monitoring/*, POST /models/reload and POST "
        "/models/{version}/promote (health, readiness, metrics, docs and the read-only /models "
        "and /schema routes stay open). Optional in local mode; required in production: 32+ "
        "random characters, e.g. `openssl rand -hex 32`.",
    )
    batch_max_rows: int = Field(
        default=10_000, ge=1, description="Rows per /predict/batch call; more is answered 413."
    )
    explain_max_rows: int = Field(
        default=1_000,
        ge=1,
        description="Rows per request with explain=true; more is answered 413 (an exact "
        "explanation costs many times a prediction).",
    )
    replay_max_rows: int = Field(
        default=10_000,
        ge=1,
        description="Most logged rows one POST /monitoring/replay scores (its default limit); "
        "a larger limit is answered 413. The CLI `porto-inference replay` has no such bound.",
    )
    max_body_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="Request body limit; more is answered 413."
    )
    allow_missing_features: bool = Field(
        default=False,
        description="Treat absent features as missing values instead of answering 422.",
    )
    otel: bool = Field(
        default=False,
        description="FastAPI's native OpenTelemetry instrumentation (configure the exporter with "
        "the usual OTEL_* variables). Off by default: it costs about 20 µs per request even when "
        "no exporter is configured, and Prometheus metrics cover the same ground.",
    )
    micro_batch_max: int = Field(
        default=64,
        ge=1,
        description="Concurrent single-row requests scored in one model call (1 disables).",
    )
    gc_young_threshold: int = Field(
        default=50_000,
        ge=0,
        description="Net container allocations between young garbage collections in a worker "
        "(Python's default is 700; 0 keeps it). A 1,000-row JSON batch allocates thousands of "
        "short-lived dicts, which at 700 trigger about five collections per request, each "
        "scanning the live batch again (5–12 % of a batch's CPU); almost everything a request "
        "allocates is freed by reference counting before 50,000 accumulate.",
    )

    # --- logging ---------------------------------------------------------------------------------
    log_level: str = Field(default="INFO", description="Level of the JSON logs on stdout.")
    log_requests: bool = Field(default=True, description="One JSON log line per request.")
    log_features: bool = Field(
        default=False, description="Include feature values in the request log lines."
    )

    # --- prediction log (PostgreSQL) -------------------------------------------------------------
    prediction_log: bool = Field(
        default=True, description="Write every prediction to PostgreSQL (`prediction_log`)."
    )
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("PORTO_INFERENCE_DATABASE_URL", "DATABASE_URL"),
        description="postgresql:// URL. Default, in local mode only: an embedded PostgreSQL "
        "(pgserver) under <home>/pgdata. Also DATABASE_URL.",
    )
    db_pool_size: int = Field(default=4, ge=1, description="Connections per worker.")
    db_connect_timeout_s: float = Field(default=5.0, gt=0, description="Connect timeout.")
    log_queue_max_rows: int = Field(
        default=100_000,
        ge=1,
        description="Rows the in-memory log queue holds while the database is slow or down; "
        "beyond it the overflow policy applies (log_overflow).",
    )
    log_overflow: Literal["drop", "backpressure"] = Field(
        default="drop",
        description="When the log queue is full: drop new rows (counted in "
        "prediction_log_dropped_total, alerted) and keep answering, or answer 429 with "
        "Retry-After before scoring, so nothing is answered that is not logged.",
    )
    log_retry_after_s: int = Field(
        default=1, ge=1, description="Retry-After (seconds) of a 429 under backpressure."
    )
    log_retention_days: int = Field(
        default=0,
        ge=0,
        description="Drop the prediction log's day partitions older than this many days "
        "(0: keep everything; the chart sets 30).",
    )
    log_retention_require_export: bool = Field(
        default=False,
        description="Retention drops only the day partitions exported as Parquet "
        "(`porto-inference log-export`) whose export still matches them (rows and labelled "
        "rows); a day whose export no longer does is forgotten, so the next export redoes it.",
    )
    log_export_uri: str | None = Field(
        default=None,
        description="Where `porto-inference log-export` writes the log's day partitions as "
        "Parquet (<uri>/prediction-log/day=YYYY-MM-DD/): a file:// directory or "
        "s3://bucket/prefix. Default: the artifact store (store_uri).",
    )
    log_flush_rows: int = Field(
        default=20_000,
        ge=1,
        description="Rows per COPY, at most (the writer runs in its own thread: larger chunks "
        "cost the request loop nothing, and PostgreSQL about 0.3 µs less per row than chunks of "
        "5,000: fewer commits); a full chunk is written as soon as it is queued.",
    )
    log_flush_interval_s: float = Field(
        default=0.5,
        gt=0,
        description="Longest a row waits in the queue when the DB is up (plus the write before "
        "it): under steady traffic the writer writes once per interval.",
    )
    log_retry_max_s: float = Field(
        default=10.0, gt=0, description="Longest back-off between reconnect attempts."
    )
    shutdown_flush_timeout_s: float = Field(
        default=10.0, ge=0, description="Time spent flushing the queue on shutdown."
    )
    feedback_flush_timeout_s: float = Field(
        default=5.0,
        ge=0,
        description="Time /feedback waits for this worker's queue to reach the database first.",
    )
    feedback_pending_s: float = Field(
        default=3600.0,
        ge=0,
        description="Feedback for a not-yet-logged prediction id younger than this is kept and "
        "applied when the prediction arrives (it may sit in another worker's queue).",
    )
    feedback_pending_max_rows: int = Field(
        default=50_000,
        ge=0,
        description="Most feedback labels kept waiting for their prediction, over all workers "
        "and pods; labels past it are answered as `refused` (send them again later).",
    )
    feedback_pending_max_per_request: int = Field(
        default=1_000,
        ge=0,
        description="Most labels one /feedback request may leave waiting for their prediction.",
    )

    # --- monitoring ------------------------------------------------------------------------------
    quality_interval_s: float = Field(
        default=30.0, gt=0, description="How often live F1/AUC are recomputed from feedback."
    )
    quality_window_s: float = Field(
        default=86_400.0, gt=0, description="Feedback window (by label time) for live metrics."
    )
    quality_window_rows: int = Field(
        default=10_000, ge=1, description="At most this many recent labels per version."
    )
    drift_interval_s: float = Field(
        default=15.0, gt=0, description="How often drift (PSI) gauges are recomputed."
    )
    drift_window_rows: int = Field(
        default=10_000, ge=100, description="Sliding window of recent rows compared by PSI."
    )

    # --- challengers (shadow and canary) ---------------------------------------------------------
    challengers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Challenger aliases or versions, comma-separated (e.g. `challenger`); empty "
        "turns shadow and canary off. The first one is the canary.",
    )
    shadow_share: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="Share of the champion's requests (those naming no version) that every "
        "challenger also scores in shadow, off the request path (0 = none, 1 = all).",
    )
    canary_share: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of requests naming no version that the first challenger serves "
        "instead of the champion (0 = none).",
    )
    shadow_queue_max_rows: int = Field(
        default=10_000,
        ge=1,
        description="Rows waiting for shadow scoring per worker; past it requests are not "
        "shadowed (counted in challenger_shadow_skipped_total).",
    )
    promote_min_auc_gain: float = Field(
        default=0.01,
        ge=0.0,
        le=1.0,
        description="Promotion suggestion: the challenger's realized ROC-AUC must beat the "
        "champion's by at least this on the same labelled rows.",
    )
    promote_min_labels: int = Field(
        default=500,
        ge=1,
        description="Promotion suggestion: labelled rows (both classes) both models scored.",
    )

    @field_validator("challengers", mode="before")
    @classmethod
    def _split_challengers(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("challengers")
    @classmethod
    def _check_challengers(cls, value: list[str]) -> list[str]:
        for ref in value:
            if not ref or len(ref) > 128 or any(c.isspace() or c in "/\\" for c in ref):
                raise ValueError(
                    f"challenger {ref!r} is not a version or alias name (no spaces or slashes, "
                    "at most 128 characters)"
                )
        if len(set(value)) != len(value):
            raise ValueError(f"challengers name a version twice: {','.join(value)}")
        return value

    @model_validator(mode="after")
    def _check_challenger_modes(self) -> Settings:
        if self.model_alias in self.challengers:
            raise ValueError(
                f"{ENV_PREFIX}CHALLENGERS names the served alias {self.model_alias!r}: a "
                "challenger must be another alias or version"
            )
        if self.canary_share > 0 and not self.challengers:
            raise ValueError(
                f"{ENV_PREFIX}CANARY_SHARE={self.canary_share} needs a challenger to serve: set "
                f"{ENV_PREFIX}CHALLENGERS (e.g. `challenger`) or the share to 0"
            )
        return self

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"unknown log level {value!r}")
        return level

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.environment == "local":
            return self
        if self.api_key is None:
            raise ValueError(
                f"{ENV_PREFIX}API_KEY is required with {ENV_PREFIX}ENVIRONMENT=production "
                "(without it promote, reload and predict are open to anyone who reaches the "
                f"API): {API_KEY_HOWTO}"
            )
        problem = api_key_problem(self.api_key.get_secret_value())
        if problem is not None:
            raise ValueError(
                f"{ENV_PREFIX}API_KEY {problem}; production needs {API_KEY_MIN_LENGTH}+ random "
                f"characters: {API_KEY_HOWTO}"
            )
        self.refuse_placeholder("s3_secret_key", self.s3_secret_key, "set a real secret")
        if self.prediction_log and self.database_url is None:
            raise ValueError(
                "the embedded database is for local mode only: set DATABASE_URL (or "
                f"{ENV_PREFIX}DATABASE_URL), or {ENV_PREFIX}PREDICTION_LOG=false"
            )
        return self

    @property
    def resolved_store_uri(self) -> str:
        """The artifact store URI, defaulting to ``<home>/artifacts``."""
        return self.store_uri or str(self.home / "artifacts")

    @property
    def resolved_export_uri(self) -> str:
        """Where the prediction log's Parquet export goes, defaulting to the artifact store."""
        return self.log_export_uri or self.resolved_store_uri

    @property
    def embedded_pgdata(self) -> Path:
        """Where the embedded PostgreSQL keeps its data in local mode."""
        return self.home / "pgdata"

    def s3_options(self) -> S3Options:
        """S3 client options from these settings (unset fields fall back to boto3's lookup)."""
        return S3Options(
            endpoint_url=self.s3_endpoint_url,
            access_key=self.s3_access_key,
            secret_key=self.s3_secret_key.get_secret_value() if self.s3_secret_key else None,
            region=self.s3_region,
            create_bucket=False,
        )


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment with ``overrides`` on top (a ConfigError naming every
    bad variable on one line)."""
    return Settings.load(**overrides)
