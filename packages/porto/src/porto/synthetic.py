"""A synthetic dataset with Porto Seguro's exact column set.

SYNTHETIC DATA: nothing here comes from the real competition data. The generator reproduces the
shape of Kaggle's ``train.csv`` (column names, kinds, value ranges, cardinalities, realistic
missingness with ``-1`` as the marker, about 3.6% positives) and plants a weak, learnable signal,
so porto can run end to end with no download. Because it draws each label from a known
probability, it can also report the oracle AUC: the best any model could reach on a holdout.

Only the training job generates data with it at run time, yet it stays in the shared package:
the tests of every package draw their data from it (the inference tests build their bundles from
the shared package alone, never through the training job), so do the benchmarks and the
dashboards' fixtures, and manifests name ``porto.synthetic.generate`` as the source of every
version trained on it. It needs nothing beyond the core's numpy and pandas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: The columns of Kaggle's Porto Seguro ``train.csv``, in file order.
PORTO_COLUMNS: list[str] = [
    "id",
    "target",
    "ps_ind_01",
    "ps_ind_02_cat",
    "ps_ind_03",
    "ps_ind_04_cat",
    "ps_ind_05_cat",
    *[f"ps_ind_{i:02d}_bin" for i in range(6, 14)],
    "ps_ind_14",
    "ps_ind_15",
    *[f"ps_ind_{i:02d}_bin" for i in range(16, 19)],
    "ps_reg_01",
    "ps_reg_02",
    "ps_reg_03",
    *[f"ps_car_{i:02d}_cat" for i in range(1, 12)],
    "ps_car_11",
    "ps_car_12",
    "ps_car_13",
    "ps_car_14",
    "ps_car_15",
    *[f"ps_calc_{i:02d}" for i in range(1, 15)],
    *[f"ps_calc_{i:02d}_bin" for i in range(15, 21)],
]

DEFAULT_POSITIVE_RATE = 0.0364


@dataclass(frozen=True)
class SyntheticData:
    """A generated dataset and, for each row, the probability its label was drawn from."""

    frame: pd.DataFrame
    probability: np.ndarray


def _with_missing(rng: np.random.Generator, values: np.ndarray, rate: float) -> np.ndarray:
    out = values.astype("float64")
    out[rng.random(out.size) < rate] = -1
    return out


def _category(
    rng: np.random.Generator,
    fx: np.random.Generator,
    n: int,
    k: int,
    start: int = 0,
    skew: float = 1.0,
) -> np.ndarray:
    """Draw ``n`` categories from ``start..start+k-1`` with Zipf-like frequencies.

    Which category is common is part of the population, so the permutation comes from the
    population stream ``fx``: samples of any size from one seed share it."""
    weights = 1.0 / np.arange(1, k + 1) ** skew
    weights = fx.permutation(weights / weights.sum())
    return rng.choice(np.arange(start, start + k), size=n, p=weights)


def _effects(rng: np.random.Generator, k: int, scale: float) -> np.ndarray:
    return rng.normal(0.0, scale, size=k)


def generate(
    n_rows: int, *, seed: int = 42, positive_rate: float = DEFAULT_POSITIVE_RATE
) -> SyntheticData:
    """Return ``n_rows`` synthetic Porto-shaped rows and their true label probabilities."""
    if n_rows <= 0:
        raise ValueError("n_rows must be positive")
    rng = np.random.default_rng(seed)
    # Effect tables come from their own stream so they are the same for every n_rows.
    fx = np.random.default_rng(seed + 7919)
    n = n_rows
    risk = rng.normal(size=n)  # a latent driver shared by several features, as real ones are
    # The order of the draws below is the data: each block draws from ``rng`` after the last.
    cols: dict[str, np.ndarray] = {
        "id": 7 + np.cumsum(rng.integers(1, 4, size=n)) - 1  # unique, increasing, with gaps
    }
    cols |= _individual_columns(rng, fx, n, risk)
    cols |= _region_columns(rng, n, risk)
    cols |= _car_columns(rng, fx, n, risk)
    cols |= _calc_columns(rng, n)
    score = _risk_score(cols, fx, risk)
    intercept = _calibrate_intercept(score, positive_rate)
    probability = 1.0 / (1.0 + np.exp(-(intercept + score)))
    cols["target"] = (rng.random(n) < probability).astype(int)

    # Each column leaves ``cols`` as it is converted and the frame takes the arrays as they are
    # (copy=False: one block per column, not one 2-D copy of them all): the same frame, without a
    # second copy of the data alive at the peak.
    frame = pd.DataFrame(
        {
            name: cols.pop(name).astype(
                "float64" if name in _FLOAT_COLUMNS else "int64", copy=False
            )
            for name in PORTO_COLUMNS
        },
        copy=False,
    )
    return SyntheticData(frame=frame, probability=probability)


def _individual_columns(
    rng: np.random.Generator, fx: np.random.Generator, n: int, risk: np.ndarray
) -> dict[str, np.ndarray]:
    """Return the ``ps_ind_*`` columns: the policyholder's own features."""
    cols: dict[str, np.ndarray] = {}
    cols["ps_ind_01"] = np.clip(np.round(rng.gamma(1.3, 1.5, n) + 0.4 * risk), 0, 7)
    cols["ps_ind_02_cat"] = _with_missing(rng, _category(rng, fx, n, 4, start=1, skew=1.6), 0.0004)
    cols["ps_ind_03"] = np.clip(np.round(rng.normal(4.4, 2.7, n)), 0, 11)
    cols["ps_ind_04_cat"] = _with_missing(rng, (rng.random(n) < 0.42).astype(int), 0.0001)
    cols["ps_ind_05_cat"] = _with_missing(rng, _category(rng, fx, n, 7, skew=2.6), 0.0098)
    ind_06_09 = rng.choice(4, size=n, p=[0.39, 0.26, 0.16, 0.19])  # one-hot group, as in the data
    for j, name in enumerate(["ps_ind_06_bin", "ps_ind_07_bin", "ps_ind_08_bin", "ps_ind_09_bin"]):
        cols[name] = (ind_06_09 == j).astype(int)
    for name, p in [
        ("ps_ind_10_bin", 0.0004),
        ("ps_ind_11_bin", 0.0017),
        ("ps_ind_12_bin", 0.0094),
        ("ps_ind_13_bin", 0.0009),
    ]:
        cols[name] = (rng.random(n) < p).astype(int)
    cols["ps_ind_14"] = np.clip(
        cols["ps_ind_10_bin"]
        + cols["ps_ind_11_bin"]
        + cols["ps_ind_12_bin"]
        + cols["ps_ind_13_bin"]
        + (rng.random(n) < 0.002),
        0,
        4,
    )
    cols["ps_ind_15"] = np.clip(np.round(rng.normal(7.3, 3.5, n) - 0.5 * risk), 0, 13)
    cols["ps_ind_16_bin"] = (rng.random(n) < 0.66).astype(int)
    cols["ps_ind_17_bin"] = (
        (rng.random(n) < 0.12 + 0.03 * (risk > 1)) & (cols["ps_ind_16_bin"] == 0)
    ).astype(int)
    cols["ps_ind_18_bin"] = (
        (rng.random(n) < 0.45) & (cols["ps_ind_16_bin"] == 0) & (cols["ps_ind_17_bin"] == 0)
    ).astype(int)
    return cols


