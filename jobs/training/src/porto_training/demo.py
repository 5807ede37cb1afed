"""The training step of ``make demo``: porto end to end on one machine, in well under a minute.

Trains the default config on a demo-sized SYNTHETIC dataset (or on ``--data``), stores the bundle
in ``$PORTO_HOME/artifacts`` and prints where it is. ``scripts/demo.py`` calls
:func:`train_demo`; ``python -m porto_training.demo`` runs it alone.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from porto_training.cli_errors import porto_errors
from porto_training.config import default_store_uri, load_config
from porto_training.pipeline import run_training

DEMO_ROWS = 50_000

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def train_demo(data: str | None = None, rows: int = DEMO_ROWS) -> None:
    """Train on ``data`` (else ``rows`` SYNTHETIC rows) into the default store and print the
    summary; a PortoError says why it could not."""
    started = time.perf_counter()
    updates: dict[str, object] = {"output.store": default_store_uri()}
    if data:
        updates["data.path"] = data
    else:
        updates["data.synthetic.rows"] = rows
        typer.echo(f"porto demo: no dataset given, generating {rows:,} SYNTHETIC rows")
    config = load_config(updates=updates)
    result = run_training(config, metrics_port=0)
    typer.echo("\n".join(result.summary()))
    typer.echo(f"demo finished in {time.perf_counter() - started:.1f} s")
    typer.echo(f"next: porto-train models list --store {result.store_uri}")


@app.command()
def demo(
    data: Annotated[
        str | None, typer.Option(help="dataset path or s3:// URI (default: SYNTHETIC data)")
    ] = None,
    rows: Annotated[int, typer.Option(help="synthetic rows to generate")] = DEMO_ROWS,
) -> None:
    """Train the default config on a demo-sized dataset into $PORTO_HOME/artifacts."""
    with porto_errors():
        train_demo(data, rows)


if __name__ == "__main__":
    app(prog_name="python -m porto_training.demo")
