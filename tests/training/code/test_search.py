"""Random search: candidates from the config's space, scored by stratified K-fold AUC."""

from __future__ import annotations

import pytest
from porto.errors import ConfigError
from porto.schema import infer_schema, model_frame
from porto.synthetic import SyntheticData
from porto_training.config import Imbalance
from porto_training.search import parse_space, random_search


def test_search_tries_candidates_and_keeps_the_best(small_data: SyntheticData) -> None:
    frame = small_data.frame
    schema = infer_schema(frame, target="target", id_column="id", missing_value=-1)
    x = model_frame(frame, schema)
    y = frame["target"].to_numpy()
    result = random_search(
        "sklearn",
        {"max_iter": 200},
        {"C": {"low": 0.001, "high": 1.0, "log": True}},
        schema,
        x,
        y,
        folds=2,
        candidates=3,
        seed=0,
        imbalance=Imbalance.NONE,
    )
    assert len(result.trials) == 3
    assert result.best_auc == max(t["mean_auc"] for t in result.trials)
    assert result.best_params["max_iter"] == 200
    assert isinstance(result.best_params["C"], float)


def test_space_parsing() -> None:
    space = parse_space(
        {"a": [1, 2], "b": {"low": 1, "high": 5, "int": True}, "c": {"low": 0, "high": 1}}
    )
    assert space["a"] == [1, 2]
    assert 1 <= space["b"].rvs(random_state=0) <= 5
    with pytest.raises(ConfigError, match="'d' must be a non-empty list"):
        parse_space({"d": 3})
    with pytest.raises(ConfigError, match="low must be below high"):
        parse_space({"e": {"low": 2, "high": 1}})
