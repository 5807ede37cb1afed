"""``porto-inference``: serve the API, apply database migrations, check a model, list settings.

Every option has an environment variable (``PORTO_INFERENCE_*``); options given here win.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from porto.errors import PortoError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="porto-inference", description="porto inference API (FastAPI under gunicorn)."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="Run the API under gunicorn with uvicorn workers.")
    serve.add_argument("--host", help="Address to bind (PORTO_INFERENCE_HOST, 127.0.0.1).")
    serve.add_argument("--port", type=int, help="Port (PORTO_INFERENCE_PORT, 8000).")
    serve.add_argument(
        "--workers", type=int, help="Worker processes (PORTO_INFERENCE_WORKERS, one per CPU)."
    )
    serve.add_argument("--log-level", help="DEBUG, INFO, ... (PORTO_INFERENCE_LOG_LEVEL).")
    migrate = sub.add_parser("migrate", help="Apply the prediction log's SQL migrations.")
    migrate.add_argument(
        "--database-url", help="postgresql:// URL (DATABASE_URL; default: the embedded server)."
    )
    sub.add_parser("check", help="Load and verify the served model version, then exit.")
    sub.add_parser("env", help="Print the settings' environment variables as a table.")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "migrate":
            return _migrate(args)
        if args.command == "check":
            return _check()
        if args.command == "env":
            return _env()
    except PortoError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 2  # pragma: no cover - argparse requires a command


def _overrides(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def _serve(args: argparse.Namespace) -> int:
    from porto.ports import ensure_free

    from porto_inference.server import serve
    from porto_inference.settings import load_settings

    settings = load_settings(**_overrides(args, "host", "port", "workers", "log_level"))
    # Before the embedded database and gunicorn start: gunicorn would retry for seconds, then
    # exit with its own log lines.
    ensure_free(settings.host, settings.port, "--port")
    serve(settings)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from pydantic import SecretStr

    from porto_inference.log.database import database_url, migrate_url, redact
    from porto_inference.settings import load_settings

    overrides: dict[str, Any] = {"prediction_log": True}
    if args.database_url:
        overrides["database_url"] = SecretStr(args.database_url)
    settings = load_settings(**overrides)
    url = database_url(settings)
    assert url is not None
    applied = asyncio.run(migrate_url(url))
    where = redact(url)
    if applied:
        print(f"applied {len(applied)} migration(s) to {where}: {', '.join(applied)}")
    else:
        print(f"{where} is up to date")
    return 0


def _check() -> int:
    from porto.registry import Registry
    from porto.store import open_store

    from porto_inference.scoring.model import ServedModel
    from porto_inference.settings import load_settings

    settings = load_settings()
    uri = settings.resolved_store_uri
    store = open_store(uri, settings.s3_options() if uri.startswith("s3://") else None)
    registry = Registry(store, settings.model_name)
    try:
        version = registry.resolve(settings.model_alias)
    except PortoError:
        version = registry.resolve(settings.fallback_alias)
    model = ServedModel.load(store, settings.model_name, version)
    print(
        f"{model.name}/{model.version}: {len(model.codec.names)} features "
        f"({len(model.codec.cat_names)} categorical), threshold {model.threshold:.4f}, "
        f"verified and loaded in {model.load_seconds:.2f}s from {store.uri}"
    )
    return 0


def _env() -> int:
    from porto_inference.settings import ENV_PREFIX, Settings

    print("| variable | default | meaning |")
    print("|---|---|---|")
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=False)
        if field.default_factory is not None:
            default = "(computed)"
        shown = "" if default is None else str(default)
        var = f"{ENV_PREFIX}{name.upper()}"
        aliases = getattr(field.validation_alias, "choices", None) or []
        extra = [a for a in aliases if isinstance(a, str) and a != var]
        if extra:
            var += " (" + ", ".join(extra) + ")"
        print(f"| `{var}` | `{shown}` | {field.description or ''} |")
    return 0
