"""Fixtures for the training job's tests: small synthetic data, data files in every format, and a
fast config (few rows, few iterations) so an end-to-end run takes seconds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from porto.synthetic import SyntheticData, generate
from porto_training.config import TrainingConfig, load_config

#: Overrides that keep an end-to-end run to a couple of seconds.
FAST = [
    "model.catboost.iterations=60",
    "model.catboost.early_stopping_rounds=20",
    "insights.shap_rows=300",
    "insights.mutual_info_rows=1500",
]


@pytest.fixture(scope="session")
def small_data() -> SyntheticData:
    """4,000 synthetic rows (about 150 positives)."""
    return generate(4_000, seed=5)


@pytest.fixture
def small_frame(small_data: SyntheticData) -> pd.DataFrame:
    """A private copy of ``small_data``'s frame that a test may modify."""
    return small_data.frame.copy()


@pytest.fixture
def csv_path(tmp_path: Path, small_data: SyntheticData) -> Path:
    """``small_data`` as a CSV file."""
    path = tmp_path / "train.csv"
    small_data.frame.to_csv(path, index=False)
    return path


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """An empty local artifact store directory."""
    return tmp_path / "artifacts"


@pytest.fixture
def make_config(store_dir: Path) -> Callable[..., TrainingConfig]:
    """Build a fast config writing to ``store_dir``; extra ``key=value`` overrides win."""

    def make(*overrides: str, rows: int = 4_000, **updates: object) -> TrainingConfig:
        base = {"output.store": str(store_dir), "data.synthetic.rows": rows}
        return load_config(None, [*FAST, *overrides], {**base, **updates})

    return make
