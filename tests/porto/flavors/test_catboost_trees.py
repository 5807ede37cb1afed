"""The small-batch tree evaluator gives CatBoost's probabilities: for real CatBoost models of
the kinds porto trains (one-hot categories with depth-1 trees, deep trees with CTRs of several
priors, Counter CTRs, missing values sent either way), on rows it never saw at compile time,
with categories met only at serving time; a model it does not implement is left to CatBoost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from porto.flavors import flavor, load_model
from porto.flavors.base import CodedRows
from porto.flavors.catboost import TREE_ROWS, CatBoostModel
from porto.flavors.catboost_trees import TreeEvaluator, compile_trees, probe_rows
from porto.schema import FeatureKind, FeatureSchema

BASE = {"iterations": 60, "verbose": False, "allow_writing_files": False, "thread_count": 2}
KINDS: dict[str, dict[str, Any]] = {
    "one-hot, depth 1 (the training default)": {"depth": 1, "one_hot_max_size": 255},
    "CTRs of several priors, depth 6": {"depth": 6, "one_hot_max_size": 4, "max_ctr_complexity": 1},
    "Counter CTRs": {
        "depth": 3,
        "one_hot_max_size": 2,
        "max_ctr_complexity": 1,
        "simple_ctr": ["Counter"],
    },
    "missing values as the largest": {"depth": 4, "nan_mode": "Max", "one_hot_max_size": 255},
}
#: What each kind's export must hold, so each case tests what its name says.
EXERCISES = {
    "one-hot, depth 1 (the training default)": {"OneHotFeature", "FloatFeature"},
    "CTRs of several priors, depth 6": {"OnlineCtr", "Borders", "Counter", "AsFalse"},
    "Counter CTRs": {"OnlineCtr", "Counter"},
    "missing values as the largest": {"AsTrue", "OneHotFeature"},
}


def _fit(params: dict[str, Any], schema: FeatureSchema, xy: tuple[pd.DataFrame, Any]) -> Any:
    from catboost import CatBoostClassifier

    x, y = xy
    model = CatBoostClassifier(**BASE, **params, cat_features=schema.categorical_indices)
    model.fit(x, y)
    return model


def _catboost(model: Any, rows: CodedRows, schema: FeatureSchema) -> np.ndarray:
    """CatBoost's probabilities for coded rows, through a frame of the same values."""
    columns: dict[str, Any] = {}
    num = cat = 0
    for spec in schema.features:
        if spec.kind is FeatureKind.CATEGORICAL:
            strings = np.array(rows.categories[cat], dtype=object)
            columns[spec.name] = strings[rows.codes[:, cat]]
            cat += 1
        else:
            columns[spec.name] = rows.numbers[:, num]
            num += 1
    return np.asarray(model.predict_proba(pd.DataFrame(columns))[:, 1])


