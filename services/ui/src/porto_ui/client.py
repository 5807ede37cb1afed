"""Every call the UI makes to the inference API, in one place.

:class:`ApiClient` is plain httpx (short timeouts, the API key as ``X-API-Key``) and turns every
failure into one of two errors the pages can show as they are: :class:`ApiUnavailableError` (the API
cannot be reached or answers too slowly) and :class:`ApiRejectedError` (the API answered with its
JSON error body: the message and the per-row, per-field details).

The Streamlit side: one client per process and API URL (``st.cache_resource``), and a short cache
of successful answers that cannot change (a version's manifest and files are immutable) or change
slowly (the model list). Failures are never cached — ``st.cache_data`` does not store raised
exceptions — so a page recovers on the first rerun after the API is back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import streamlit as st
from porto.bundle import Manifest
from porto.contracts.api import BatchResponse, ErrorResponse, ModelsResponse, PredictResponse
from porto.contracts.monitoring import (
    ChallengerComparison,
    DriftReport,
    LiveQuality,
    RecentPredictions,
    ScoreHistory,
    Throughput,
)
from porto.contracts.serving import PromoteResponse, ReadyResponse
from pydantic import BaseModel, ValidationError

from porto_ui import metrics
from porto_ui.forms import Record
from porto_ui.settings import UISettings, load_settings


class ApiError(Exception):
    """A call to the inference API failed; ``message`` is fit to show to a user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ApiUnavailableError(ApiError):
    """The API could not be reached, or did not answer in time."""


class ApiContractError(ApiError):
    """The API answered, but not with what this UI reads (an API of another porto version)."""


Answer = TypeVar("Answer", bound=BaseModel)


@dataclass
class Problem:
    """One problem the API found in a request (row is 0-based within that request)."""

    field: str
    message: str
    row: int | None = None


