"""Optional random search: sample hyperparameter candidates, score each by stratified K-fold
ROC-AUC on the training rows, keep the best.

Only training rows take part, so the validation rows stay untouched for early stopping and the
threshold, and the test rows for the reported metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from porto.errors import ConfigError
from porto.schema import FeatureSchema
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import ParameterSampler, StratifiedKFold

from porto_training.config import Imbalance
from porto_training.models import fit_model
from porto_training.progress import Progress


@dataclass(frozen=True)
class SearchResult:
    """The winning parameters and every candidate's cross-validated score."""

    best_params: dict[str, Any]
    best_auc: float
    trials: list[dict[str, Any]]


def parse_space(space: dict[str, Any]) -> dict[str, Any]:
    """Return a ParameterSampler space from the config's: a list is a set of choices,
    ``{low, high}`` a uniform range, with ``log: true`` log-uniform, with ``int: true`` integers."""
    from scipy.stats import loguniform, randint, uniform

    out: dict[str, Any] = {}
    for name, spec in space.items():
        if isinstance(spec, list) and spec:
            out[name] = spec
        elif isinstance(spec, dict) and {"low", "high"} <= spec.keys():
            low, high = float(spec["low"]), float(spec["high"])
            if not low < high:
                raise ConfigError(f"search space {name!r}: low must be below high")
            if spec.get("int"):
                out[name] = randint(int(low), int(high) + 1)
            elif spec.get("log"):
                out[name] = loguniform(low, high)
            else:
                out[name] = uniform(low, high - low)
        else:
            raise ConfigError(
                f"search space {name!r} must be a non-empty list or {{low, high[, log, int]}}"
            )
    return out


def random_search(
    model_type: str,
    base_params: dict[str, Any],
    space: dict[str, Any],
    schema: FeatureSchema,
    x: pd.DataFrame,
    y: np.ndarray,
    *,
    folds: int,
    candidates: int,
    seed: int,
    imbalance: Imbalance,
    progress: Progress | None = None,
) -> SearchResult:
    """Return the candidate (``base_params`` updated from ``space``) with the best mean
    out-of-fold ROC-AUC over ``folds`` stratified folds of the training rows."""
    if not space:
        raise ConfigError(f"search is enabled but search.{model_type} defines no parameters")
    sampled = list(ParameterSampler(parse_space(space), candidates, random_state=seed))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    fold_rows = list(splitter.split(np.zeros(len(y)), y))
    if progress is not None:
        progress.plan(len(sampled) * folds)
    trials: list[dict[str, Any]] = []
    for i, candidate in enumerate(sampled):
        plain = {k: _plain(v) for k, v in candidate.items()}
        scores = _fold_aucs(
            model_type,
            {**base_params, **plain},
            schema,
            x,
            y,
            fold_rows,
            seed=seed,
            imbalance=imbalance,
            progress=progress,
            done_before=i * len(fold_rows),
        )
        trials.append(
            {
                "params": plain,
                "mean_auc": float(np.mean(scores)),
                "std_auc": float(np.std(scores)),
            }
        )
    best = max(trials, key=lambda t: t["mean_auc"])
    return SearchResult(
        best_params={**base_params, **best["params"]}, best_auc=best["mean_auc"], trials=trials
    )


def _fold_aucs(
    model_type: str,
    params: dict[str, Any],
    schema: FeatureSchema,
    x: pd.DataFrame,
    y: np.ndarray,
    fold_rows: list[tuple[np.ndarray, np.ndarray]],
    *,
    seed: int,
    imbalance: Imbalance,
    progress: Progress | None,
    done_before: int,
) -> list[float]:
    """Return the ROC-AUC of ``params`` on each fold's held-out rows, fitted on the others;
    ``done_before`` fits were made before, for the progress count."""
    scores: list[float] = []
    for fit_idx, score_idx in fold_rows:
        model = fit_model(
            model_type,
            params,
            schema,
            x.iloc[fit_idx],
            y[fit_idx],
            x.iloc[score_idx],
            y[score_idx],
            seed=seed,
            imbalance=imbalance,
        )
        scores.append(float(roc_auc_score(y[score_idx], model.predict_proba(x.iloc[score_idx]))))
        if progress is not None:
            progress.iteration(done_before + len(scores), {"fold_auc": scores[-1]})
    return scores


def _plain(value: Any) -> Any:
    """Return numpy scalars as Python numbers, so parameters serialise to JSON and YAML."""
    return value.item() if isinstance(value, np.generic) else value
