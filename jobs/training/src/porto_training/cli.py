"""``porto-train``: one command per stage a user runs by hand.

    porto-train train     [--config FILE] [--data PATH|s3://…] [--set key=value …]
    porto-train validate  --data PATH          (the data checks alone)
    porto-train generate  --out FILE           (write a SYNTHETIC dataset)
    porto-train models    list | show | promote | delete
    porto-train cluster   run | follow | list    (training runs on Kubernetes)

Every porto failure (bad data, bad config, unreachable store, …) prints ``error: <message>`` on
stderr and exits non-zero, without a traceback.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import zipfile
from pathlib import Path
from typing import Annotated, Any

import typer
from porto.flavors.catboost import CATBOOST
from porto.flavors.sklearn import SKLEARN
from porto.registry import CHAMPION, LATEST, Registry, list_models
from porto.store import open_store

from porto_training import termination
from porto_training.cli_errors import porto_errors
from porto_training.cluster_cli import cluster_app
from porto_training.config import DEFAULT_MODEL_NAME, default_store_uri, load_config

app = typer.Typer(
    help="porto training job: validate data, train, evaluate, publish a versioned model bundle.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(
    help="The model registry: list, show, promote and delete versions.", no_args_is_help=True
)
app.add_typer(models_app, name="models")
app.add_typer(cluster_app, name="cluster")


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


@app.callback()
def _configure_logging() -> None:
    """The CLI's stdout is data (JSON, tables): its log lines go to stderr only, whatever
    handlers the hosting process has put on the root logger."""
    logger = logging.getLogger("porto_training")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="YAML config (default: jobs/training/config.yaml).", dir_okay=False
    ),
]
DataOpt = Annotated[
    str | None,
    typer.Option(
        "--data",
        "-d",
        help="Dataset: local path or s3://bucket/key; CSV, zipped CSV or Parquet. "
        "Default: the config's data.path, else SYNTHETIC data.",
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", "-s", help="Config override key=value (YAML value), e.g. model.catboost.depth=8."
    ),
]
TargetOpt = Annotated[str | None, typer.Option(help="Name of the target (label) column.")]
PositiveOpt = Annotated[
    str | None,
    typer.Option(
        "--positive-label",
        help="The target value of the positive class, e.g. Yes (case-insensitive). Default: "
        "inferred for 0/1, false/true and no/yes; required for any other pair of labels.",
    ),
]
IdOpt = Annotated[
    str | None,
    typer.Option("--id-column", help="Name of the row id column ('' if the data has none)."),
]
MissingOpt = Annotated[
    float | None, typer.Option(help="Value that marks a missing cell (default -1).")
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="PORTO_STORE",
        help="Artifact store: a directory, file://dir or s3://bucket/prefix "
        "(default: $PORTO_HOME/artifacts).",
    ),
]
NameOpt = Annotated[
    str | None,
    typer.Option("--name", "-n", envvar="PORTO_MODEL_NAME", help="Model name in the registry."),
]


def _data_updates(
    data: str | None,
    target: str | None,
    id_column: str | None,
    missing_value: float | None,
    positive_label: str | None = None,
) -> dict[str, Any]:
    updates: dict[str, Any] = {}
    if data is not None:
        updates["data.path"] = data
    if target is not None:
        updates["data.target"] = target
    if positive_label is not None:
        updates["data.positive_label"] = positive_label
    if id_column is not None:
        updates["data.id_column"] = id_column or None
    if missing_value is not None:
        updates["data.missing_value"] = missing_value
    return updates


ModelTypeOpt = Annotated[
    str | None,
    typer.Option("--model-type", "-m", help=f"{CATBOOST} or {SKLEARN} (logistic regression)."),
]
PromoteOpt = Annotated[
    bool, typer.Option("--promote", help="Make this version champion whatever its score.")
]
RowsOpt = Annotated[
    int | None, typer.Option(help="Rows of SYNTHETIC data to generate when no --data.")
]
SeedOpt = Annotated[int | None, typer.Option(help="Random seed for split, model, sampling.")]
SearchOpt = Annotated[
    bool | None, typer.Option("--search/--no-search", help="Random hyperparameter search.")
]
MetricsPortOpt = Annotated[
    int,
    typer.Option(
        envvar="PORTO_TRAIN_METRICS_PORT",
        help="Serve Prometheus progress metrics on this port while training (0 = off).",
    ),
]
MetricsAddrOpt = Annotated[
    str,
    typer.Option(envvar="PORTO_TRAIN_METRICS_ADDR", help="Address the metrics server binds to."),
]
ManifestJsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the new version's manifest as JSON.")
]


@app.command()
def train(
    config: ConfigOpt = None,
    data: DataOpt = None,
    set_: SetOpt = None,
    model_type: ModelTypeOpt = None,
    store: StoreOpt = None,
    name: NameOpt = None,
    promote: PromoteOpt = False,
    rows: RowsOpt = None,
    seed: SeedOpt = None,
    search: SearchOpt = None,
    target: TargetOpt = None,
    positive_label: PositiveOpt = None,
    id_column: IdOpt = None,
    missing_value: MissingOpt = None,
    metrics_port: MetricsPortOpt = 8001,
    metrics_addr: MetricsAddrOpt = "0.0.0.0",
    as_json: ManifestJsonOpt = False,
) -> None:
    """Train a model and publish it as a new version (champion if first, asked, or better)."""
    from porto_training.pipeline import run_training

    updates = _data_updates(data, target, id_column, missing_value, positive_label)
    options = {
        "model.type": model_type,
        "output.store": store,
        "output.name": name,
        "data.synthetic.rows": rows,
        "seed": seed,
        "search.enabled": search,
    }
    updates |= {key: value for key, value in options.items() if value is not None}
    with porto_errors():
        cfg = load_config(config, set_, updates)
        result = run_training(
            cfg, promote=promote, metrics_port=metrics_port, metrics_addr=metrics_addr
        )
    if as_json:
        print(result.manifest.model_dump_json(indent=2))
    else:
        print("\n".join(result.summary()))


@app.command()
def validate(
    config: ConfigOpt = None,
    data: DataOpt = None,
    set_: SetOpt = None,
    target: TargetOpt = None,
    positive_label: PositiveOpt = None,
    id_column: IdOpt = None,
    missing_value: MissingOpt = None,
) -> None:
    """Run the data checks alone: exit 0 if the dataset can be trained on."""
    from porto_training.data import load_dataset
    from porto_training.validation import validate_frame

    with porto_errors():
        updates = _data_updates(data, target, id_column, missing_value, positive_label)
        cfg = load_config(config, set_, updates)
        dataset = load_dataset(cfg.data, seed=cfg.seed)
        report = validate_frame(dataset.frame, cfg.data, dataset.source)
    kinds: dict[str, int] = {}
    for kind in report.features.values():
        kinds[kind.value] = kinds.get(kind.value, 0) + 1
    by_kind = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    print(
        f"ok: {dataset.source}: {report.rows} rows, {report.columns} columns, "
        f"{report.positives} positives ({report.positive_rate:.2%}); "
        f"{len(report.features)} features ({by_kind}); classes: {report.labels.describe()}"
    )


@app.command()
def generate(
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="File to write: .csv, .zip (zipped CSV, like Kaggle) or .parquet."
        ),
    ],
    rows: Annotated[int, typer.Option(help="Number of rows.", min=1)] = 595_212,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 42,
) -> None:
    """Write a SYNTHETIC Porto-shaped dataset (not real data) to a file."""
    from porto.synthetic import generate as generate_data

    frame = generate_data(rows, seed=seed).frame
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix in (".parquet", ".pq"):
        frame.to_parquet(out, index=False)
    elif suffix == ".zip":
        buf = io.StringIO()
        frame.to_csv(buf, index=False)
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(
                out.stem if out.stem.endswith(".csv") else f"{out.stem}.csv", buf.getvalue()
            )
    else:
        frame.to_csv(out, index=False)
    print(f"wrote {rows} SYNTHETIC rows (seed {seed}) to {out}")


def _registry(store: str | None, name: str | None) -> Registry:
    return Registry(open_store(store or default_store_uri()), name or DEFAULT_MODEL_NAME)


@models_app.command("list")
def list_versions(
    store: StoreOpt = None,
    name: NameOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the versions of a model (or of every model when no --name), oldest first."""
    with porto_errors():
        target = store or default_store_uri()
        names = [name] if name else list_models(open_store(target))
        listing: dict[str, list[dict[str, Any]]] = {}
        for model_name in names:
            registry = _registry(target, model_name)
            aliases = registry.aliases()
            listing[model_name] = [
                {
                    "version": m.version,
                    "created_at": m.created_at.isoformat(timespec="seconds"),
                    "model_type": m.model_type,
                    "roc_auc": m.metrics.get("roc_auc"),
                    "aliases": sorted(a for a, v in aliases.items() if v == m.version),
                }
                for m in registry.manifests()
            ]
    if as_json:
        print(json.dumps(listing, indent=2))
        return
    if not listing:
        print(f"no models in {target}")
    for model_name, versions in listing.items():
        print(f"{model_name}:")
        for v in versions:
            auc = f"{v['roc_auc']:.4f}" if isinstance(v["roc_auc"], float) else "-"
            tags = f"  [{', '.join(v['aliases'])}]" if v["aliases"] else ""
            print(f"  {v['version']}  {v['created_at']}  {v['model_type']:8s}  AUC {auc}{tags}")


