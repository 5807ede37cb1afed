"""Batch scoring of an uploaded CSV: checked here first, then sent in chunks with a progress
bar; the results (with the file's ids) as a table, a histogram and a CSV download.

Results are kept in Session State per file and version, so the download button (which reruns
the page) and other interactions do not score the file again.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

import pandas as pd
import streamlit as st
from porto.contracts.api import BatchRow
from porto.reference import ReferenceStats
from porto.schema import FeatureSchema

from porto_ui import charts, metrics
from porto_ui.client import ApiClient, ApiRejectedError
from porto_ui.csv_check import CsvReport, check_csv, chunks
from porto_ui.forms import random_record
from porto_ui.layout import show_rejected
from porto_ui.settings import UISettings


@dataclass(frozen=True)
class BatchResult:
    """A scored file: one row per input row (with the file's ids when it has them)."""

    table: pd.DataFrame
    threshold: float
    model_version: str


def template_csv(schema: FeatureSchema, reference: ReferenceStats | None, rows: int = 20) -> bytes:
    """A CSV with the right header and ``rows`` random plausible rows, to start from."""
    rng = random.Random(7)
    records = [random_record(schema, reference, rng) for _ in range(rows)]
    frame = pd.DataFrame(records, columns=schema.names)
    if schema.id_column:
        frame.insert(0, schema.id_column, range(1, rows + 1))
    return frame.to_csv(index=False).encode()


def render(
    client: ApiClient,
    config: UISettings,
    version: str,
    schema: FeatureSchema,
    reference: ReferenceStats | None,
) -> None:
    """Upload → check → score in chunks → results."""
    id_note = f" and, optionally, `{schema.id_column}`" if schema.id_column else ""
    st.markdown(
        f"A CSV with a header row naming the model's **{len(schema.names)} features**{id_note} "
        "(any order; an empty cell is a missing value). It is checked here before anything is "
        f"sent, then scored in chunks of {config.batch_chunk_rows:,} rows."
    )
    st.download_button(
        "Template CSV (20 example rows)",
        template_csv(schema, reference),
        file_name=f"porto-{version}-template.csv",
        mime="text/csv",
        icon=":material/download:",
    )
    upload = st.file_uploader("CSV file", type=["csv"], key=f"upload::{version}")
    if upload is None:
        return
    data = upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:16]
    report = _checked(data, schema, config.max_upload_rows)
    if not report.ok:
        metrics.CSV_REJECTED.inc()
        show_problems(upload.name, report)
        return
    frame = report.frame
    assert frame is not None
    for warning in report.warnings[:20]:
        st.warning(f"`{warning.column}`: {warning.message}", icon=":material/warning:")
    result_key = f"batch::{version}::{digest}"
    st.success(f"`{upload.name}`: {len(frame):,} rows, every column and value valid.")
    if st.button(f"Score {len(frame):,} rows", type="primary", icon=":material/bolt:"):
        st.session_state[result_key] = _score(client, config, version, schema, frame)
    result = st.session_state.get(result_key)
    if result is not None:
        show_results(result, upload.name)


@st.cache_data(max_entries=4, show_spinner="Checking the file…")
def _checked(data: bytes, schema: FeatureSchema, max_rows: int) -> CsvReport:
    return check_csv(data, schema, max_rows=max_rows)


def show_problems(name: str, report: CsvReport) -> None:
    """Why the file was refused: row, column and problem, and counts per column."""
    first = "\n".join(
        f"- {'row ' + str(i.row) + ', ' if i.row is not None else ''}`{i.column}`: {i.message}"
        for i in report.errors[:5]
    )
    more = f"\n- … {report.error_count - 5:,} more below" if report.error_count > 5 else ""
    st.error(
        f"**`{name}` was not sent: {report.error_count:,} problem(s) found.** "
        f"Rows are numbered from 1 = the first line after the header.\n\n{first}{more}"
    )
    st.dataframe(report.table(), hide_index=True, width="stretch")
    if report.error_count > len(report.errors):
        st.caption(
            f"first {len(report.errors)} of {report.error_count:,} shown; per column: "
            + ", ".join(f"`{c}` {n:,}" for c, n in report.errors_by_column.items())
        )


def _score(
    client: ApiClient,
    config: UISettings,
    version: str,
    schema: FeatureSchema,
    frame: pd.DataFrame,
) -> BatchResult | None:
    """Send ``frame`` in chunks; the combined answer, or None when the API refused a chunk."""
    parts = chunks(frame, config.batch_chunk_rows)
    bar = st.progress(0.0, text=f"0 / {len(frame):,} rows")
    scored: list[BatchRow] = []
    threshold, served = 0.0, version
    for i, (start, body) in enumerate(parts):
        try:
            answer = client.predict_csv(body, version)
        except ApiRejectedError as exc:
            bar.empty()
            show_rejected(exc, row_offset=start, what=f"rows {start + 1}…")
            return None
        # Rows of the file, numbered from 1 (the API numbers each chunk's rows from 0).
        scored.extend(r.model_copy(update={"row": r.row + start + 1}) for r in answer.predictions)
        threshold, served = answer.threshold, answer.model_version
        done = min(len(frame), start + config.batch_chunk_rows)
        bar.progress((i + 1) / len(parts), text=f"{done:,} / {len(frame):,} rows")
    bar.empty()
    metrics.PREDICTIONS.labels("batch").inc(len(scored))
    table = pd.DataFrame(
        [
            {
                "row": r.row,
                "probability": r.probability,
                "class": r.class_,
                "prediction_id": r.prediction_id,
            }
            for r in scored
        ],
        columns=["row", "probability", "class", "prediction_id"],
    )
    id_column = schema.id_column or "id"
    if scored and "id" in scored[0].model_fields_set:  # the API echoes the file's id column
        table.insert(1, id_column, [r.id for r in scored])
    elif id_column in frame.columns:
        table.insert(1, id_column, frame[id_column].to_numpy())
    return BatchResult(table=table, threshold=threshold, model_version=served)


def show_results(result: BatchResult | None, name: str) -> None:
    """Summary, histogram, table and download of a scored file."""
    if result is None:
        return
    table = result.table
    threshold = result.threshold
    a, b, c, d = st.columns(4)
    a.metric("Rows scored", f"{len(table):,}")
    b.metric("Class 1", f"{int(table['class'].sum()):,}", f"{table['class'].mean():.1%} of rows")
    c.metric("Mean probability", f"{table['probability'].mean():.4f}")
    d.markdown(f"Model version\n\n**`{result.model_version}`**\n\nthreshold {threshold:.4f}")
    st.altair_chart(
        charts.histogram_chart(table["probability"].tolist(), threshold), width="stretch"
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "probability": st.column_config.NumberColumn(format="%.5f"),
            "row": st.column_config.NumberColumn(help="row of the file (1 = first data row)"),
        },
    )
    stem = name.rsplit(".", 1)[0]
    st.download_button(
        "Download predictions (CSV)",
        table.to_csv(index=False).encode(),
        file_name=f"{stem}-predictions.csv",
        mime="text/csv",
        icon=":material/download:",
        type="primary",
    )
