"""Progress of a run: a live display per stage on a terminal (rich), plain log lines otherwise,
and Prometheus gauges (stage, iteration, loss, elapsed seconds) served while the run lasts.

Prometheus scrape configs written for porto's training job expect port 8001; porto keeps it as the
CLI default and lets Kubernetes scrape it with a PodMonitor.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from porto.errors import ConfigError, PortoError
from porto.ports import bind_error
from prometheus_client import CollectorRegistry, Enum, Gauge, start_http_server

from porto_training import termination

log = logging.getLogger("porto_training")

#: The stages of a run, in order (the values of the ``porto_training_stage`` enum).
STAGES = [
    "starting",
    "load",
    "validate",
    "split",
    "search",
    "train",
    "evaluate",
    "explain",
    "plots",
    "reference",
    "compare",
    "publish",
    "done",
    "failed",
]


class TrainingMetrics:
    """The Prometheus gauges of one run, in their own registry (so runs never collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.started = time.perf_counter()
        self.stage = Enum(
            "porto_training_stage",
            "The stage the training run is in.",
            states=STAGES,
            registry=self.registry,
        )
        self.stage_seconds = Gauge(
            "porto_training_stage_seconds",
            "Wall time of each finished stage.",
            ["stage"],
            registry=self.registry,
        )
        self.iteration = Gauge(
            "porto_training_iteration",
            "Boosting iterations (or search candidates) completed in the current stage.",
            registry=self.registry,
        )
        self.iterations_planned = Gauge(
            "porto_training_iterations_planned",
            "The iteration budget of the current stage (early stopping may end it sooner).",
            registry=self.registry,
        )
        self.loss = Gauge(
            "porto_training_loss",
            "Latest log-loss of the model being trained.",
            ["dataset"],
            registry=self.registry,
        )
        self.elapsed = Gauge(
            "porto_training_elapsed_seconds",
            "Seconds since the run started.",
            registry=self.registry,
        )
        self.elapsed.set_function(lambda: time.perf_counter() - self.started)


class MetricsServer:
    """Serves a :class:`TrainingMetrics` registry over HTTP while open (port 0 = off)."""

    def __init__(self, metrics: TrainingMetrics, port: int, addr: str = "0.0.0.0") -> None:
        self.metrics = metrics
        self.port = port
        self.addr = addr
        self._server: Any = None
        self._thread: Any = None

    def __enter__(self) -> MetricsServer:
        if self.port:
            try:
                self._server, self._thread = start_http_server(
                    self.port, addr=self.addr, registry=self.metrics.registry
                )
            except OSError as exc:
                error = bind_error(exc, self.addr, self.port, "--metrics-port")
                if isinstance(error, PortoError):
                    raise error from None
                raise ConfigError(
                    f"cannot serve training metrics on {self.addr}:{self.port}: "
                    f"{exc.strerror or exc} (pass --metrics-port 0 to turn them off)"
                ) from exc
            log.info("serving training metrics on http://%s:%d/metrics", self.addr, self.port)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None


class Progress:
    """Reports a run's stages and iterations to the user and to the metrics.

    ``live=None`` picks a rich live display when stderr is a terminal, plain log lines otherwise.
    """

    def __init__(self, metrics: TrainingMetrics | None = None, *, live: bool | None = None) -> None:
        self.metrics = metrics or TrainingMetrics()
        self.timings: dict[str, float] = {}
        self._live = sys.stderr.isatty() if live is None else live
        self._rich: Any = None
        self._task: Any = None
        self._stage = "starting"
        self._planned = 0
        self._done = 0
        self._log_every = 1
        self.metrics.stage.state("starting")

    def __enter__(self) -> Progress:
        if self._live:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )
            from rich.progress import Progress as RichProgress

            self._rich = RichProgress(
                SpinnerColumn(finished_text="[green]✓"),
                TextColumn("{task.description:<10}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[info]}"),
                console=Console(stderr=True),
            )
            self._rich.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.metrics.stage.state("failed" if exc is not None else "done")
        if self._rich is not None:
            self._rich.stop()
            self._rich = None

    @contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[None]:
        """Report stage ``name`` as running for the duration of the block; time it."""
        self._stage = name
        self._planned = 0
        self._done = 0
        self.metrics.stage.state(name if name in STAGES else "starting")
        self.metrics.iteration.set(0)
        self.metrics.iterations_planned.set(0)
        start = time.perf_counter()
        if self._rich is not None:
            self._task = self._rich.add_task(name, total=None, info=detail)
        else:
            log.info("%s: started%s", name, f" ({detail})" if detail else "")
        outcome = "failed"
        try:
            termination.check()
            yield
            termination.check()
            outcome = "done"
        except (termination.Terminated, KeyboardInterrupt):
            outcome = "stopped"
            raise
        finally:
            seconds = time.perf_counter() - start
            self.timings[name] = self.timings.get(name, 0.0) + seconds
            self.metrics.stage_seconds.labels(stage=name).set(seconds)
            if self._rich is not None:
                # Finished means full: one step for a stage without iterations, and the
                # iterations actually run when early stopping ended the stage sooner.
                done = self._done if self._planned else 1
                self._rich.update(self._task, total=max(done, 1), completed=max(done, 1))
                self._rich.update(self._task, info=f"{seconds:.1f}s {detail}".strip())
                self._rich.stop_task(self._task)
            else:
                log.info("%s: %s in %.1f s", name, outcome, seconds)

    def plan(self, iterations: int) -> None:
        """Announce the iteration budget of the current stage."""
        self._planned = iterations
        self._log_every = max(1, iterations // 10)
        self.metrics.iterations_planned.set(iterations)
        if self._rich is not None:
            self._rich.update(self._task, total=iterations, completed=0)

    def iteration(self, done: int, losses: dict[str, float] | None = None) -> None:
        """Report ``done`` iterations completed, with the latest loss per dataset."""
        self._done = done
        self.metrics.iteration.set(done)
        losses = losses or {}
        for dataset, value in losses.items():
            self.metrics.loss.labels(dataset=dataset).set(value)
        info = " ".join(f"{k} {v:.4f}" for k, v in losses.items())
        if self._rich is not None:
            self._rich.update(self._task, completed=done, info=info)
        elif done % self._log_every == 0 or done == self._planned:
            of = f"/{self._planned}" if self._planned else ""
            log.info("%s: iteration %d%s %s", self._stage, done, of, info)

    def note(self, message: str) -> None:
        """Report a one-line fact about the run (a decision, a skipped step)."""
        if self._rich is not None:
            self._rich.console.log(message)
        else:
            log.info("%s", message)
