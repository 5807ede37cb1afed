"""One training run, stage by stage: load → validate → split → (search) → train → evaluate →
explain → plots → reference → compare → publish.

Each stage is a plain function in its own module; this one only wires them together, times them
and assembles the bundle. The store is checked before any work, so an unreachable store or a bad
credential fails in seconds, and the bundle's manifest is written last, so a failed run leaves no
version behind.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from porto.bundle import DatasetInfo, Manifest, new_version, write_bundle
from porto.contracts.insights import (
    IMPORTANCE_FILE,
    LEARNING_CURVE_FILE,
    MUTUAL_INFO_FILE,
    SHAP_FILE,
    FeatureRanking,
    LearningCurve,
)
from porto.contracts.run import (
    METRICS_FILE,
    ChampionDecision,
    ClassBalance,
    ClassificationMetrics,
    FeatureKindCounts,
    RunMetrics,
    SearchSummary,
    SearchTrial,
    SplitBalance,
    SplitSizes,
    ValidationMetrics,
)
from porto.flavors import MODEL_FILES, dump_model
from porto.reference import REFERENCE_FILE, compute_reference
from porto.registry import Registry
from porto.schema import FeatureKind, FeatureSchema, infer_schema, model_frame
from porto.store import ArtifactStore, S3Options, open_store
from pydantic import BaseModel
from sklearn.metrics import roc_auc_score

from porto_training.champion import compare_with_champion, decide_promotion
from porto_training.config import TrainingConfig, default_store_uri
from porto_training.data import Dataset, load_dataset
from porto_training.evaluate import choose_threshold, classification_metrics
from porto_training.explain import (
    feature_importance,
    mutual_information,
    sample_positions,
    shap_importance,
)
from porto_training.models import TrainedModel, fit_model
from porto_training.plots import make_plots
from porto_training.progress import MetricsServer, Progress, TrainingMetrics
from porto_training.result import TrainingResult, code_version
from porto_training.search import SearchResult, random_search
from porto_training.split import Split, stratified_split
from porto_training.validation import ValidationReport, validate_frame


def open_output_store(config: TrainingConfig, s3_options: S3Options | None = None) -> ArtifactStore:
    """Return the configured artifact store after checking it can be used (StoreError if not)."""
    store = open_store(config.output.store or default_store_uri(), s3_options)
    store.check()
    return store


def run_training(
    config: TrainingConfig,
    *,
    promote: bool = False,
    metrics_port: int = 0,
    metrics_addr: str = "0.0.0.0",
    live: bool | None = None,
    s3_options: S3Options | None = None,
) -> TrainingResult:
    """Run every stage of ``config`` and return the published version.

    ``promote`` makes the new version champion unconditionally; otherwise it becomes champion if
    there is none or if it beats the champion on this run's test holdout. ``metrics_port`` (0 =
    off) serves Prometheus gauges of the run's progress while it lasts.
    """
    metrics = TrainingMetrics()
    with MetricsServer(metrics, metrics_port, metrics_addr), Progress(metrics, live=live) as prog:
        return _run(config, prog, promote=promote, s3_options=s3_options)


def _run(
    config: TrainingConfig,
    prog: Progress,
    *,
    promote: bool,
    s3_options: S3Options | None,
) -> TrainingResult:
    started = time.perf_counter()
    store = open_output_store(config, s3_options)
    registry = Registry(store, config.output.name)
    data = _load(config, prog, s3_options)
    parts = _split(config, prog, data)
    search = _search(config, prog, parts) if config.search.enabled else None
    fitted = _train(config, prog, parts, search)
    scores = _evaluate(prog, fitted.model, parts, data)
    insights = _explain(config, prog, fitted.model, parts)
    with prog.stage("plots"):
        plot_files = make_plots(
            parts.y_test,
            scores.p_test,
            scores.test,
            insights.importance,
            top_features=config.insights.plot_top_features,
        )
    with prog.stage("reference"):
        reference = compute_reference(parts.x_train, parts.schema, scores.p_test)
    with prog.stage("compare"):
        comparison = compare_with_champion(
            registry, parts.raw_test, parts.y_test, scores.test.roc_auc
        )
        decision = decide_promotion(comparison, promote=promote)
        prog.note(f"champion: {decision.reason}")
    with prog.stage("publish", store.uri):
        metrics = _run_metrics(prog, data, parts, fitted, scores, decision, started)
        files: dict[str, bytes] = {
            MODEL_FILES[config.model.type]: dump_model(config.model.type, fitted.model.estimator),
            METRICS_FILE: _json(metrics),
            REFERENCE_FILE: reference.model_dump_json().encode(),
            **plot_files,
            **insights.files(),
        }
        manifest = _manifest(config, registry, data, parts.schema, scores.threshold, metrics)
        manifest = write_bundle(store, manifest, files)
        champion = registry.register(manifest, promote=decision.promoted)
    return TrainingResult(
        manifest=manifest, metrics=metrics, store_uri=store.uri, champion=champion
    )


@dataclass(frozen=True)
class _Data:
    """The loaded dataset, its validation report and its classes as 1/0."""

    dataset: Dataset
    report: ValidationReport
    y: np.ndarray


@dataclass(frozen=True)
class _Parts:
    """The split: each part's model inputs and classes, and the test rows as loaded."""

    split: Split
    schema: FeatureSchema
    x_train: pd.DataFrame
    x_val: pd.DataFrame
    x_test: pd.DataFrame
    y_train: np.ndarray
    y_val: np.ndarray
    y_test: np.ndarray
    raw_test: pd.DataFrame


