"""Reference statistics for drift monitoring, and the population stability index (PSI).

Training bins each feature on its training data (numeric: quantile bins; categorical: the most
frequent categories plus "other"; both with a separate "missing" bin) and records the holdout
score distribution. Inference bins live traffic with the very same edges and compares.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from porto.schema import FeatureKind, FeatureSchema

REFERENCE_FILE = "reference.json"
SCORE_BINS = 20
PSI_EPSILON = 1e-4


class FeatureReference(BaseModel):
    """The training distribution of one feature over fixed bins.

    Bins are, in order: the numeric intervals (``edges``) or the ``categories``, then "other"
    (categorical only), then "missing". ``fractions`` has one entry per bin and sums to 1.
    """

    name: str
    kind: FeatureKind
    edges: list[float] | None = None
    categories: list[str] | None = None
    fractions: list[float]

    @property
    def labels(self) -> list[str]:
        """A readable label per bin."""
        if self.edges is not None:
            inner = [
                f"[{a:.4g}, {b:.4g})" for a, b in zip(self.edges, self.edges[1:], strict=False)
            ]
            return ["< " + f"{self.edges[0]:.4g}", *inner, f">= {self.edges[-1]:.4g}", "missing"]
        return [*(self.categories or []), "other", "missing"]


class ScoreReference(BaseModel):
    """The holdout score distribution over ``SCORE_BINS`` equal-width bins on [0, 1]."""

    edges: list[float]
    fractions: list[float]
    mean: float


class ReferenceStats(BaseModel):
    """Reference statistics of a model version, stored in the bundle as ``reference.json``."""

    rows: int
    features: list[FeatureReference]
    score: ScoreReference
    top_categories: int = Field(description="How many categories each categorical feature keeps.")

    def feature(self, name: str) -> FeatureReference:
        """Return the reference of feature ``name``."""
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)


def _numeric_edges(values: np.ndarray, n_bins: int) -> list[float]:
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return [0.0]
    distinct = np.unique(finite)
    if distinct.size <= n_bins:
        # Quantiles of a binary or low-cardinality column collapse (a 4%-ones flag gets the
        # single edge 0.0, so 0 and 1 share a bin and no shift is visible): bin by value instead.
        return [float(v) for v in distinct]
    qs = np.quantile(finite, np.linspace(0, 1, n_bins + 1)[1:-1])
    edges = np.unique(np.concatenate([[finite.min()], qs]))
    return [float(e) for e in edges]


def numeric_bin_index(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Return each value's bin: 0 below the first edge, i for [edge[i-1], edge[i]), len(edges)
    for >= the last edge, and len(edges) + 1 for missing (NaN)."""
    idx = np.searchsorted(np.asarray(edges), values, side="right")
    idx[np.isnan(values)] = len(edges) + 1
    return idx


def categorical_bin_index(
    values: np.ndarray, categories: list[str], missing: set[str]
) -> np.ndarray:
    """Return each canonical category string's bin: its position in ``categories``,
    len(categories) for "other" and len(categories) + 1 for missing."""
    lookup = {c: i for i, c in enumerate(categories)}
    other = len(categories)
    miss = other + 1
    # Each distinct value is looked up once (a column holds few distinct categories).
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=False)
    per_value = np.fromiter(
        (miss if v in missing else lookup.get(v, other) for v in uniques),
        dtype="int64",
        count=len(uniques),
    )
    return per_value[codes]


def missing_categories(schema: FeatureSchema) -> set[str]:
    """The canonical category strings that mean "missing" under ``schema``."""
    out = {"nan", "None", ""}
    if schema.missing_value is not None:
        mv = schema.missing_value
        out.add(str(int(mv)) if float(mv).is_integer() else repr(float(mv)))
    return out


def bin_counts(ref: FeatureReference, values: np.ndarray, missing: set[str]) -> np.ndarray:
    """Return the counts of ``values`` (model-ready: float with NaN, or canonical strings)
    in the bins of ``ref``."""
    if ref.edges is not None:
        idx = numeric_bin_index(np.asarray(values, dtype="float64"), ref.edges)
    else:
        idx = categorical_bin_index(np.asarray(values, dtype=object), ref.categories or [], missing)
    return np.bincount(idx, minlength=len(ref.fractions))[: len(ref.fractions)]


def compute_reference(
    frame: pd.DataFrame,
    schema: FeatureSchema,
    scores: np.ndarray,
    *,
    n_bins: int = 10,
    top_categories: int = 20,
) -> ReferenceStats:
    """Return the reference statistics of model-ready ``frame`` and holdout ``scores``."""
    missing = missing_categories(schema)
    refs: list[FeatureReference] = []
    for spec in schema.features:
        col = frame[spec.name].to_numpy()
        if spec.kind is FeatureKind.CATEGORICAL:
            present = pd.Series(col)[~pd.Series(col).isin(missing)]
            cats = [str(c) for c in present.value_counts().index[:top_categories]]
            ref = FeatureReference(
                name=spec.name, kind=spec.kind, categories=cats, fractions=[0.0] * (len(cats) + 2)
            )
        else:
            edges = _numeric_edges(col.astype("float64"), n_bins)
            ref = FeatureReference(
                name=spec.name, kind=spec.kind, edges=edges, fractions=[0.0] * (len(edges) + 2)
            )
        counts = bin_counts(ref, col, missing)
        ref.fractions = [float(c) for c in counts / max(1, counts.sum())]
        refs.append(ref)
    score_edges = np.linspace(0.0, 1.0, SCORE_BINS + 1)
    hist, _ = np.histogram(np.clip(scores, 0, 1), bins=score_edges)
    score = ScoreReference(
        edges=[float(e) for e in score_edges],
        fractions=[float(h) for h in hist / max(1, hist.sum())],
        mean=float(np.mean(scores)) if len(scores) else 0.0,
    )
    return ReferenceStats(
        rows=len(frame), features=refs, score=score, top_categories=top_categories
    )


def psi(expected: list[float] | np.ndarray, actual_counts: np.ndarray) -> float:
    """Return the population stability index of ``actual_counts`` against ``expected`` fractions.

    Empty bins are floored at a small epsilon so a bin that is empty on one side gives a large
    but finite contribution. Conventional reading: < 0.1 stable, 0.1-0.25 moderate, > 0.25 major.
    """
    exp = np.clip(np.asarray(expected, dtype="float64"), PSI_EPSILON, None)
    total = float(np.sum(actual_counts))
    if total <= 0:
        return 0.0
    act = np.clip(np.asarray(actual_counts, dtype="float64") / total, PSI_EPSILON, None)
    return float(np.sum((act - exp) * np.log(act / exp)))
