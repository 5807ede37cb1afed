"""Every registered flavor keeps the protocol's promises: a tiny model fitted through it survives
dump → load with identical predictions, its fast input path scores as ``predict_proba`` does, it
accepts its own schema and explains itself per feature; the registry refuses unknown names."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
from porto.errors import IntegrityError
from porto.flavors import FLAVOR_NAMES, MODEL_FILES, flavor, load_model
from porto.flavors.base import SMALL_BATCH, Fitted
from porto.schema import FeatureKind, FeatureSchema

#: Small models: each flavor's section of the training config, sized for a test.
TINY_PARAMS = {"catboost": {"iterations": 30, "depth": 3, "thread_count": 2}, "sklearn": {}}


@dataclass
class FrameInput:
    """A :class:`porto.flavors.base.ModelInput` over a model-ready frame."""

    data: pd.DataFrame
    schema: FeatureSchema

    @property
    def rows(self) -> int:
        return len(self.data)

    @property
    def categorical_positions(self) -> list[int]:
        return self.schema.categorical_indices

    def object_rows(self) -> np.ndarray:
        return self.data.astype(object).to_numpy()

    def coded(self) -> None:
        return None

    def frame(self, *, categorical: bool) -> pd.DataFrame:
        if not categorical:
            return self.data
        cats = [f.name for f in self.schema.features if f.kind is FeatureKind.CATEGORICAL]
        return self.data.astype({name: "category" for name in cats})


@dataclass
class Recorder:
    """A fit observer that records what it hears and can ask the fit to stop."""

    stop: bool = False
    planned: list[int] = field(default_factory=list)
    done: list[int] = field(default_factory=list)

    def plan(self, iterations: int) -> None:
        self.planned.append(iterations)

    def iteration(self, done: int, losses: dict[str, float] | None = None) -> None:
        self.done.append(done)

    def stop_requested(self) -> bool:
        return self.stop


def _fit(
    name: str,
    schema: FeatureSchema,
    xy: tuple[pd.DataFrame, np.ndarray],
    observer: Recorder | None = None,
) -> Fitted:
    x, y = xy
    return flavor(name).fit(
        TINY_PARAMS[name],
        schema,
        (x.iloc[:1000], y[:1000]),
        (x.iloc[1000:], y[1000:]),
        seed=0,
        pos_weight=2.0,
        observer=observer,
    )


def test_every_flavor_has_tiny_params() -> None:
    assert set(TINY_PARAMS) == set(FLAVOR_NAMES)


@pytest.mark.parametrize("name", FLAVOR_NAMES)
def test_round_trip_through_the_protocol(
    name: str, small_schema: FeatureSchema, xy: tuple[pd.DataFrame, np.ndarray]
) -> None:
    x, _ = xy
    observer = Recorder()
    fitted = _fit(name, small_schema, xy, observer)
    assert fitted.model.model_type == name
    assert fitted.iterations >= 1 and observer.done

    data = flavor(name).dump(fitted.model.estimator)
    loaded = load_model(name, data)
    assert loaded.model_type == name
    loaded.check_schema(small_schema)
    expected = fitted.model.predict_proba(x)
    assert expected.dtype == np.float64 and expected.shape == (len(x),)
    np.testing.assert_allclose(loaded.predict_proba(x), expected, rtol=1e-12)
    for rows in (1, SMALL_BATCH, SMALL_BATCH + 1, len(x)):
        got = loaded.predict(FrameInput(x.iloc[:rows], small_schema), threads=1)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, expected[:rows], rtol=1e-12)

    sample = x.iloc[:200]
    for insight in (
        loaded.feature_importance(small_schema, sample),
        loaded.shap_importance(small_schema, sample),
    ):
        assert isinstance(insight.method, str)
        assert set(insight.values) == set(small_schema.names)
        values = list(insight.values.values())
        assert values == sorted(values, reverse=True)


@pytest.mark.parametrize("name", FLAVOR_NAMES)
def test_explanations_add_up_to_the_raw_score(
    name: str, small_schema: FeatureSchema, xy: tuple[pd.DataFrame, np.ndarray]
) -> None:
    """base + contributions = the model's raw score (log-odds) to 1e-6, per row, through both
    input paths; the flavor's own raw score is the reference, not a logit of a rounded
    probability."""
    x, _ = xy
    loaded = load_model(name, flavor(name).dump(_fit(name, small_schema, xy).model.estimator))
    sample = x.iloc[:60]
    raw = _raw_scores(name, loaded.estimator, sample)
    for rows in (1, SMALL_BATCH + 1, len(sample)):
        explained = loaded.explain(FrameInput(sample.iloc[:rows], small_schema), threads=1)
        assert explained.values.shape == (rows, len(small_schema.names))
        assert explained.base.shape == (rows,)
        np.testing.assert_allclose(explained.raw_scores, raw[:rows], rtol=0, atol=1e-6)
        proba = loaded.predict_proba(sample.iloc[:rows])
        np.testing.assert_allclose(1 / (1 + np.exp(-explained.raw_scores)), proba, atol=1e-9)
    # Not a constant: features the model uses move the score.
    assert np.abs(explained.values).sum(axis=0).max() > 0


def _raw_scores(name: str, estimator: object, frame: pd.DataFrame) -> np.ndarray:
    if name == "catboost":
        from catboost import Pool

        cats = [c for c in frame.columns if str(frame[c].dtype) in ("object", "category")]
        pool = Pool(frame, cat_features=cats)
        return np.asarray(estimator.predict(pool, prediction_type="RawFormulaVal"))  # type: ignore[attr-defined]
    return np.asarray(estimator.decision_function(frame))  # type: ignore[attr-defined]


def test_model_files_are_distinct() -> None:
    assert set(MODEL_FILES) == set(FLAVOR_NAMES)
    assert len(set(MODEL_FILES.values())) == len(FLAVOR_NAMES)
    assert all(MODEL_FILES[name] == flavor(name).model_file for name in FLAVOR_NAMES)


def test_catboost_stops_when_the_observer_asks(
    small_schema: FeatureSchema, xy: tuple[pd.DataFrame, np.ndarray]
) -> None:
    observer = Recorder(stop=True)
    fitted = _fit("catboost", small_schema, xy, observer)
    assert observer.planned == [30]
    assert fitted.iterations < 30 and set(fitted.history) == {"learn", "validation"}


def test_catboost_refuses_a_schema_it_was_not_trained_on(
    small_schema: FeatureSchema, xy: tuple[pd.DataFrame, np.ndarray]
) -> None:
    model = _fit("catboost", small_schema, xy).model
    reordered = small_schema.model_copy(update={"features": list(reversed(small_schema.features))})
    with pytest.raises(IntegrityError, match="trained on other features"):
        model.check_schema(reordered)


def test_unknown_flavor_names_the_known_ones() -> None:
    with pytest.raises(
        ValueError, match=r"unknown model type 'xgboost' \(known: catboost, sklearn\)"
    ):
        flavor("xgboost")
