"""Insight into a trained model: feature importance, mean |SHAP| per feature, and the mutual
information between each feature and the target (a model-free view of the same question).

Each function returns ``{"method": ..., "values": {feature: value}}`` sorted by value, the JSON the
bundle stores under ``insights/`` and the UI shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from porto.model_format import CATBOOST
from porto.schema import FeatureKind, FeatureSchema

from porto_training.models import TrainedModel


def _ranked(method: str, names: list[str], values: np.ndarray, **extra: Any) -> dict[str, Any]:
    pairs = sorted(zip(names, (float(v) for v in values), strict=True), key=lambda kv: -kv[1])
    return {"method": method, **extra, "values": dict(pairs)}


def sample_positions(total: int, n: int, seed: int) -> np.ndarray:
    """Return at most ``n`` sorted row positions out of ``total``, drawn reproducibly (SHAP and
    mutual information cost per row; a few thousand rows give stable rankings)."""
    if total <= n:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))


def feature_importance(
    model: TrainedModel, schema: FeatureSchema, sample: pd.DataFrame
) -> dict[str, Any]:
    """Return each feature's importance as the model sees it.

    CatBoost: PredictionValuesChange (how much the prediction moves when the feature's split
    values change, normalised to sum to 100). Baseline: the standard deviation over ``sample`` of
    the feature's log-odds contribution Σ coef·x over its encoded columns — |coef × std| for a
    single column, and for a one-hot encoded category not inflated by its number of columns.
    """
    if model.model_type == CATBOOST:
        values = np.asarray(model.estimator.get_feature_importance(), dtype="float64")
        return _ranked("catboost PredictionValuesChange", schema.names, values)
    prepared, coef = _linear_parts(model, sample)
    per_row = _group_columns(model, schema, coef * prepared)
    return _ranked(
        "std of the feature's log-odds contribution (|coef x std| per column)",
        schema.names,
        per_row.std(axis=0),
    )


def shap_importance(
    model: TrainedModel, schema: FeatureSchema, sample: pd.DataFrame
) -> dict[str, Any]:
    """Return the mean |SHAP value| per feature over ``sample`` (log-odds units).

    CatBoost: its native exact TreeSHAP (``ShapValues``). Baseline: the exact SHAP values of a
    linear model with independent features, coef × (x − mean(x)) per encoded column, summed per
    feature; the mean is taken over the same sample.
    """
    if model.model_type == CATBOOST:
        from catboost import Pool

        cats = [f.name for f in schema.features if f.kind is FeatureKind.CATEGORICAL]
        pool = Pool(sample, cat_features=cats or None)
        shap = np.asarray(model.estimator.get_feature_importance(pool, type="ShapValues"))
        values = np.abs(shap[:, :-1]).mean(axis=0)  # the last column is the expected value
        return _ranked("catboost ShapValues, mean |SHAP|", schema.names, values, rows=len(sample))
    prepared, coef = _linear_parts(model, sample)
    contributions = coef * (prepared - prepared.mean(axis=0))
    per_row = _group_columns(model, schema, contributions)
    values = np.abs(per_row).mean(axis=0)
    return _ranked(
        "linear SHAP coef x (x - mean), mean |SHAP|", schema.names, values, rows=len(sample)
    )


def mutual_information(
    frame: pd.DataFrame, y: np.ndarray, schema: FeatureSchema, *, seed: int
) -> dict[str, Any]:
    """Return sklearn's ``mutual_info_classif`` (nats) of each feature with the target.

    Categorical and binary features are scored as discrete (categories as integer codes, missing
    as its own code); numeric ones by the k-NN estimator, with missing values set below the
    smallest seen value so that "missing" stays distinguishable.
    """
    from sklearn.feature_selection import mutual_info_classif

    columns = []
    discrete = []
    for spec in schema.features:
        col = frame[spec.name]
        if spec.kind is FeatureKind.CATEGORICAL:
            columns.append(pd.factorize(col)[0].astype("float64"))
            discrete.append(True)
        else:
            arr = col.to_numpy(dtype="float64", copy=True)
            nan = np.isnan(arr)
            fill = (np.nanmin(arr) - 1.0) if (~nan).any() else 0.0
            arr[nan] = fill
            columns.append(arr)
            discrete.append(spec.kind is FeatureKind.BINARY)
    matrix = np.column_stack(columns)
    mi = mutual_info_classif(
        matrix, np.asarray(y), discrete_features=np.asarray(discrete), random_state=seed
    )
    return _ranked("sklearn mutual_info_classif (nats)", schema.names, mi, rows=len(frame))


def _linear_parts(model: TrainedModel, sample: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return (the baseline's encoded columns for ``sample``, its coefficients)."""
    pipeline = model.estimator
    coef = np.asarray(pipeline.named_steps["model"].coef_[0], dtype="float64")
    encoded = np.asarray(pipeline.named_steps["prepare"].transform(sample), dtype="float64")
    return encoded, coef


def _output_owner(model: TrainedModel, schema: FeatureSchema) -> list[int]:
    """Return, for each encoded column of the baseline, the position of the feature it encodes."""
    prepare = model.estimator.named_steps["prepare"]
    position = {name: i for i, name in enumerate(schema.names)}
    owners: list[int] = []
    for name, transformer, cols in prepare.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        for out in transformer.get_feature_names_out(cols):
            # The longest input name that the output name is built from (ps_car_11_cat_5 belongs
            # to ps_car_11_cat, not ps_car_11): encoders name outputs col, col_<category> and
            # missingindicator_col.
            stem = str(out).removeprefix("missingindicator_")
            matches = [c for c in cols if stem == c or stem.startswith(f"{c}_")]
            owners.append(position[max(matches, key=len)])
    return owners


def _group_columns(model: TrainedModel, schema: FeatureSchema, matrix: np.ndarray) -> np.ndarray:
    owners = np.asarray(_output_owner(model, schema))
    out = np.zeros((matrix.shape[0], len(schema.names)))
    for j, owner in enumerate(owners):
        out[:, owner] += matrix[:, j]
    return out