@dataclass(frozen=True)
class _Fitted:
    """The trained model, the search that chose its parameters (if any) and the fit's time."""

    model: TrainedModel
    search: SearchResult | None
    training_seconds: float


@dataclass(frozen=True)
class _Scores:
    """The test rows' probabilities, the threshold chosen on validation and the metrics at it."""

    p_test: np.ndarray
    threshold: float
    test: ClassificationMetrics
    validation: ValidationMetrics
    oracle_roc_auc: float | None


def _load(config: TrainingConfig, prog: Progress, s3_options: S3Options | None) -> _Data:
    """Stages load and validate: the dataset, checked, with its target encoded as 1/0."""
    data_cfg = config.data
    with prog.stage("load", "synthetic data" if data_cfg.path is None else data_cfg.path):
        dataset = load_dataset(data_cfg, seed=config.seed, s3_options=s3_options)
    with prog.stage("validate"):
        report = validate_frame(dataset.frame, data_cfg, dataset.source)
    # Classes 1/0 from the target's own labels (Yes/No, true/false, 0/1, ...), for every stage.
    y = report.labels.encode(dataset.frame[data_cfg.target])
    return _Data(dataset=dataset, report=report, y=y)


def _split(config: TrainingConfig, prog: Progress, data: _Data) -> _Parts:
    """Stage split: stratified parts, and the feature schema inferred from the training rows."""
    data_cfg = config.data
    frame, y = data.dataset.frame, data.y
    with prog.stage("split"):
        split = stratified_split(
            y,
            validation_fraction=config.split.validation_fraction,
            test_fraction=config.split.test_fraction,
            seed=config.seed,
        )
        schema = infer_schema(
            frame.iloc[split.train],
            target=data_cfg.target,
            id_column=data_cfg.id_column,
            missing_value=data_cfg.missing_value,
            rules=data_cfg.columns,
        )
        # Categories as pandas categoricals: sliced and scored without per-row string objects.
        x = model_frame(frame, schema, categorical=True)
        return _Parts(
            split=split,
            schema=schema,
            x_train=x.iloc[split.train],
            x_val=x.iloc[split.validation],
            x_test=x.iloc[split.test],
            y_train=y[split.train],
            y_val=y[split.validation],
            y_test=y[split.test],
            raw_test=frame.iloc[split.test],
        )


def _search(config: TrainingConfig, prog: Progress, parts: _Parts) -> SearchResult:
    """Stage search: the parameters with the best cross-validated AUC on the training rows."""
    model_type = config.model.type
    with prog.stage("search", f"{config.search.iterations} candidates"):
        search = random_search(
            model_type,
            config.model.params(),
            config.search.space(model_type),
            parts.schema,
            parts.x_train,
            parts.y_train,
            folds=config.search.folds,
            candidates=config.search.iterations,
            seed=config.seed,
            imbalance=config.model.imbalance,
            progress=prog,
        )
        prog.note(f"search: best mean CV AUC {search.best_auc:.4f} with {search.best_params}")
    return search


def _train(
    config: TrainingConfig, prog: Progress, parts: _Parts, search: SearchResult | None
) -> _Fitted:
    """Stage train: fit on the training rows, with the validation rows for early stopping."""
    model_type = config.model.type
    params = search.best_params if search is not None else config.model.params()
    with prog.stage("train", model_type):
        fit_started = time.perf_counter()
        model = fit_model(
            model_type,
            params,
            parts.schema,
            parts.x_train,
            parts.y_train,
            parts.x_val,
            parts.y_val,
            seed=config.seed,
            imbalance=config.model.imbalance,
            progress=prog,
        )
        training_seconds = time.perf_counter() - fit_started
    return _Fitted(model=model, search=search, training_seconds=training_seconds)


def _evaluate(prog: Progress, model: TrainedModel, parts: _Parts, data: _Data) -> _Scores:
    """Stage evaluate: the threshold of max F1 on validation, and both parts' metrics at it."""
    with prog.stage("evaluate"):
        p_val = model.predict_proba(parts.x_val)
        p_test = model.predict_proba(parts.x_test)
        threshold = choose_threshold(parts.y_val, p_val)
        probability = data.dataset.probability
        return _Scores(
            p_test=p_test,
            threshold=threshold,
            test=classification_metrics(parts.y_test, p_test, threshold),
            validation=ValidationMetrics.of(classification_metrics(parts.y_val, p_val, threshold)),
            # Synthetic data knows each row's true probability: the best AUC any model could get.
            oracle_roc_auc=(
                float(roc_auc_score(parts.y_test, probability[parts.split.test]))
                if probability is not None
                else None
            ),
        )