class ApiRejectedError(ApiError):
    """The API answered with an error: status, stable type, message and details."""

    def __init__(
        self, status: int, kind: str, message: str, details: list[Problem] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.details = details or []


@dataclass
class ApiClient:
    """A synchronous client of the porto inference API."""

    base_url: str
    api_key: str | None = None
    connect_timeout_s: float = 1.0
    read_timeout_s: float = 5.0
    batch_timeout_s: float = 60.0
    _http: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        headers = {"User-Agent": "porto-ui", "Accept": "application/json"}
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(self.read_timeout_s, connect=self.connect_timeout_s),
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # --- transport -------------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        slow: bool = False,
        ok: tuple[int, ...] = (200,),
        **kwargs: Any,
    ) -> httpx.Response:
        """One call; ``endpoint`` is the route template used as the metrics label."""
        if slow:
            kwargs["timeout"] = httpx.Timeout(self.batch_timeout_s, connect=self.connect_timeout_s)
        began = time.perf_counter()
        outcome = "answered"
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            outcome = "timeout"
            raise ApiUnavailableError(
                f"the porto API at {self.base_url} did not answer in time ({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            outcome = "unreachable"
            raise ApiUnavailableError(
                f"the porto API at {self.base_url} is not reachable ({_reason(exc)})"
            ) from exc
        finally:
            metrics.observe_api_call(endpoint, outcome, time.perf_counter() - began)
        if response.status_code in ok:
            metrics.count_api_outcome(endpoint, "ok")
            return response
        metrics.count_api_outcome(endpoint, str(response.status_code))
        raise _rejected(self.base_url, response)

    def _get(self, contract: type[Answer], method: str, path: str, **kwargs: Any) -> Answer:
        """One call whose JSON answer is parsed as ``contract``."""
        response = self._request(method, path, **kwargs)
        said = f"the porto API at {self.base_url} answered {path} with"
        return _parse(contract, response.content, said, hint=": is the URL right?")

    # --- endpoints -------------------------------------------------------------------------------
    def ready(self) -> ReadyResponse:
        """GET /ready: 200 (a model is loaded) and 503 (not yet) both answer the detail."""
        return self._get(ReadyResponse, "GET", "/ready", endpoint="/ready", ok=(200, 503))

    def api_version(self) -> str:
        """The API's version, from its OpenAPI document."""
        return self._get(_OpenApi, "GET", "/openapi.json", endpoint="/openapi.json").info.version

    def models(self) -> ModelsResponse:
        """GET /models: every version with metrics and aliases, and what is served."""
        return self._get(ModelsResponse, "GET", "/models", endpoint="/models")

    def manifest(self, version: str) -> Manifest:
        """GET /models/{version}: the bundle manifest."""
        return self._get(
            Manifest, "GET", f"/models/{_segment(version)}", endpoint="/models/{version}"
        )

    def artifact(self, version: str, file: str) -> bytes:
        """GET /models/{version}/artifacts/{file}: the file's bytes, as the bundle holds them."""
        return self._request(
            "GET",
            f"/models/{_segment(version)}/artifacts/{file}",
            endpoint="/models/{version}/artifacts/{file}",
        ).content

    def report(self, version: str, fmt: str, *, days: int = 7) -> bytes:
        """GET /models/{version}/report as a download: ``html`` (one self-contained file) or
        ``json``; building it reads the prediction log, hence the batch timeout."""
        return self._request(
            "GET",
            f"/models/{_segment(version)}/report",
            endpoint="/models/{version}/report",
            slow=True,
            params={"format": fmt, "days": days, "download": "true"},
        ).content

    def predict(
        self, record: Record, model_version: str | None, *, explain: bool = False
    ) -> PredictResponse:
        """POST /predict of one record (feature name → value, as the form holds them); with
        ``explain``, each feature's contribution comes back too."""
        params = _version_param(model_version)
        if explain:
            params["explain"] = "true"
        return self._get(
            PredictResponse, "POST", "/predict", endpoint="/predict", json=record, params=params
        )

    def predict_csv(self, body: bytes, model_version: str | None) -> BatchResponse:
        """POST /predict/batch of a CSV chunk (with its header row)."""
        return self._get(
            BatchResponse,
            "POST",
            "/predict/batch",
            endpoint="/predict/batch",
            slow=True,
            content=body,
            headers={"Content-Type": "text/csv"},
            params=_version_param(model_version),
        )

    def promote(self, version: str) -> PromoteResponse:
        """POST /models/{version}/promote."""
        return self._get(
            PromoteResponse,
            "POST",
            f"/models/{_segment(version)}/promote",
            endpoint="/models/{version}/promote",
            slow=True,
        )

    def predictions(
        self, *, minutes: int, limit: int, model_version: str | None
    ) -> RecentPredictions:
        """GET /monitoring/predictions: the newest rows of the prediction log."""
        return self._monitoring(
            RecentPredictions,
            "predictions",
            minutes=minutes,
            limit=limit,
            model_version=model_version,
        )

    def throughput(self, *, minutes: int, model_version: str | None) -> Throughput:
        """GET /monitoring/throughput: predictions per minute."""
        return self._monitoring(
            Throughput, "throughput", minutes=minutes, model_version=model_version
        )

    def scores(
        self,
        *,
        minutes: int,
        bucket_minutes: int,
        bins: int,
        high: float,
        model_version: str | None,
    ) -> ScoreHistory:
        """GET /monitoring/scores: a score histogram per time bucket."""
        return self._monitoring(
            ScoreHistory,
            "scores",
            minutes=minutes,
            bucket_minutes=bucket_minutes,
            bins=bins,
            high=high,
            model_version=model_version,
        )

    def drift(self, *, minutes: int, limit: int, model_version: str | None) -> DriftReport:
        """GET /monitoring/drift: PSI per feature against the training reference."""
        return self._monitoring(
            DriftReport, "drift", minutes=minutes, limit=limit, model_version=model_version
        )

    def quality(
        self, *, minutes: int, bucket_minutes: int, model_version: str | None
    ) -> LiveQuality:
        """GET /monitoring/quality: live quality per version from feedback."""
        return self._monitoring(
            LiveQuality,
            "quality",
            minutes=minutes,
            bucket_minutes=bucket_minutes,
            model_version=model_version,
        )

    def challengers(self, *, minutes: int, bucket_minutes: int) -> ChallengerComparison:
        """GET /monitoring/challengers: champion against each challenger on the same labels."""
        return self._monitoring(
            ChallengerComparison,
            "challengers",
            minutes=minutes,
            bucket_minutes=bucket_minutes,
        )

    def _monitoring(
        self, contract: type[Answer], what: str, **params: str | int | float | None
    ) -> Answer:
        query = {k: v for k, v in params.items() if v is not None}
        return self._get(
            contract, "GET", f"/monitoring/{what}", endpoint=f"/monitoring/{what}", params=query
        )


class _OpenApiInfo(BaseModel):
    version: str = "?"


class _OpenApi(BaseModel):
    """The one part of the OpenAPI document the UI reads."""

    info: _OpenApiInfo = _OpenApiInfo()


def _parse(contract: type[Answer], body: bytes, said: str, *, hint: str = "") -> Answer:
    """``body`` as ``contract``: ApiUnavailableError when it is not JSON at all (a proxy's or a
    login page), ApiContractError when it is JSON of another shape. ``said`` starts the
    message ("the porto API at … answered /models with")."""
    try:
        return contract.model_validate_json(body)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise ApiUnavailableError(f"{said} something that is not JSON{hint}") from exc
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the body"
        raise ApiContractError(
            f"{said} data this UI cannot read ({where}: {first['msg']}): are the UI and the API "
            "the same porto version?"
        ) from exc


def _segment(value: str) -> str:
    """A path segment, percent-encoded (versions are plain names, but never trust input)."""
    from urllib.parse import quote

    return quote(value, safe="")


def _version_param(model_version: str | None) -> dict[str, str]:
    return {"model_version": model_version} if model_version else {}


def _reason(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    if "Connection refused" in text or "ConnectError" in type(exc).__name__:
        return "connection refused" if "refused" in text.lower() else text
    return text


def _rejected(base_url: str, response: httpx.Response) -> ApiError:
    """The API's JSON error body as ApiRejectedError; anything else (a proxy's 502 page) as
    ApiUnavailableError."""
    try:
        error = ErrorResponse.model_validate_json(response.content).error
    except ValidationError:
        if response.status_code in (502, 503, 504):
            return ApiUnavailableError(
                f"the porto API at {base_url} is not available (HTTP {response.status_code})"
            )
        return ApiRejectedError(
            response.status_code, "http_error", f"HTTP {response.status_code} from {base_url}"
        )
    details = [Problem(field=d.field, message=d.message, row=d.row) for d in error.details or []]
    return ApiRejectedError(response.status_code, error.type, error.message, details)


# --- Streamlit accessors -------------------------------------------------------------------------
def settings() -> UISettings:
    """The settings (read from the environment on every run: cheap, and tests change it)."""
    return load_settings()


@st.cache_resource(show_spinner=False)
def _client(
    api_url: str, api_key: str | None, connect: float, read: float, batch: float
) -> ApiClient:
    return ApiClient(api_url, api_key, connect, read, batch)


def get_client(config: UISettings | None = None) -> ApiClient:
    """The process's client for the configured API (one connection pool per URL and key)."""
    s = config or settings()
    key = s.api_key.get_secret_value() if s.api_key is not None else None
    return _client(s.api_url, key, s.connect_timeout_s, s.read_timeout_s, s.batch_timeout_s)


@st.cache_data(ttl=5, show_spinner=False, max_entries=16)
def cached_models(api_url: str) -> ModelsResponse:
    """/models, at most 5 s old (every page starts with it)."""
    return get_client().models()


@st.cache_data(ttl=3600, show_spinner=False, max_entries=256)
def cached_manifest(api_url: str, version: str) -> Manifest:
    """The manifest of a concrete version (immutable: never by alias)."""
    return get_client().manifest(version)


@st.cache_data(ttl=3600, show_spinner=False, max_entries=512)
def _cached_artifact(api_url: str, version: str, file: str) -> bytes:
    return get_client().artifact(version, file)


def cached_artifact(api_url: str, version: str, file: str, contract: type[Answer]) -> Answer:
    """A JSON file of a concrete version (immutable: its bytes are cached), as ``contract``."""
    data = _cached_artifact(api_url, version, file)
    return _parse(contract, data, f"version {version} of the model has a {file} with")


@st.cache_data(ttl=60, show_spinner=False, max_entries=16)
def cached_api_version(api_url: str) -> str:
    """The API's version string (changes only on deploys)."""
    return get_client().api_version()