def _region_columns(rng: np.random.Generator, n: int, risk: np.ndarray) -> dict[str, np.ndarray]:
    """Return the ``ps_reg_*`` columns: the region's features."""
    cols: dict[str, np.ndarray] = {}
    cols["ps_reg_01"] = np.clip(np.round(rng.beta(3, 1.5, n) * 9) / 10, 0, 0.9)
    cols["ps_reg_02"] = (
        np.clip(np.round(rng.gamma(2.0, 0.22, n) * 10 + 2 * risk) / 10, 0, 1.8) + 0.0
    )
    reg_03 = np.clip(rng.lognormal(-0.2, 0.35, n) + 0.08 * risk, 0.061, 4.04)
    cols["ps_reg_03"] = _with_missing(rng, reg_03, 0.181)
    return cols


def _car_columns(
    rng: np.random.Generator, fx: np.random.Generator, n: int, risk: np.ndarray
) -> dict[str, np.ndarray]:
    """Return the ``ps_car_*`` columns: the car's features, mostly categorical."""
    cols: dict[str, np.ndarray] = {}
    car_cards = {
        1: (12, 0.0002),
        2: (2, 0.00001),
        3: (2, 0.691),
        4: (10, 0.0),
        5: (2, 0.448),
        6: (18, 0.0),
        7: (2, 0.019),
        8: (2, 0.0),
        9: (5, 0.001),
        10: (3, 0.0),
    }
    for i, (k, miss) in car_cards.items():
        skew = 1.2 if k > 2 else 0.6
        cols[f"ps_car_{i:02d}_cat"] = _with_missing(rng, _category(rng, fx, n, k, skew=skew), miss)
    cols["ps_car_11_cat"] = _category(rng, fx, n, 104, start=1, skew=0.9).astype("float64")
    cols["ps_car_11"] = _with_missing(rng, rng.choice(4, n, p=[0.05, 0.2, 0.3, 0.45]), 0.00001)
    car_12 = np.clip(np.round(rng.normal(0.38, 0.06, n) + 0.015 * risk, 4), 0.1, 1.26)
    cols["ps_car_12"] = _with_missing(rng, car_12, 0.000002)
    cols["ps_car_13"] = np.clip(rng.lognormal(-0.2, 0.22, n) + 0.05 * risk, 0.25, 3.72)
    cols["ps_car_14"] = _with_missing(rng, np.clip(rng.normal(0.37, 0.045, n), 0.11, 0.64), 0.072)
    cols["ps_car_15"] = np.sqrt(np.clip(np.round(rng.normal(10, 2.6, n)), 0, 14))
    return cols


