"""The stratified holdout: disjoint, complete, stratified, reproducible."""

from __future__ import annotations

import numpy as np
import pytest
from porto.errors import DataError
from porto_training.split import stratified_split


def test_split_is_disjoint_complete_and_stratified() -> None:
    y = (np.random.default_rng(1).random(20_000) < 0.04).astype(int)
    s = stratified_split(y, validation_fraction=0.15, test_fraction=0.15, seed=3)
    allrows = np.concatenate([s.train, s.validation, s.test])
    assert len(allrows) == len(y) == len(np.unique(allrows))
    assert s.sizes() == {"train": 14_000, "validation": 3_000, "test": 3_000}
    for part in (s.train, s.validation, s.test):
        assert y[part].mean() == pytest.approx(y.mean(), abs=0.002)


def test_split_is_reproducible_from_the_seed() -> None:
    y = (np.random.default_rng(1).random(2_000) < 0.1).astype(int)
    a = stratified_split(y, validation_fraction=0.2, test_fraction=0.2, seed=3)
    b = stratified_split(y, validation_fraction=0.2, test_fraction=0.2, seed=3)
    c = stratified_split(y, validation_fraction=0.2, test_fraction=0.2, seed=4)
    assert np.array_equal(a.test, b.test)
    assert not np.array_equal(a.test, c.test)


def test_too_few_positives_is_a_data_error() -> None:
    y = np.zeros(1000, dtype=int)
    y[:5] = 1
    with pytest.raises(DataError, match="too few rows of each class"):
        stratified_split(y, validation_fraction=0.15, test_fraction=0.15, seed=0)
