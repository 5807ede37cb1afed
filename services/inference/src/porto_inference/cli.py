"""``porto-inference``: serve the API, apply database migrations, export the prediction log's
closed days as Parquet, replay logged requests with any version, check a model, write a
version's report, list settings.

Every option has an environment variable (``PORTO_INFERENCE_*``); options given here win. A
porto failure prints ``error: <message>`` on stderr and exits 1, without a traceback.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any

import typer
from porto.cli_exit import run_cli
from porto.errors import ConfigError, PortoError

app = typer.Typer(
    help="porto inference API (FastAPI under gunicorn).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (PORTO_INFERENCE_HOST, 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (PORTO_INFERENCE_PORT, 8000).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Worker processes (PORTO_INFERENCE_WORKERS, one per CPU)."),
    ] = None,
    log_level: Annotated[
        str | None, typer.Option(help="DEBUG, INFO, ... (PORTO_INFERENCE_LOG_LEVEL).")
    ] = None,
) -> None:
    """Run the API under gunicorn with uvicorn workers."""
    from porto.ports import ensure_free

    from porto_inference.server import serve as serve_api
    from porto_inference.settings import load_settings

    options = {"host": host, "port": port, "workers": workers, "log_level": log_level}
    settings = load_settings(**{k: v for k, v in options.items() if v is not None})
    # Before the embedded database and gunicorn start: gunicorn would retry for seconds, then
    # exit with its own log lines.
    ensure_free(settings.host, settings.port, "--port")
    serve_api(settings)


@app.command()
def migrate(
    database_url: Annotated[
        str | None,
        typer.Option(help="postgresql:// URL (DATABASE_URL; default: the embedded server)."),
    ] = None,
) -> None:
    """Apply the prediction log's SQL migrations."""
    from pydantic import SecretStr

    from porto_inference.log.database import database_url as resolve_url
    from porto_inference.log.database import migrate_url, redact
    from porto_inference.settings import load_settings

    overrides: dict[str, Any] = {"prediction_log": True}
    if database_url:
        overrides["database_url"] = SecretStr(database_url)
    settings = load_settings(**overrides)
    url = resolve_url(settings)
    assert url is not None
    applied = asyncio.run(migrate_url(url))
    where = redact(url)
    if applied:
        typer.echo(f"applied {len(applied)} migration(s) to {where}: {', '.join(applied)}")
    else:
        typer.echo(f"{where} is up to date")