@pytest.mark.parametrize("kind", list(KINDS))
def test_evaluator_gives_catboosts_probabilities(
    kind: str, small_schema: FeatureSchema, xy: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    model = _fit(KINDS[kind], small_schema, xy)
    model.save_model(str(tmp_path / "model.json"), format="json")
    exported = json.loads((tmp_path / "model.json").read_text())
    info = exported["features_info"]
    held = {c["ctr_type"] for c in info.get("ctrs", [])}
    held |= {f["nan_value_treatment"] for f in info["float_features"]}
    held |= {s["split_type"] for t in exported["oblivious_trees"] for s in t["splits"] or []}
    assert EXERCISES[kind] <= held
    evaluator = compile_trees(model, small_schema)
    assert isinstance(evaluator, TreeEvaluator), kind
    # Other rows than the compile-time check's, with category lists of their own that grow
    # between calls (a category first met at serving time gets its code then).
    fresh = probe_rows(small_schema, rows=300, seed=11)
    lists = [list(c) for c in fresh.categories]
    rows = CodedRows(fresh.numbers, fresh.codes, lists)
    np.testing.assert_allclose(
        evaluator.predict(rows), _catboost(model, rows, small_schema), rtol=0, atol=0
    )
    for j, strings in enumerate(lists):
        strings.append(f"met later {j}")
    codes = rows.codes.copy()
    codes[::3] = [len(s) - 1 for s in lists]
    grown = CodedRows(rows.numbers, codes, lists)
    got = np.concatenate([evaluator.predict(_take(grown, i, i + 1)) for i in range(20)])
    np.testing.assert_allclose(
        got, _catboost(model, _take(grown, 0, 20), small_schema), rtol=0, atol=0
    )
    # The training rows themselves, in single rows and small batches.
    x = xy[0].iloc[:40]
    coded = _coded(x, small_schema)
    want = np.asarray(model.predict_proba(x)[:, 1])
    for start in range(0, 40, 8):
        np.testing.assert_allclose(
            evaluator.predict(_take(coded, start, start + 8)),
            want[start : start + 8],
            rtol=0,
            atol=1e-9,
        )


def _take(rows: CodedRows, start: int, stop: int) -> CodedRows:
    return CodedRows(rows.numbers[start:stop], rows.codes[start:stop], rows.categories)


def _coded(frame: pd.DataFrame, schema: FeatureSchema) -> CodedRows:
    numbers, codes, lists = [], [], []
    for spec in schema.features:
        column = frame[spec.name]
        if spec.kind is FeatureKind.CATEGORICAL:
            strings = sorted(set(column))
            lists.append(strings)
            codes.append(column.map({s: i for i, s in enumerate(strings)}).to_numpy())
        else:
            numbers.append(column.to_numpy(dtype=np.float64))
    return CodedRows(np.column_stack(numbers), np.column_stack(codes).astype(np.int32), lists)


def test_a_model_it_does_not_implement_is_left_to_catboost(
    small_schema: FeatureSchema, xy: tuple[pd.DataFrame, np.ndarray]
) -> None:
    combos = _fit({"depth": 4, "one_hot_max_size": 2, "max_ctr_complexity": 3}, small_schema, xy)
    assert compile_trees(combos, small_schema) is None


def test_the_flavor_scores_small_batches_with_the_trees(
    small_schema: FeatureSchema, xy: tuple[pd.DataFrame, np.ndarray]
) -> None:
    """Loaded through the flavor, a model scores up to TREE_ROWS coded rows by its trees, and
    the same rows through CatBoost otherwise, with the same result."""
    x, _ = xy
    model = _fit(KINDS["one-hot, depth 1 (the training default)"], small_schema, xy)
    loaded = load_model("catboost", flavor("catboost").dump(model))
    assert isinstance(loaded, CatBoostModel) and loaded.trees is None
    loaded.check_schema(small_schema)
    assert loaded.trees is not None
    coded = _coded(x.iloc[:TREE_ROWS], small_schema)

    class Input:
        rows = TREE_ROWS
        categorical_positions = small_schema.categorical_indices

        def __init__(self, with_codes: bool) -> None:
            self.with_codes = with_codes
            self.asked: list[str] = []

        def coded(self) -> CodedRows | None:
            self.asked.append("coded")
            return coded if self.with_codes else None

        def object_rows(self) -> np.ndarray:
            self.asked.append("object_rows")
            return x.iloc[:TREE_ROWS].astype(object).to_numpy()

        def frame(self, *, categorical: bool) -> pd.DataFrame:
            raise AssertionError("a small batch is not scored through a frame")

    by_trees, by_catboost = Input(True), Input(False)
    got = loaded.predict(by_trees, threads=1)
    want = loaded.predict(by_catboost, threads=1)
    assert by_trees.asked == ["coded"] and by_catboost.asked == ["coded", "object_rows"]
    np.testing.assert_allclose(got, want, rtol=0, atol=0)
    np.testing.assert_allclose(want, model.predict_proba(x.iloc[:TREE_ROWS])[:, 1], rtol=1e-12)


@pytest.mark.parametrize(
    ("kind", "broken"),
    [
        ("one-hot, depth 1 (the training default)", "catboost_category_hash"),
        ("CTRs of several priors, depth 6", "projection_hash"),
    ],
)
def test_an_evaluator_that_disagrees_with_catboost_is_not_used(
    kind: str,
    broken: str,
    small_schema: FeatureSchema,
    xy: tuple[pd.DataFrame, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The load-time check is what makes the evaluator safe: break how it keys categories and
    the probe rows catch it."""
    from porto.flavors import catboost_trees

    model = _fit(KINDS[kind], small_schema, xy)
    assert compile_trees(model, small_schema) is not None
    monkeypatch.setattr(catboost_trees, broken, lambda value: 12345)
    assert compile_trees(model, small_schema) is None
    assert "differs from it by" in caplog.text


def test_unseen_categories_share_one_row_of_bits(
    small_schema: FeatureSchema, xy: tuple[pd.DataFrame, np.ndarray]
) -> None:
    """A vocabulary that grows by thousands of strings the model never saw (the codec keeps up
    to 100,000 per feature) costs a code each, not a row of bits each, and scores as CatBoost."""
    model = _fit(KINDS["CTRs of several priors, depth 6"], small_schema, xy)
    evaluator = compile_trees(model, small_schema)
    assert evaluator is not None
    probes = probe_rows(small_schema, rows=64, seed=4)
    lists = [list(c) for c in probes.categories]
    evaluator.predict(CodedRows(probes.numbers, probes.codes, lists))
    patterns = len(evaluator._codes.table)
    first = len(lists[0])
    lists[0].extend(f"never seen {i}" for i in range(5000))
    codes = probes.codes.copy()
    codes[:, 0] = first + np.arange(64) * 78
    rows = CodedRows(probes.numbers, codes, lists)
    np.testing.assert_array_equal(evaluator.predict(rows), _catboost(model, rows, small_schema))
    assert len(evaluator._codes.pattern) >= sum(map(len, lists)) - 16 * len(lists)
    assert len(evaluator._codes.table) <= patterns + 1


def test_a_model_that_refuses_the_probe_rows_is_left_to_catboost(
    small_schema: FeatureSchema,
    xy: tuple[pd.DataFrame, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If CatBoost cannot score the probe rows, the check cannot vouch for the trees: the
    model still loads and CatBoost scores everything."""
    from catboost import CatBoostError

    model = _fit(KINDS["one-hot, depth 1 (the training default)"], small_schema, xy)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise CatBoostError("features data: missing values are forbidden")

    monkeypatch.setattr(model, "predict", refuse)
    assert compile_trees(model, small_schema) is None
