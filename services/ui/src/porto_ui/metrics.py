"""The UI's Prometheus metrics, declared in one place, on their own port.

Streamlit re-executes the app script on every interaction, but imports modules once per process,
so the metrics live here (module level, in a registry of their own) and the HTTP endpoint is
started at most once per process under a lock — a rerun never re-binds the port. The launcher
(``porto-ui serve``, ``make demo``, the image) starts it first and exits with one ``error:``
line when the port is taken; inside a bare ``streamlit run app.py`` a taken port is only logged.

``page_views_total{page}`` is the web-traffic metric the dashboards query: one view is a browser
session arriving at a page (not every widget interaction on it).
"""

from __future__ import annotations

import logging
import threading

from porto.ports import bind_error
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger("porto_ui.metrics")

REGISTRY = CollectorRegistry(auto_describe=True)

PAGE_VIEWS = Counter(
    "page_views", "Browser sessions arriving at a UI page.", ["page"], registry=REGISTRY
)
API_REQUESTS = Counter(
    "porto_ui_api_requests",
    "Calls from the UI to the inference API by route and outcome (ok, HTTP status, timeout, "
    "unreachable).",
    ["endpoint", "outcome"],
    registry=REGISTRY,
)
API_LATENCY = Histogram(
    "porto_ui_api_request_seconds",
    "Latency of the UI's calls to the inference API.",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    registry=REGISTRY,
)
PREDICTIONS = Counter(
    "porto_ui_predictions",
    "Rows scored from the UI by mode (single, batch).",
    ["mode"],
    registry=REGISTRY,
)
CSV_REJECTED = Counter(
    "porto_ui_csv_rejected",
    "Uploaded CSV files refused by the UI's checks before anything was sent.",
    registry=REGISTRY,
)
PROMOTIONS = Counter(
    "porto_ui_promotions", "Versions promoted to champion from the UI.", registry=REGISTRY
)
UP = Gauge("porto_ui_up", "1 while the UI process serves.", registry=REGISTRY)

_lock = threading.Lock()
_server_port: int | None = None


def start_server(port: int, host: str = "127.0.0.1", *, strict: bool = False) -> int | None:
    """Serve /metrics on ``host:port`` once per process (0 = off); return the port served, or
    None when off or the port could not be bound (``strict``: PortInUseError instead)."""
    global _server_port
    if port <= 0:
        return None
    with _lock:
        if _server_port is not None:
            return _server_port
        try:
            start_http_server(port, addr=host, registry=REGISTRY)
        except OSError as exc:
            if strict:
                raise bind_error(exc, host, port, "PORTO_UI_METRICS_PORT") from None
            log.warning("UI metrics not served on %s:%d: %s", host, port, exc)
            _server_port = -1  # do not retry on every rerun
            return None
        UP.set(1)
        _server_port = port
        log.info("UI metrics on http://%s:%d/metrics", host, port)
        return port


def count_page_view(page: str) -> None:
    """One browser session arrived at ``page``."""
    PAGE_VIEWS.labels(page).inc()


def observe_api_call(endpoint: str, outcome: str, seconds: float) -> None:
    """Latency of one API call; transport failures are counted here too (``outcome``)."""
    API_LATENCY.labels(endpoint).observe(seconds)
    if outcome in ("timeout", "unreachable"):
        API_REQUESTS.labels(endpoint, outcome).inc()


def count_api_outcome(endpoint: str, outcome: str) -> None:
    """An API call answered: ``ok`` or its HTTP status."""
    API_REQUESTS.labels(endpoint, outcome).inc()
