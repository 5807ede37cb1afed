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
from typing import Any

import httpx
import streamlit as st

from porto_ui import metrics
from porto_ui.settings import UISettings, load_settings


class ApiError(Exception):
    """A call to the inference API failed; ``message`` is fit to show to a user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ApiUnavailableError(ApiError):
    """The API could not be reached, or did not answer in time."""


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

    def _json(self, method: str, path: str, *, endpoint: str, **kwargs: Any) -> Any:
        response = self._request(method, path, endpoint=endpoint, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise ApiUnavailableError(
                f"the porto API at {self.base_url} answered {path} with something that is not "
                "JSON: is the URL right?"
            ) from exc

    # --- endpoints -------------------------------------------------------------------------------
    def ready(self) -> dict[str, Any]:
        """GET /ready: 200 (a model is loaded) and 503 (not yet) both answer the detail."""
        data: dict[str, Any] = self._json("GET", "/ready", endpoint="/ready", ok=(200, 503))
        return data

    def api_version(self) -> str:
        """The API's version, from its OpenAPI document."""
        doc = self._json("GET", "/openapi.json", endpoint="/openapi.json")
        return str(doc.get("info", {}).get("version", "?"))

    def models(self) -> dict[str, Any]:
        """GET /models: every version with metrics and aliases, and what is served."""
        data: dict[str, Any] = self._json("GET", "/models", endpoint="/models")
        return data

    def manifest(self, version: str) -> dict[str, Any]:
        """GET /models/{version}: the bundle manifest."""
        data: dict[str, Any] = self._json(
            "GET", f"/models/{_segment(version)}", endpoint="/models/{version}"
        )
        return data

    def artifact_json(self, version: str, file: str) -> Any:
        """GET /models/{version}/artifacts/{file} of a JSON file, parsed."""
        return self._json(
            "GET",
            f"/models/{_segment(version)}/artifacts/{file}",
            endpoint="/models/{version}/artifacts/{file}",
        )

    def predict(self, record: dict[str, Any], model_version: str | None) -> dict[str, Any]:
        """POST /predict of one record."""
        data: dict[str, Any] = self._json(
            "POST",
            "/predict",
            endpoint="/predict",
            json=record,
            params=_version_param(model_version),
        )
        return data

    def predict_csv(self, body: bytes, model_version: str | None) -> dict[str, Any]:
        """POST /predict/batch of a CSV chunk (with its header row)."""
        data: dict[str, Any] = self._json(
            "POST",
            "/predict/batch",
            endpoint="/predict/batch",
            slow=True,
            content=body,
            headers={"Content-Type": "text/csv"},
            params=_version_param(model_version),
        )
        return data

    def promote(self, version: str) -> dict[str, Any]:
        """POST /models/{version}/promote."""
        data: dict[str, Any] = self._json(
            "POST",
            f"/models/{_segment(version)}/promote",
            endpoint="/models/{version}/promote",
            slow=True,
        )
        return data

    def monitoring(self, what: str, **params: Any) -> dict[str, Any]:
        """GET /monitoring/{what} (predictions, throughput, scores, drift, quality)."""
        query = {k: v for k, v in params.items() if v is not None}
        data: dict[str, Any] = self._json(
            "GET", f"/monitoring/{what}", endpoint=f"/monitoring/{what}", params=query
        )
        return data


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
        body = response.json()
        error = body["error"]
        details = [
            Problem(
                field=str(d.get("field", "")), message=str(d.get("message", "")), row=d.get("row")
            )
            for d in error.get("details") or []
        ]
        return ApiRejectedError(
            response.status_code, str(error.get("type")), str(error.get("message")), details
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        if response.status_code in (502, 503, 504):
            return ApiUnavailableError(
                f"the porto API at {base_url} is not available (HTTP {response.status_code})"
            )
        return ApiRejectedError(
            response.status_code, "http_error", f"HTTP {response.status_code} from {base_url}"
        )


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
def cached_models(api_url: str) -> dict[str, Any]:
    """/models, at most 5 s old (every page starts with it)."""
    return get_client().models()


@st.cache_data(ttl=3600, show_spinner=False, max_entries=256)
def cached_manifest(api_url: str, version: str) -> dict[str, Any]:
    """The manifest of a concrete version (immutable: never by alias)."""
    return get_client().manifest(version)


@st.cache_data(ttl=3600, show_spinner=False, max_entries=512)
def cached_artifact(api_url: str, version: str, file: str) -> Any:
    """A JSON file of a concrete version (immutable)."""
    return get_client().artifact_json(version, file)


@st.cache_data(ttl=60, show_spinner=False, max_entries=16)
def cached_api_version(api_url: str) -> str:
    """The API's version string (changes only on deploys)."""
    return get_client().api_version()
