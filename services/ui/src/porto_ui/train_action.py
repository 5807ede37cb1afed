"""The Training page's "Train a new model": start a training Job from the chart's Job template.

Shown only with ``PORTO_UI_TRAINING_LAUNCHER=true`` (the chart's ``ui.trainingLauncher.enabled``,
which also gives the UI's ServiceAccount a Role allowing exactly this). The Job is the release's
own training Job (``porto.cluster.TrainingLauncher`` reads it from the template ConfigMap) with
this form's data source, ``--promote`` and ``--set`` overrides, labelled
``porto.dev/trigger=ui``. Every failure is a ``porto.cluster.ClusterError`` whose one-line message
the page shows as is (RBAC refusals, a missing template, quota, an unreachable API server).

The logic (form → request, launch, runs, a run's logs) is plain functions over the settings, so
tests drive it against a real API server; :func:`render_section` is the Streamlit part.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import pandas as pd
import streamlit as st
from porto.cluster import (
    ClusterError,
    LaunchRequest,
    PodLog,
    RunSummary,
    TrainingLauncher,
    connect,
)

from porto_ui.settings import UISettings

#: The ``porto.dev/trigger`` label of the Jobs this page starts.
TRIGGER = "ui"
#: Where a run's data comes from: the form's choices and their labels.
Source = Literal["template", "synthetic", "s3"]
SOURCES: dict[Source, str] = {
    "template": "As the chart configures it",
    "synthetic": "Synthetic rows",
    "s3": "Dataset in the object store (s3://)",
}
#: Rows of a synthetic run unless the user says otherwise (as `make demo`).
DEFAULT_ROWS = 50_000
#: Runs listed, newest first.
RUNS_SHOWN = 20
#: Log lines shown per pod.
LOG_LINES = 200
#: Session key of the run whose logs the page offers.
LOGS_KEY = "train-logs-job"


@dataclass(frozen=True)
class LaunchForm:
    """What the user filled in."""

    source: Source = "template"
    rows: int = DEFAULT_ROWS
    data_uri: str = ""
    promote: bool = False
    #: ``key=value`` per line (``porto-train train --set``); blank lines and ``#`` comments skipped.
    overrides: str = ""


@dataclass(frozen=True)
class Launched:
    """A started run: its Job and where it is."""

    job: str
    namespace: str

    @property
    def kubectl(self) -> str:
        """The command that follows the run's log."""
        return f"kubectl -n {self.namespace} logs -f job/{self.job}"


def parse_overrides(text: str) -> dict[str, str]:
    """``key=value`` lines as a mapping (later lines win); ClusterError naming a bad line."""
    overrides: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ClusterError(
                f"override line {number}: expected key=value (e.g. model.type=sklearn), "
                f"got {line!r}",
                400,
            )
        overrides[key.strip()] = value.strip()
    return overrides


def requested_by() -> str:
    """Who starts a run from here: this UI process (the pod's name in a cluster)."""
    return f"porto-ui@{socket.gethostname()}"


def build_request(form: LaunchForm, who: str | None = None) -> LaunchRequest:
    """The launcher's request for ``form`` (ClusterError when the form does not make one)."""
    data_uri: str | None = None
    rows: int | None = None
    if form.source == "synthetic":
        rows = int(form.rows)
    elif form.source == "s3":
        data_uri = form.data_uri.strip()
        if not data_uri:
            raise ClusterError("give the dataset's s3:// URI, or choose another data source", 400)
    return LaunchRequest(
        rows=rows,
        data_uri=data_uri,
        promote=form.promote,
        overrides=parse_overrides(form.overrides),
        trigger=TRIGGER,
        requested_by=who if who is not None else requested_by(),
    )


@contextmanager
def open_launcher(config: UISettings) -> Iterator[TrainingLauncher]:
    """A launcher on the configured cluster and template; its connection closed afterwards."""
    connection = connect(config.kubeconfig, namespace=config.kube_namespace)
    try:
        yield TrainingLauncher(connection, config.training_template)
    finally:
        connection.close()


def launch(config: UISettings, form: LaunchForm, who: str | None = None) -> Launched:
    """Create the training Job of ``form``; return its name and namespace."""
    request = build_request(form, who)
    with open_launcher(config) as launcher:
        return Launched(launcher.launch(request), launcher.namespace)


def recent_runs(config: UISettings, limit: int = RUNS_SHOWN) -> tuple[str, list[RunSummary]]:
    """The namespace and its training Jobs, newest first (at most ``limit``)."""
    with open_launcher(config) as launcher:
        return launcher.namespace, launcher.runs()[:limit]