def _calc_columns(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Return the ``ps_calc_*`` columns: engineered noise that carries no signal."""
    cols: dict[str, np.ndarray] = {}
    for i in range(1, 4):
        cols[f"ps_calc_{i:02d}"] = rng.integers(0, 10, n) / 10
    calc_int = {
        4: (2.4, 5),
        5: (1.9, 6),
        6: (7.6, 10),
        7: (3.0, 9),
        8: (9.2, 12),
        9: (2.3, 7),
        10: (8.4, 25),
        11: (5.4, 19),
        12: (1.4, 10),
        13: (2.9, 13),
        14: (7.5, 23),
    }
    for i, (lam, hi) in calc_int.items():
        cols[f"ps_calc_{i:02d}"] = np.clip(rng.poisson(lam, n), 0, hi)
    for i, p in zip(range(15, 21), [0.12, 0.63, 0.55, 0.29, 0.35, 0.15], strict=True):
        cols[f"ps_calc_{i:02d}_bin"] = (rng.random(n) < p).astype(int)
    return cols


def _risk_score(
    cols: dict[str, np.ndarray], fx: np.random.Generator, risk: np.ndarray
) -> np.ndarray:
    """Return each row's log-odds before the intercept that sets the positive rate."""
    # The signal: a weak mix of main effects, category effects, a threshold, an interaction and
    # missingness itself. ps_calc_* carry none, as in the real data.
    score: np.ndarray = (
        0.42 * risk
        + 0.10 * cols["ps_ind_03"] / 3
        - 0.12 * (cols["ps_ind_15"] - 7) / 3.5
        + 0.30 * cols["ps_ind_17_bin"]
        - 0.15 * cols["ps_ind_07_bin"]
        + 0.25 * (cols["ps_reg_03"] == -1)
        + 0.35 * np.log(cols["ps_car_13"])
        + 0.20 * (cols["ps_car_15"] < 2.5)
        + 0.18 * (cols["ps_reg_01"] > 0.7) * (cols["ps_ind_05_cat"] > 0)
        + 0.15 * (cols["ps_car_03_cat"] == -1)
    )
    score += _effects(fx, 8, 0.35)[cols["ps_ind_05_cat"].astype(int) + 1]
    score += _effects(fx, 105, 0.35)[cols["ps_car_11_cat"].astype(int)]
    score += _effects(fx, 13, 0.25)[cols["ps_car_01_cat"].astype(int) + 1]
    score += _effects(fx, 11, 0.20)[cols["ps_car_04_cat"].astype(int)]
    score += _effects(fx, 19, 0.15)[cols["ps_car_06_cat"].astype(int)]
    score += _effects(fx, 6, 0.20)[cols["ps_ind_02_cat"].astype(int) + 1]
    return score


_FLOAT_COLUMNS = {
    "ps_reg_01",
    "ps_reg_02",
    "ps_reg_03",
    "ps_car_12",
    "ps_car_13",
    "ps_car_14",
    "ps_car_15",
    "ps_calc_01",
    "ps_calc_02",
    "ps_calc_03",
}


def _calibrate_intercept(score: np.ndarray, rate: float) -> float:
    """Return the intercept whose mean sigmoid over ``score`` equals ``rate`` (bisection)."""
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if float(np.mean(1.0 / (1.0 + np.exp(-(mid + score))))) > rate:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2
