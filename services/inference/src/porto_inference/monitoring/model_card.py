"""The parts of a version's report that come from its bundle alone: the model card (the
manifest's facts; intended use and limits from the training config's ``model_card``, else
written here from the bundle) and the training section (metrics, plots with their images and
data, feature rankings). They need no database, so a report without a prediction log has them.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any, TypeVar

import pandas as pd
from porto.bundle import Manifest, read_file, read_json
from porto.contracts.insights import IMPORTANCE_FILE, MUTUAL_INFO_FILE, FeatureRanking
from porto.contracts.plots import PLOTS, plot_file
from porto.contracts.report import (
    CardData,
    CardFeature,
    ModelCard,
    ReportPlot,
    TrainingSection,
)
from porto.contracts.run import ClassificationMetrics, RunMetrics
from porto.store import ArtifactStore
from pydantic import BaseModel, ValidationError

#: The image files of a bundle a report embeds.
IMAGE_SUFFIXES = {".png": "image/png", ".svg": "image/svg+xml"}


def training_section(
    store: ArtifactStore, manifest: Manifest
) -> tuple[TrainingSection, dict[str, tuple[bytes, str]]]:
    """The bundle's metrics, plots (their data and images) and feature rankings."""
    files = manifest.files
    stems: list[str] = [n for n in PLOTS if plot_file(n) in files or f"plots/{n}.png" in files]
    for rel in sorted(files):
        path = PurePosixPath(rel)
        wanted = path.suffix in (".json", *IMAGE_SUFFIXES)
        if path.parent.name == "plots" and path.stem not in stems and wanted:
            stems.append(path.stem)
    plots: list[ReportPlot] = []
    images: dict[str, tuple[bytes, str]] = {}
    for stem in stems:
        data = None
        data_file = plot_file(stem) if plot_file(stem) in files else None
        if data_file is not None:
            loaded = read_json(store, manifest, data_file)
            data = loaded if isinstance(loaded, dict) else {"values": loaded}
        image = next(
            (f"plots/{stem}{s}" for s in IMAGE_SUFFIXES if f"plots/{stem}{s}" in files), None
        )
        if image is not None:
            images[image] = (read_file(store, manifest, image), IMAGE_SUFFIXES[image[-4:]])
        title = str(data.get("title")) if data and data.get("title") else _titled(stem)
        plots.append(
            ReportPlot(name=stem, title=title, image=image, data_file=data_file, data=data)
        )
    rankings: dict[str, FeatureRanking | None] = {}
    for key, rel in (("mi", MUTUAL_INFO_FILE), ("importance", IMPORTANCE_FILE)):
        rankings[key] = (
            parsed(FeatureRanking, read_json(store, manifest, rel)) if rel in files else None
        )
    section = TrainingSection(
        metrics=manifest.metrics,
        plots=plots,
        mutual_information=rankings["mi"],
        importance=rankings["importance"],
    )
    return section, images


Parsed = TypeVar("Parsed", bound=BaseModel)


def parsed(contract: type[Parsed], raw: Any) -> Parsed | None:
    """``raw`` as ``contract``, or None for a file of another shape (a bundle of another porto
    version): the report goes without that part rather than fail."""
    try:
        return contract.model_validate(raw)
    except ValidationError:
        return None


def _titled(stem: str) -> str:
    return stem.replace("_", " ").capitalize()


def holdout_metrics(metrics: dict[str, Any]) -> tuple[str, dict[str, float]]:
    """Which rows the metrics describe and every number training recorded on them: the
    classification figures of a run's metrics, else the numbers of a bundle of another shape
    (top level, and its ``test`` object if it has one)."""
    try:
        run = RunMetrics.model_validate(metrics)
    except ValidationError:
        found: dict[str, float] = {}
        for source in (metrics, metrics.get("test")):
            if isinstance(source, dict):
                for key, value in source.items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        found[key] = float(value)
        holdout = metrics.get("holdout")
        return (str(holdout) if holdout else "test"), found
    figures = {
        name: float(value)
        for name, value in run.model_dump(include=set(ClassificationMetrics.model_fields)).items()
        if isinstance(value, (int, float))
    }
    figures.update({f"validation_{k}": float(v) for k, v in run.validation.model_dump().items()})
    if run.oracle_roc_auc is not None:
        figures["oracle_roc_auc"] = run.oracle_roc_auc
    return run.holdout, figures