def runs_table(runs: list[RunSummary]) -> pd.DataFrame:
    """Runs as the page's table."""
    return pd.DataFrame(
        [
            {
                "job": r.name,
                "started by": r.trigger,
                "state": r.state,
                "created": r.created.replace("T", " ").split("+")[0],
                "requested by": r.requested_by,
            }
            for r in runs
        ],
        columns=["job", "started by", "state", "created", "requested by"],
    )


def run_logs(config: UISettings, job: str, lines: int = LOG_LINES) -> list[PodLog]:
    """The pods of Job ``job`` (oldest first) with the last ``lines`` lines of each one's
    training log; a pod that has not started says so instead."""
    with open_launcher(config) as launcher:
        return launcher.pod_logs(job, lines)


# --- the page section ---------------------------------------------------------------------------


def render_section(config: UISettings) -> None:
    """The "Train a new model" section (a caption saying how to turn it on when it is off)."""
    if not config.training_launcher:
        st.caption(
            "Starting training runs from here is off: the chart turns it on with "
            "`ui.trainingLauncher.enabled=true` (a Role allowing the UI to create training Jobs)."
        )
        return
    st.subheader("Train a new model")
    st.caption(
        f"Creates a training Job from the chart's Job template (ConfigMap "
        f"`{config.training_template}`): the same image, ServiceAccount and store as the "
        "release's own run. The new version appears here when the run has finished."
    )
    with st.form("train-new-model"):
        source = st.radio(
            "Training data",
            list(SOURCES),
            format_func=lambda s: SOURCES[s],
            horizontal=True,
            key="train-source",
        )
        left, right = st.columns(2)
        rows = left.number_input(
            "Synthetic rows",
            min_value=100,
            max_value=10_000_000,
            value=DEFAULT_ROWS,
            step=10_000,
            key="train-rows",
            help="Used with 'Synthetic rows'.",
        )
        data_uri = right.text_input(
            "Dataset URI",
            placeholder="s3://bucket/path/train.parquet",
            key="train-data-uri",
            help="Used with 'Dataset in the object store': CSV, zipped CSV or Parquet.",
        )
        promote = st.checkbox(
            "Promote the new version to champion whatever its score", key="train-promote"
        )
        overrides = st.text_area(
            "Config overrides (optional)",
            placeholder="model.type=sklearn\nsplit.test_size=0.25",
            key="train-overrides",
            help="One key=value per line, as `porto-train train --set key=value`.",
        )
        submitted = st.form_submit_button("Start training", icon=":material/play_arrow:")
    if submitted:
        form = LaunchForm(
            source=source,
            rows=int(rows),
            data_uri=data_uri,
            promote=promote,
            overrides=overrides,
        )
        try:
            started = launch(config, form)
        except ClusterError as exc:
            st.error(f"**The training run was not started.** {exc}")
        else:
            # The logs picker below shows the new run.
            st.session_state[LOGS_KEY] = started.job
            st.success(
                f"Started training Job `{started.job}` in namespace `{started.namespace}`. "
                f"Follow it with `{started.kubectl}`."
            )
    _runs(config)


def _runs(config: UISettings) -> None:
    """The recent runs table and a run's logs."""
    st.markdown("**Recent training runs**")
    try:
        namespace, runs = recent_runs(config)
    except ClusterError as exc:
        st.error(f"**Cannot list the training runs.** {exc}")
        return
    if not runs:
        st.caption(f"No training Jobs in namespace `{namespace}` yet.")
        return
    st.button("Refresh", key="train-refresh", icon=":material/refresh:")
    st.dataframe(runs_table(runs), hide_index=True, width="stretch")
    names = [r.name for r in runs]
    if st.session_state.get(LOGS_KEY) not in names:
        st.session_state[LOGS_KEY] = names[0]
    job = st.selectbox("Logs of run", names, key=LOGS_KEY)
    if job and st.button("Show logs", key="train-show-logs", icon=":material/article:"):
        try:
            pods = run_logs(config, job)
        except ClusterError as exc:
            st.error(f"**Cannot read the run's logs.** {exc}")
            return
        if not pods:
            st.caption(f"Job `{job}` has no pod yet.")
        for pod in pods:
            st.caption(f"pod `{pod.pod}` · {pod.phase}")
            st.code(pod.text or "(empty log)", language=None)
