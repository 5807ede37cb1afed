"""``porto-score``: score a dataset offline with one model version of the registry.

    porto-score INPUT [--output DIR|s3://bucket/prefix] [--model-version VERSION|ALIAS]
                      [--format parquet|csv] [--explain] [--chunk-rows N] [--overwrite]

INPUT is a local file or ``s3://bucket/key``, CSV (also gzipped) or Parquet, of any size: it is
read and scored in chunks, each written as its own part file, and an interrupted run resumes
where it stopped when run again with the same arguments (see :mod:`porto_training.score`).
A porto failure prints ``error: <message>`` on stderr and exits 1, without a traceback.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import PurePosixPath
from typing import Annotated

import typer
from porto.registry import CHAMPION
from porto.store import open_store

from porto_training import termination
from porto_training.cli import _configure_logging
from porto_training.cli_errors import porto_errors
from porto_training.config import DEFAULT_MODEL_NAME, default_store_uri
from porto_training.score import (
    DEFAULT_CHUNK_ROWS,
    OUTPUT_FORMATS,
    PartEvent,
    ScoreRequest,
    run_scoring,
)
from porto_training.score_input import INPUT_FORMATS

log = logging.getLogger("porto_training.score")

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def default_output(store: str, name: str, source: str) -> str:
    """The output prefix when none is given: ``predictions/<model>/<input name>`` in the
    artifact store, so the same command always resumes into the same place."""
    stem = PurePosixPath(source.rstrip("/")).name
    stem = re.sub(r"(\.(csv|gz|parquet|pq))+$", "", stem, flags=re.IGNORECASE)
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", stem).lstrip(".") or "input"
    return f"{store.rstrip('/')}/predictions/{name}/{stem}"


class _LogProgress:
    """One log line per part: rows done / total and the scoring rate."""

    def __call__(self, event: PartEvent) -> None:
        total = event.rows_total
        share = f" ({100 * event.rows_done / total:.1f}%)" if total else ""
        of = f" / {total:,}" if total is not None else ""
        if event.written:
            log.info(
                "part %05d written: %s%s rows%s, %s rows/s",
                event.part.index,
                f"{event.rows_done:,}",
                of,
                share,
                f"{event.rows_per_second:,.0f}",
            )
        else:
            log.info(
                "part %05d kept (written and verified by an earlier run): %s%s rows%s",
                event.part.index,
                f"{event.rows_done:,}",
                of,
                share,
            )


@app.command()
def score(
    source: Annotated[
        str,
        typer.Argument(
            metavar="INPUT",
            help="Dataset to score: a local path or s3://bucket/key, CSV or Parquet.",
        ),
    ],
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            envvar="PORTO_SCORE_OUTPUT",
            help="Output prefix: a directory or s3://bucket/prefix "
            "(default: <store>/predictions/<model>/<input name>).",
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            envvar="PORTO_STORE",
            help="Artifact store holding the model: a directory, file://dir or "
            "s3://bucket/prefix (default: $PORTO_HOME/artifacts).",
        ),
    ] = None,
    name: Annotated[
        str,
        typer.Option("--name", "-n", envvar="PORTO_MODEL_NAME", help="Model name in the registry."),
    ] = DEFAULT_MODEL_NAME,
    model_version: Annotated[
        str,
        typer.Option(
            "--model-version",
            "-m",
            envvar="PORTO_SCORE_MODEL_VERSION",
            help="Model version or alias to score with.",
        ),
    ] = CHAMPION,
    input_format: Annotated[
        str, typer.Option(help=f"Input format: {', '.join(INPUT_FORMATS)}.")
    ] = "auto",
    output_format: Annotated[
        str,
        typer.Option(
            "--format", "-f", envvar="PORTO_SCORE_FORMAT", help=f"{' or '.join(OUTPUT_FORMATS)}."
        ),
    ] = "parquet",
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            envvar="PORTO_SCORE_EXPLAIN",
            help="Add base_value and one contribution_<feature> column per feature (log-odds).",
        ),
    ] = False,
    chunk_rows: Annotated[
        int,
        typer.Option(
            envvar="PORTO_SCORE_CHUNK_ROWS", min=1, help="Rows per chunk and per part file."
        ),
    ] = DEFAULT_CHUNK_ROWS,
    threads: Annotated[
        int | None,
        typer.Option(
            envvar="PORTO_SCORE_THREADS", min=1, help="Scoring threads (default: every CPU)."
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            envvar="PORTO_SCORE_OVERWRITE",
            help="Replace an output holding another run (another input, model version or "
            "options) instead of refusing; the same run still resumes.",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the run manifest as JSON on stdout.")
    ] = False,
) -> None:
    """Score INPUT with a model version (default: the champion) into Parquet or CSV part files;
    re-run the same command to resume an interrupted run."""
    _configure_logging()
    with porto_errors():
        store_uri = store or default_store_uri()
        target = output or default_output(store_uri, name, source)
        request = ScoreRequest(
            source=source,
            model_name=name,
            model_ref=model_version,
            input_format=input_format,
            output_format=output_format,
            chunk_rows=chunk_rows,
            explain=explain,
            overwrite=overwrite,
            threads=threads or os.cpu_count() or 1,
        )
        result = run_scoring(
            request, open_store(store_uri), open_store(target), on_part=_LogProgress()
        )
        manifest = result.manifest
        log.info(
            "done: %s rows in %d part(s) (%d written, %d kept) in %.1f s, %s rows/s → %s",
            f"{manifest.rows:,}",
            len(manifest.parts),
            result.parts_written,
            result.parts_kept,
            result.seconds,
            f"{result.rows_per_second:,.0f}",
            result.output_uri,
        )
        if as_json:
            typer.echo(manifest.model_dump_json(indent=2))


def main() -> None:
    """Console entry point."""
    termination.install()
    app()


if __name__ == "__main__":
    main()
