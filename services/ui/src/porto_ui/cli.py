"""``porto-ui``: serve the UI, or list its settings.

Every option has an environment variable (``PORTO_UI_*``); options given here win. The API key
is read from ``PORTO_UI_API_KEY`` only, never from the command line (where ``ps`` shows it).
"""

from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="porto-ui", description="porto web UI (Streamlit), a client of the inference API."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="Run the UI (streamlit run, headless).")
    serve.add_argument("--host", help="Address to bind (PORTO_UI_HOST, 127.0.0.1).")
    serve.add_argument("--port", type=int, help="Port (PORTO_UI_PORT, 8501).")
    serve.add_argument(
        "--api-url", help="Inference API base URL (PORTO_UI_API_URL, http://127.0.0.1:8000)."
    )
    serve.add_argument(
        "--metrics-port", type=int, help="Prometheus port, 0 = off (PORTO_UI_METRICS_PORT, 8502)."
    )
    sub.add_parser("env", help="Print the settings' environment variables as a table.")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (``serve`` does not return: it becomes Streamlit)."""
    args = _parser().parse_args(argv)
    if args.command == "env":
        return _env()
    from porto_ui.server import serve
    from porto_ui.settings import load_settings

    overrides = {
        name: getattr(args, name)
        for name in ("host", "port", "api_url", "metrics_port")
        if getattr(args, name) is not None
    }
    from porto.errors import PortoError
    from porto.ports import ensure_all_free

    try:
        settings = load_settings(**overrides)
        ensure_all_free(
            [
                (settings.host, settings.port, "--port"),
                (settings.metrics_host, settings.metrics_port, "--metrics-port"),
            ]
        )
    except (ValueError, PortoError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"porto UI on http://{settings.host}:{settings.port} (API {settings.api_url}; metrics "
        + (f"on :{settings.metrics_port})" if settings.metrics_port else "off)"),
        flush=True,
    )
    serve(settings)
    return 0  # pragma: no cover - serve() replaces the process


def _env() -> int:
    from porto_ui.settings import ENV_PREFIX, UISettings

    print("| variable | default | meaning |")
    print("|---|---|---|")
    for name, field in UISettings.model_fields.items():
        default = field.get_default(call_default_factory=False)
        shown = "" if default is None else str(default)
        print(f"| `{ENV_PREFIX}{name.upper()}` | `{shown}` | {field.description or ''} |")
    return 0
