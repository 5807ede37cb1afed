"""``make demo``: porto on one machine — train if needed, then the API and the UI on localhost.

Embedded defaults throughout: the artifact store is ``$PORTO_HOME/artifacts`` (``.porto`` by
default), the prediction log an embedded PostgreSQL under ``$PORTO_HOME``. Ctrl-C (or SIGTERM)
stops the UI, then the API (gracefully: in-flight requests finish, the log is flushed).

It lives outside the three packages on purpose: the training job, the API and the UI never import
each other; only this orchestrator knows all three.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from porto.errors import PortoError
from porto.ports import ensure_all_free
from porto.registry import Registry
from porto.store import open_store

if TYPE_CHECKING:
    from porto_ui.settings import UISettings

DEFAULT_NAME = "porto"
#: Seconds the API and the UI each get to answer their readiness check. Generous: on a busy
#: machine importing CatBoost and forking workers can take a minute or more; a server that fails
#: exits (which ends the wait at once, with its exit code); only a hung start waits this long.
READY_TIMEOUT_S = 300.0


class _StopRequested(Exception):  # noqa: N818 - a signal, not an error
    """Raised by the signal handler to leave the wait loop."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _StopRequested(signal.Signals(signum).name)


def _has_model(store_uri: str, name: str) -> bool:
    try:
        return bool(Registry(open_store(store_uri), name).aliases())
    except PortoError:
        return False


@dataclass(frozen=True)
class DemoOptions:
    """The command line of ``make demo``."""

    data: str | None
    retrain: bool
    host: str
    api_port: int
    ui_port: int
    ui_metrics_port: int
    workers: int
    no_ui: bool


def _ports(args: DemoOptions, ui: UISettings | None) -> list[tuple[str, int, str]]:
    """(host, port, option) of every port the demo binds."""
    ports = [(args.host, args.api_port, "--api-port")]
    if ui is not None:
        ports.append((ui.host, ui.port, "--ui-port"))
        ports.append((ui.metrics_host, ui.metrics_port, "--ui-metrics-port"))
    return ports


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def demo(
    data: Annotated[
        str | None, typer.Option(help="dataset path or s3:// URI (default: SYNTHETIC data)")
    ] = None,
    retrain: Annotated[
        bool, typer.Option("--retrain", help="train even if a model exists")
    ] = False,
    host: Annotated[
        str,
        typer.Option(
            envvar="PORTO_DEMO_HOST",
            help="address the API and the UI bind (PORTO_DEMO_HOST, 127.0.0.1)",
        ),
    ] = "127.0.0.1",
    api_port: Annotated[
        int,
        typer.Option(
            envvar="PORTO_DEMO_API_PORT", help="inference API port (PORTO_DEMO_API_PORT, 8000)"
        ),
    ] = 8000,
    ui_port: Annotated[
        int, typer.Option(envvar="PORTO_DEMO_UI_PORT", help="UI port (PORTO_DEMO_UI_PORT, 8501)")
    ] = 8501,
    ui_metrics_port: Annotated[
        int,
        typer.Option(
            envvar="PORTO_DEMO_UI_METRICS_PORT",
            help="port of the UI's Prometheus metrics, 0 = off (PORTO_DEMO_UI_METRICS_PORT, 8502)",
        ),
    ] = 8502,
    workers: Annotated[int, typer.Option(help="API worker processes")] = 2,
    no_ui: Annotated[bool, typer.Option("--no-ui", help="start the API only")] = False,
) -> None:
    """porto on one machine: train if no model exists yet (or --retrain, --data), then the API
    and the UI on localhost. Ctrl-C stops everything."""
    options = DemoOptions(data, retrain, host, api_port, ui_port, ui_metrics_port, workers, no_ui)
    raise typer.Exit(run(options))


def run(args: DemoOptions) -> int:
    """Run the demo; return the exit code."""
    from porto_training.config import default_store_uri
    from porto_ui.settings import load_settings

    # Every port is checked before anything starts: a clash is one line, and nothing is left
    # running (nor trained for nothing).
    ui_settings: UISettings | None = None
    try:
        if not args.no_ui:
            ui_settings = load_settings(
                host=args.host, port=args.ui_port, metrics_port=args.ui_metrics_port
            )
        ensure_all_free(_ports(args, ui_settings))
    except PortoError as exc:  # a bad PORTO_UI_* setting, a taken port
        print(f"error: {exc.message}", file=sys.stderr)
        return 1

    home = Path(os.environ.get("PORTO_HOME", ".porto")).resolve()
    os.environ["PORTO_HOME"] = str(home)
    store_uri = default_store_uri()
    started = time.perf_counter()

    if args.retrain or args.data or not _has_model(store_uri, DEFAULT_NAME):
        # Imported only to train: the training stack (CatBoost, SHAP, plots) costs ~14 s of CPU
        # to import, minutes on a busy machine, for a run that serves an existing model.
        from porto_training.demo import train_demo

        try:
            train_demo(args.data)
        except PortoError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
    else:
        print(f"porto demo: using the trained model in {store_uri} (--retrain to train again)")

    from porto_inference.server import start_server

    logs = home / "logs"
    api = start_server(
        host=args.host,
        port=args.api_port,
        workers=args.workers,
        env={"PORTO_HOME": str(home)},
        log_file=logs / "api.log",
    )
    ui = None
    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            api.wait_ready(READY_TIMEOUT_S)
        except (RuntimeError, TimeoutError) as exc:
            print(f"error: the API did not start ({exc}); see {logs / 'api.log'}", file=sys.stderr)
            return 1
        print(f"API       {api.url}  (docs {api.url}/docs, metrics {api.url}/metrics)")
        if ui_settings is not None:
            from porto_ui.server import start_ui

            ui = start_ui(
                ui_settings.model_copy(update={"api_url": api.url}), log_file=logs / "ui.log"
            )
            try:
                ui.wait_ready(READY_TIMEOUT_S)
            except (RuntimeError, TimeoutError) as exc:
                print(
                    f"error: the UI did not start ({exc}); see {logs / 'ui.log'}", file=sys.stderr
                )
                return 1
            print(f"UI        {ui.url}")
        print(f"logs      {logs}")
        print(f"porto is up in {time.perf_counter() - started:.1f} s — Ctrl-C stops everything")
        sys.stdout.flush()
        while True:
            if api.process.poll() is not None:
                print(
                    f"error: the API exited ({api.process.returncode}); see {logs / 'api.log'}",
                    file=sys.stderr,
                )
                return 1
            if ui is not None and ui.process.poll() is not None:
                print(
                    f"error: the UI exited ({ui.process.returncode}); see {logs / 'ui.log'}",
                    file=sys.stderr,
                )
                return 1
            time.sleep(0.5)
    except _StopRequested as stop:
        print(f"\nporto demo: {stop}, stopping")
        return 0
    finally:
        # Ctrl-C reaches make, uv and this process alike: ignore repeats while shutting down.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        if ui is not None:
            ui.stop()
        api.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print("porto demo: stopped")


if __name__ == "__main__":
    app(prog_name="make demo")
