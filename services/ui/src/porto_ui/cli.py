"""``porto-ui``: serve the UI, or list its settings.

Every option has an environment variable (``PORTO_UI_*``); options given here win. The API key
is read from ``PORTO_UI_API_KEY`` only, never from the command line (where ``ps`` shows it). A
bad setting or a taken port prints ``error: <message>`` on stderr and exits 1.
"""

from __future__ import annotations

from typing import Annotated

import typer
from porto.cli_exit import run_cli

app = typer.Typer(
    help="porto web UI (Streamlit), a client of the inference API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (PORTO_UI_HOST, 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (PORTO_UI_PORT, 8501).")] = None,
    api_url: Annotated[
        str | None,
        typer.Option(help="Inference API base URL (PORTO_UI_API_URL, http://127.0.0.1:8000)."),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Prometheus port, 0 = off (PORTO_UI_METRICS_PORT, 8502)."),
    ] = None,
) -> None:
    """Run the UI (streamlit run, headless). Does not return: the process becomes Streamlit."""
    from porto.ports import ensure_all_free

    from porto_ui.server import serve as serve_ui
    from porto_ui.settings import load_settings

    options = {"host": host, "port": port, "api_url": api_url, "metrics_port": metrics_port}
    settings = load_settings(**{k: v for k, v in options.items() if v is not None})
    ensure_all_free(
        [
            (settings.host, settings.port, "--port"),
            (settings.metrics_host, settings.metrics_port, "--metrics-port"),
        ]
    )
    typer.echo(
        f"porto UI on http://{settings.host}:{settings.port} (API {settings.api_url}; metrics "
        + (f"on :{settings.metrics_port})" if settings.metrics_port else "off)")
    )  # click flushes it: the line is out before Streamlit takes the process over
    serve_ui(settings)


@app.command()
def env() -> None:
    """Print the settings' environment variables as a table."""
    from porto_ui.settings import UISettings

    typer.echo(UISettings.env_table())


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0, 1 for a bad setting or a taken port, 2 for a usage
    error); ``serve`` does not return."""
    return run_cli(app, argv, "porto-ui")
