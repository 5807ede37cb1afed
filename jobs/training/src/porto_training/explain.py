"""Insight into a trained model: feature importance, mean |SHAP| per feature, and the mutual
information between each feature and the target (a model-free view of the same question).

Each function returns a :class:`porto.contracts.insights.FeatureRanking` (values largest first):
what the bundle stores under ``insights/`` and the UI shows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from porto.contracts.insights import FeatureRanking
from porto.flavors.base import ranked
from porto.schema import FeatureKind, FeatureSchema

from porto_training.models import TrainedModel


def sample_positions(total: int, n: int, seed: int) -> np.ndarray:
    """Return at most ``n`` sorted row positions out of ``total``, drawn reproducibly (SHAP and
    mutual information cost per row; a few thousand rows give stable rankings)."""
    if total <= n:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))


def feature_importance(
    model: TrainedModel, schema: FeatureSchema, sample: pd.DataFrame
) -> FeatureRanking:
    """Return each feature's importance as the model sees it (each flavor says how: CatBoost's
    PredictionValuesChange, the baseline's spread of each feature's log-odds contribution over
    ``sample``)."""
    return model.model.feature_importance(schema, sample)


def shap_importance(
    model: TrainedModel, schema: FeatureSchema, sample: pd.DataFrame
) -> FeatureRanking:
    """Return the mean |SHAP value| per feature over ``sample`` (log-odds units): CatBoost's
    exact TreeSHAP, the baseline's exact linear SHAP."""
    return model.model.shap_importance(schema, sample)


def mutual_information(
    frame: pd.DataFrame, y: np.ndarray, schema: FeatureSchema, *, seed: int
) -> FeatureRanking:
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
    return ranked("sklearn mutual_info_classif (nats)", schema.names, mi, rows=len(frame))