def _day(option: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        message = f"{option} {value!r} is not a date: give YYYY-MM-DD (a UTC day)"
        raise ConfigError(message) from None


@app.command("log-export")
def log_export(
    day: Annotated[
        str | None, typer.Option(help="Export this UTC day (YYYY-MM-DD), before today.")
    ] = None,
    before: Annotated[
        str | None,
        typer.Option(help="Export every day with a partition before this one (YYYY-MM-DD)."),
    ] = None,
    all_closed: Annotated[
        bool, typer.Option("--all-closed", help="Export every day with a partition before today.")
    ] = False,
    to: Annotated[
        str | None,
        typer.Option(
            help="file:// directory or s3://bucket/prefix (PORTO_INFERENCE_LOG_EXPORT_URI; "
            "default: the artifact store)."
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="postgresql:// URL (DATABASE_URL; default: the embedded server)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Export again days already exported and verified.")
    ] = False,
) -> None:
    """Export closed days of the prediction log as Parquet for a lakehouse engine:
    <uri>/prediction-log/day=YYYY-MM-DD/part-0000.parquet and its _manifest.json. A day already
    exported and verified is skipped; an interrupted one is redone."""
    from pydantic import SecretStr

    from porto_inference.log.database import database_url as resolve_url
    from porto_inference.log.database import redact
    from porto_inference.log.export import export_days, utc_today
    from porto_inference.settings import load_settings

    if sum((day is not None, before is not None, all_closed)) != 1:
        raise ConfigError("give exactly one of --day YYYY-MM-DD, --before YYYY-MM-DD, --all-closed")
    overrides: dict[str, Any] = {"prediction_log": True}
    if database_url:
        overrides["database_url"] = SecretStr(database_url)
    if to:
        overrides["log_export_uri"] = to
    settings = load_settings(**overrides)
    today = utc_today()
    only = _day("--day", day) if day is not None else None
    until = _day("--before", before) if before is not None else None
    url = resolve_url(settings)
    assert url is not None
    done = asyncio.run(
        export_days(
            settings, url, today=today, day=only, before=until, force=force, progress=typer.echo
        )
    )
    exported = [d for d in done if not d.skipped]
    typer.echo(
        f"{len(exported)} day(s) exported, {len(done) - len(exported)} already there "
        f"({sum(d.rows for d in done):,} rows) from {redact(url)} to {settings.resolved_export_uri}"
    )


@app.command()
def replay(
    version: Annotated[
        str, typer.Option(help="The version or alias to replay with (e.g. champion).")
    ],
    from_: Annotated[
        str,
        typer.Option("--from", help="Start of the window, ISO 8601 (UTC unless an offset)."),
    ],
    to: Annotated[str, typer.Option("--to", help="End of the window (exclusive), ISO 8601.")],
    limit: Annotated[
        int | None, typer.Option(min=1, help="Most rows replayed, oldest first (default: all).")
    ] = None,
    model_version: Annotated[
        str | None, typer.Option(help="Only rows served by this version.")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="Only rows logged by this route (e.g. /predict).")
    ] = None,
    record: Annotated[
        bool,
        typer.Option(
            "--record", help="Write the scores to challenger_predictions (source 'replay')."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    database_url: Annotated[
        str | None,
        typer.Option(help="postgresql:// URL (DATABASE_URL; default: the embedded server)."),
    ] = None,
) -> None:
    """Score the logged requests of [--from, --to) with --version and compare with what was
    served, and with the labels where there are some. Progress on stderr, the report on
    stdout."""
    from pydantic import SecretStr

    from porto_inference import replay_cli
    from porto_inference.log.database import database_url as resolve_url
    from porto_inference.scoring.replay import window_of
    from porto_inference.settings import load_settings

    overrides: dict[str, Any] = {"prediction_log": True}
    if database_url:
        overrides["database_url"] = SecretStr(database_url)
    settings = load_settings(**overrides)
    window = window_of(
        replay_cli.parse_time("--from", from_),
        replay_cli.parse_time("--to", to),
        settings.model_name,
        model_version=model_version,
        endpoint=endpoint,
        limit=limit,
    )
    model = replay_cli.load_model(settings, version)
    url = resolve_url(settings)
    assert url is not None
    report = asyncio.run(
        replay_cli.run(
            settings,
            url,
            model,
            window,
            requested=version,
            record=record,
            progress=lambda line: typer.echo(line, err=True),
        )
    )
    if as_json:
        typer.echo(report.model_dump_json(by_alias=True, indent=2))
    else:
        typer.echo(replay_cli.table(report))


@app.command()
def check() -> None:
    """Load and verify the served model version, then exit."""
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
    typer.echo(
        f"{model.name}/{model.version}: {len(model.codec.names)} features "
        f"({len(model.codec.cat_names)} categorical), threshold {model.threshold:.4f}, "
        f"verified and loaded in {model.load_seconds:.2f}s from {store.uri}"
    )


@app.command()
def report(
    version: Annotated[str, typer.Argument(help="A version id or an alias such as champion.")],
    format: Annotated[str, typer.Option("--format", "-f", help="html or json.")] = "html",
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    days: Annotated[int, typer.Option(help="Log window: the last N days (1-90).")] = 7,
    bucket_hours: Annotated[int, typer.Option(help="Bucket width in hours (1-168).")] = 24,
    sample: Annotated[int, typer.Option(help="Served rows sampled per bucket (10-20000).")] = 2000,
    database_url: Annotated[
        str | None,
        typer.Option(help="postgresql:// URL (DATABASE_URL; default: the embedded server)."),
    ] = None,
) -> None:
    """Write a version's report and model card (as GET /models/{version}/report answers it):
    card, training metrics and plots, mutual information, and from the prediction log drift
    per feature over time, realized quality and data-quality counts."""
    from pathlib import Path

    from pydantic import SecretStr

    from porto_inference.monitoring.version_report import write_report
    from porto_inference.settings import load_settings

    if format not in ("html", "json"):
        raise ConfigError(f"--format {format!r}: give html or json")
    for option, value, low, high in (
        ("--days", days, 1, 90),
        ("--bucket-hours", bucket_hours, 1, 168),
        ("--sample", sample, 10, 20_000),
    ):
        if not low <= value <= high:
            raise ConfigError(f"{option} {value}: give a number from {low} to {high}")
    overrides: dict[str, Any] = {}
    if database_url:
        overrides["database_url"] = SecretStr(database_url)
    settings = load_settings(**overrides)
    text = asyncio.run(write_report(settings, version, format, days, bucket_hours, sample))
    if output is None:
        typer.echo(text, nl=False)
    else:
        Path(output).write_text(text, encoding="utf-8")
        typer.echo(f"wrote the {format} report of {version} to {output}", err=True)


@app.command()
def env() -> None:
    """Print the settings' environment variables as a table."""
    from porto_inference.settings import Settings

    typer.echo(Settings.env_table())


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0, 1 for a porto failure, 2 for a usage error)."""
    return run_cli(app, argv, "porto-inference")
