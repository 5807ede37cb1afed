"""``porto-train cluster``: training runs on a Kubernetes cluster, from the chart's Job template.

    porto-train cluster run    [-n NS] [--release R | --template CM] [--rows N | --data s3://…]
                               [--promote] [--set key=value …] [--no-follow] [--timeout S]
                               [--dry-run]
    porto-train cluster follow NAME [-n NS]     (re-attach to a run: status and logs)
    porto-train cluster list   [-n NS] [--json]

A run is the Job of the ConfigMap ``<release>-training-job-template`` that the chart installs,
with only its arguments changed (see ``porto.cluster``). While a run is followed, its status
lines and warnings go to stderr and the training's own log lines to stdout. Exit codes: 0 when
the run succeeded (or was created, with ``--no-follow``), 1 when it failed or the cluster refused
(``error: <message>``: RBAC, missing template, quota, unreachable API server), 2 for usage
errors, 130 on Ctrl-C (the Job keeps running).
"""

from __future__ import annotations

import getpass
import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml

from porto_training.cli_errors import EXIT_FAILURE, EXIT_INTERRUPTED, porto_errors

if TYPE_CHECKING:  # the kubernetes client takes half a second to import: only when used
    from porto.cluster import JobEvent, LaunchRequest, TrainingLauncher

DEFAULT_RELEASE = "porto"

cluster_app = typer.Typer(
    help="Training runs on a Kubernetes cluster: start one from the chart's Job template, "
    "follow it, list them.",
    no_args_is_help=True,
)

NamespaceOpt = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        "-n",
        help="Namespace of the release (default: the kubeconfig context's, or the pod's own).",
    ),
]
KubeconfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--kubeconfig",
        help="kubeconfig file (default: $KUBECONFIG, else in-cluster, else ~/.kube/config).",
        dir_okay=False,
    ),
]
ContextOpt = Annotated[str | None, typer.Option("--context", help="kubeconfig context.")]
ReleaseOpt = Annotated[
    str | None,
    typer.Option(
        "--release",
        "-r",
        help=f"Helm release whose Job template to use (default: {DEFAULT_RELEASE}).",
    ),
]
TemplateOpt = Annotated[
    str | None,
    typer.Option(
        "--template",
        help="Name of the template ConfigMap, when it is not <release>-training-job-template "
        "(a nameOverride or fullnameOverride).",
    ),
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        min=0,
        help="Stop following after this many seconds (exit 1; the Job keeps running).",
    ),
]
LogsOpt = Annotated[
    bool, typer.Option("--logs/--no-logs", help="Print the run's log lines and pod problems.")
]
PollOpt = Annotated[
    float, typer.Option("--poll", min=0.05, help="Seconds between status reads.", hidden=True)
]