@dataclass(frozen=True)
class Insights:
    """What the run learned about its features (the bundle's ``insights/``)."""

    importance: FeatureRanking
    shap: FeatureRanking
    mutual_info: FeatureRanking
    learning_curve: LearningCurve | None

    def files(self) -> dict[str, bytes]:
        """Return the bundle files of the insights."""
        held: dict[str, BaseModel] = {
            IMPORTANCE_FILE: self.importance,
            SHAP_FILE: self.shap,
            MUTUAL_INFO_FILE: self.mutual_info,
        }
        if self.learning_curve is not None:
            held[LEARNING_CURVE_FILE] = self.learning_curve
        return {rel: _json(insight) for rel, insight in held.items()}


def _explain(
    config: TrainingConfig, prog: Progress, model: TrainedModel, parts: _Parts
) -> Insights:
    """Stage explain: the model's feature importance and mean |SHAP| on a sample of test rows,
    the mutual information of a sample of training rows with their labels, and the learning
    curve if the model has one."""
    insights = config.insights
    with prog.stage("explain"):
        shap_rows = sample_positions(len(parts.x_test), insights.shap_rows, config.seed)
        mi_rows = sample_positions(len(parts.x_train), insights.mutual_info_rows, config.seed)
        shap_sample = parts.x_test.iloc[shap_rows]
        mi_sample, mi_labels = parts.x_train.iloc[mi_rows], parts.y_train[mi_rows]
        return Insights(
            importance=feature_importance(model, parts.schema, shap_sample),
            shap=shap_importance(model, parts.schema, shap_sample),
            mutual_info=mutual_information(mi_sample, mi_labels, parts.schema, seed=config.seed),
            learning_curve=(
                LearningCurve(metric="Logloss", values=model.history) if model.history else None
            ),
        )


def _run_metrics(
    prog: Progress,
    data: _Data,
    parts: _Parts,
    fitted: _Fitted,
    scores: _Scores,
    decision: ChampionDecision,
    started: float,
) -> RunMetrics:
    """Return the run's ``metrics.json``: the test holdout's metrics are the top level."""
    return RunMetrics(
        **dict(scores.test),
        validation=scores.validation,
        class_balance=_class_balance(data.y, parts.split, data.report),
        split=SplitSizes(**parts.split.sizes()),
        features=len(parts.schema.features),
        features_by_kind=_features_by_kind(parts.schema),
        iterations=fitted.model.iterations,
        model_params=fitted.model.params,
        oracle_roc_auc=scores.oracle_roc_auc,
        training_seconds=fitted.training_seconds,
        search=_search_summary(fitted.search),
        champion_comparison=decision,
        stage_seconds=dict(prog.timings),
        total_seconds=time.perf_counter() - started,
    )


def _manifest(
    config: TrainingConfig,
    registry: Registry,
    data: _Data,
    schema: FeatureSchema,
    threshold: float,
    metrics: RunMetrics,
) -> Manifest:
    """Return the new version's manifest (written last: no manifest, no version)."""
    dataset, report = data.dataset, data.report
    return Manifest(
        name=registry.name,
        version=new_version(),
        created_at=datetime.now(UTC),
        code_version=code_version(),
        model_type=config.model.type,
        model_file=MODEL_FILES[config.model.type],
        threshold=threshold,
        feature_schema=schema,
        dataset=DatasetInfo(
            source=dataset.source,
            fingerprint=dataset.fingerprint,
            rows=report.rows,
            columns=report.columns,
            positives=report.positives,
            synthetic=dataset.synthetic,
        ),
        labels=report.labels,
        # Exactly the run's config (it loads back with build_config); the parameters the
        # model was fitted with, after any search, are in metrics.model_params.
        config=config.model_dump(mode="json"),
        metrics=metrics.model_dump(mode="json"),
    )


def _class_balance(y_all: np.ndarray, split: Split, report: ValidationReport) -> SplitBalance:
    """Return the class balance of the whole dataset and of each part of the split."""
    parts = {
        part: ClassBalance.of(len(rows), int(y_all[rows].sum()))
        for part, rows in split.parts().items()
    }
    return SplitBalance(all=ClassBalance.of(report.rows, report.positives), **parts)


def _features_by_kind(schema: FeatureSchema) -> FeatureKindCounts:
    kinds = [f.kind for f in schema.features]
    return FeatureKindCounts(**{kind.value: kinds.count(kind) for kind in FeatureKind})


def _search_summary(search: SearchResult | None) -> SearchSummary | None:
    if search is None:
        return None
    trials = [SearchTrial.model_validate(t) for t in search.trials]
    return SearchSummary(best_mean_cv_auc=search.best_auc, trials=trials)


def _json(data: BaseModel) -> bytes:
    """The JSON of a bundle file, indented as the run's files have always been written."""
    return json.dumps(data.model_dump(mode="json"), indent=2).encode()