def model_card(manifest: Manifest, aliases: list[str]) -> ModelCard:
    """The card: the bundle's facts, and intended use and limits from the training config's
    ``model_card`` (``intended_use``, ``limitations``) when it has them, else written here from
    the bundle."""
    schema = manifest.feature_schema
    dataset = manifest.dataset
    labels = manifest.label_mapping
    rate = dataset.positives / dataset.rows if dataset.rows else 0.0
    marker = schema.missing_value
    marker_text = "null" if marker is None else f"null or {marker:g}"
    features = [
        CardFeature(
            name=spec.name,
            kind=str(spec.kind),
            dtype=spec.dtype,
            missing=f"{marker_text}; {spec.missing_rate:.2%} missing in training",
            training_missing_rate=spec.missing_rate,
            categories=len(spec.categories) if spec.categories is not None else None,
        )
        for spec in schema.features
    ]
    holdout, figures = holdout_metrics(manifest.metrics)
    data = CardData(
        source=dataset.source,
        fingerprint=dataset.fingerprint,
        rows=dataset.rows,
        columns=dataset.columns,
        positives=dataset.positives,
        positive_rate=rate,
        synthetic=dataset.synthetic,
        target=schema.target,
        id_column=schema.id_column,
        missing_value=marker,
        positive_label=str(labels.positive_label),
        negative_label=str(labels.negative_label),
        ignored_columns=list(schema.ignored),
    )
    given = manifest.config.get("model_card")
    given = given if isinstance(given, dict) else {}
    intended = given.get("intended_use")
    limits = given.get("limitations")
    use_given = isinstance(intended, str) and bool(intended.strip())
    limits_given = isinstance(limits, list) and bool(limits)
    source = {(True, True): "config", (False, False): "generated"}.get(
        (use_given, limits_given), "mixed"
    )
    return ModelCard(
        name=manifest.name,
        version=manifest.version,
        created_at=manifest.created_at.isoformat(),
        model_type=manifest.model_type,
        code_version=manifest.code_version,
        aliases=aliases,
        threshold=manifest.threshold,
        data=data,
        features=features,
        intended_use=str(intended) if use_given else _generated_use(manifest, data),
        limitations=(
            [str(x) for x in limits]
            if limits_given and isinstance(limits, list)
            else _generated_limits(manifest, rate, holdout, figures)
        ),
        holdout=holdout,
        holdout_metrics=figures,
        card_source=source,
    )


def _generated_use(manifest: Manifest, data: CardData) -> str:
    kinds = pd.Series([str(f.kind) for f in manifest.feature_schema.features]).value_counts()
    by_kind = ", ".join(f"{n} {k}" for k, n in kinds.items())
    return (
        f"Binary classification: the probability that a record's {data.target!r} is "
        f"{data.positive_label!r} (class 1) rather than {data.negative_label!r} (class 0), for "
        f"records with the {len(manifest.feature_schema.features)} features of the training "
        f"schema ({by_kind}). The class is 1 at a probability of {manifest.threshold:.4f} or "
        "more (the threshold of maximal F1 on the validation rows). Meant for ranking and "
        "flagging records drawn like the training data, with the action on a flagged record "
        "decided and reviewed by people; not for records of another population or schema."
    )


def _generated_limits(
    manifest: Manifest, rate: float, holdout: str, figures: dict[str, float]
) -> list[str]:
    dataset = manifest.dataset
    out = [
        f"Label rate in training: {rate:.2%} ({dataset.positives:,} of {dataset.rows:,} rows). "
        "Probabilities are calibrated to that rate; precision at the threshold is bounded by how "
        "rare positives are, and both shift when the live rate differs.",
        f"Data window: {dataset.source} (fingerprint {dataset.fingerprint[:16]}), as of "
        f"{manifest.created_at:%Y-%m-%d}. No guarantee outside the training distribution: values "
        "beyond the ranges seen in training, categories never seen (counted as unseen below) and "
        "a drifting population degrade the scores; watch the drift and data-quality sections.",
        f"Holdout figures ({holdout} rows"
        + (f", {int(figures['rows']):,} of them" if "rows" in figures else "")
        + ") describe data like the training data; realized quality needs feedback labels.",
    ]
    if dataset.synthetic:
        out.append("Trained on synthetic data: a demonstration, not a basis for decisions.")
    if manifest.feature_schema.ignored:
        out.append(
            f"{len(manifest.feature_schema.ignored)} column(s) of the data are ignored by the "
            "model (accepted and discarded): "
            + ", ".join(manifest.feature_schema.ignored[:10])
            + ("…" if len(manifest.feature_schema.ignored) > 10 else "")
        )
    out.append("Scores correlate with the label; they explain no cause.")
    return out