@models_app.command("show")
def show_version(
    ref: Annotated[str, typer.Argument(help="Version or alias (latest, champion).")] = CHAMPION,
    store: StoreOpt = None,
    name: NameOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole manifest.")] = False,
) -> None:
    """Show one version: its manifest summary (or the whole manifest with --json)."""
    with porto_errors():
        registry = _registry(store, name)
        manifest = registry.get(ref)
        aliases = sorted(a for a, v in registry.aliases().items() if v == manifest.version)
    if as_json:
        print(manifest.model_dump_json(indent=2))
        return
    m = manifest.metrics
    print(f"{manifest.name} {manifest.version}  [{', '.join(aliases) or 'no alias'}]")
    created = manifest.created_at.isoformat(timespec="seconds")
    print(f"  created   {created}  ({manifest.code_version})")
    print(f"  model     {manifest.model_type} ({manifest.model_file})")
    print(f"  threshold {manifest.threshold:.4f}")
    print(
        f"  dataset   {manifest.dataset.source}  rows {manifest.dataset.rows}  "
        f"sha256 {manifest.dataset.fingerprint[:16]}…"
    )
    print(f"  features  {len(manifest.feature_schema.features)}")
    print(f"  classes   {manifest.label_mapping.describe()}")
    for key in ("roc_auc", "gini_normalized", "pr_auc", "log_loss", "brier", "f1"):
        if isinstance(m.get(key), float):
            print(f"  {key:<9s} {m[key]:.4f}")
    print(f"  files     {len(manifest.files)}")


@models_app.command("promote")
def promote_version(
    ref: Annotated[str, typer.Argument(help="Version or alias to make champion.")],
    store: StoreOpt = None,
    name: NameOpt = None,
) -> None:
    """Make a version the champion (the model inference serves), after checking every file of
    its bundle against the manifest's checksums: a corrupt version is refused (exit 1)."""
    with porto_errors():
        version = _registry(store, name).promote(ref)
    print(f"{version} is now {CHAMPION}")


@models_app.command("delete")
def delete_version(
    ref: Annotated[str, typer.Argument(help="Version or alias to delete.")],
    store: StoreOpt = None,
    name: NameOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Delete even the champion (leaves no champion).")
    ] = False,
) -> None:
    """Delete a version; the champion only with --force. ``latest`` moves to the newest left."""
    with porto_errors():
        registry = _registry(store, name)
        version = registry.delete(ref, force=force)
        left = registry.aliases().get(LATEST)
    print(f"deleted {version}" + (f"; {LATEST} is {left}" if left else ""))


def main() -> None:
    """Console entry point."""
    termination.install()
    app()


if __name__ == "__main__":
    main()