def _overrides(values: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or key != key.strip():
            raise typer.BadParameter(
                f"expected key=value (a porto-train train --set override), got {item!r}",
                param_hint="'--set'",
            )
        out[key] = value
    return out


def _requested_by() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@contextmanager
def _launcher(
    kubeconfig: Path | None,
    context: str | None,
    namespace: str | None,
    release: str | None = None,
    template: str | None = None,
) -> Iterator[TrainingLauncher]:
    from porto.cluster import TrainingLauncher, connect, template_name_for

    with connect(kubeconfig, context=context, namespace=namespace) as connection:
        yield TrainingLauncher(
            connection, template or template_name_for(release or DEFAULT_RELEASE)
        )


def _print_event(event: JobEvent) -> None:
    if event.kind == "log":
        typer.echo(event.text)
    elif event.kind == "warning":
        typer.echo(f"warning: {event.text}", err=True)
    else:
        typer.echo(event.text, err=True)


def _follow(
    launcher: TrainingLauncher, name: str, timeout: float | None, poll: float, logs: bool
) -> None:
    """Follow ``name`` to its end: return on success, exit 1 on failure, 130 on Ctrl-C."""
    try:
        outcome = launcher.follow(name, _print_event, timeout=timeout, poll=poll, logs=logs)
    except KeyboardInterrupt:
        typer.echo(
            f"error: interrupted; job/{name} keeps running (porto-train cluster follow {name} "
            f"-n {launcher.namespace})",
            err=True,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if not outcome.succeeded:
        typer.echo(f"error: job/{name} failed: {outcome.reason}", err=True)
        raise typer.Exit(EXIT_FAILURE)
    typer.echo(f"job/{name} succeeded after {outcome.seconds:.0f}s", err=True)


def _request(
    rows: int | None, data: str | None, promote: bool, overrides: dict[str, str]
) -> LaunchRequest:
    from porto.cluster import ClusterError, LaunchRequest

    if rows is not None and data is not None:
        raise typer.BadParameter(
            "give either --rows (SYNTHETIC data) or --data (an s3:// dataset), not both",
            param_hint="'--rows' / '--data'",
        )
    try:
        return LaunchRequest(
            rows=rows,
            data_uri=data,
            promote=promote,
            overrides=overrides,
            trigger="cli",
            requested_by=_requested_by(),
        )
    except ClusterError as exc:  # the request's own checks: a usage error
        hint = "'--data'" if data is not None and not data.startswith("s3://") else None
        raise typer.BadParameter(exc.message, param_hint=hint) from None


RowsOpt = Annotated[
    int | None,
    typer.Option("--rows", help="Train on this many rows of SYNTHETIC data.", min=100),
]
DataOpt = Annotated[
    str | None,
    typer.Option("--data", "-d", help="Train on this dataset: s3://bucket/key."),
]
PromoteOpt = Annotated[
    bool, typer.Option("--promote", help="Make the new version champion whatever its score.")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Training config override key=value (repeatable)."),
]
FollowOpt = Annotated[bool, typer.Option("--follow/--no-follow", help="Follow the run to its end.")]
DryRunOpt = Annotated[
    bool,
    typer.Option(
        "--dry-run", help="Have the API server check the Job (nothing is created); print it."
    ),
]


@cluster_app.command()
def run(
    namespace: NamespaceOpt = None,
    release: ReleaseOpt = None,
    template: TemplateOpt = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    rows: RowsOpt = None,
    data: DataOpt = None,
    promote: PromoteOpt = False,
    set_: SetOpt = None,
    follow: FollowOpt = True,
    timeout: TimeoutOpt = None,
    dry_run: DryRunOpt = False,
    logs: LogsOpt = True,
    poll: PollOpt = 2.0,
) -> None:
    """Start a training run: create a Job from the release's template, then follow it.

    Keeps the template's data source unless --rows or --data; adds --set after its own.
    """
    if release is not None and template is not None:
        raise typer.BadParameter(
            "give either --release or --template, not both", param_hint="'--template'"
        )
    request = _request(rows, data, promote, _overrides(set_))
    with (
        porto_errors(),
        _launcher(kubeconfig, context, namespace, release, template) as launcher,
    ):
        if dry_run:
            _dry_run(launcher, request)
            return
        name = launcher.launch(request)
        typer.echo(f"job/{name} created in namespace {launcher.namespace}")
        if follow:
            _follow(launcher, name, timeout, poll, logs)


def _dry_run(launcher: TrainingLauncher, request: LaunchRequest) -> None:
    """Print the Job the API server accepted for ``request`` (nothing is created)."""
    job = launcher.create(request, dry_run=True)
    job.pop("status", None)
    job.get("metadata", {}).pop("managedFields", None)
    typer.echo(yaml.safe_dump(job, sort_keys=False), nl=False)
    typer.echo(
        f"dry run: job/{job['metadata']['name']} would be created in namespace "
        f"{launcher.namespace} (nothing was created)",
        err=True,
    )


@cluster_app.command("follow")
def follow_run(
    name: Annotated[str, typer.Argument(help="Name of the training Job.")],
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    timeout: TimeoutOpt = None,
    logs: LogsOpt = True,
    poll: PollOpt = 2.0,
) -> None:
    """Follow a training run (again): its status changes and new log lines, to its end."""
    with porto_errors(), _launcher(kubeconfig, context, namespace) as launcher:
        _follow(launcher, name, timeout, poll, logs)


@cluster_app.command("list")
def list_runs(
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the namespace's training runs (the chart's and on-demand ones), newest first."""
    with porto_errors(), _launcher(kubeconfig, context, namespace) as launcher:
        runs = launcher.runs()
    if as_json:
        rows: list[dict[str, Any]] = [
            {
                "name": r.name,
                "trigger": r.trigger,
                "state": r.state,
                "created": r.created,
                "requested_by": r.requested_by,
            }
            for r in runs
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    if not runs:
        typer.echo(f"no training runs in namespace {launcher.namespace}", err=True)
        return
    table = [("NAME", "TRIGGER", "STATE", "CREATED", "REQUESTED-BY")] + [
        (r.name, r.trigger, r.state, r.created, r.requested_by or "-") for r in runs
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        typer.echo("  ".join([*cells, row[-1]]).rstrip())
