"""Reference statistics and PSI: binning must put every value (including missing and unseen
ones) in the bin inference will use, and PSI must tell a stable feature from a drifted one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from porto.reference import (
    SCORE_BINS,
    FeatureReference,
    ReferenceStats,
    bin_counts,
    categorical_bin_index,
    compute_reference,
    missing_categories,
    numeric_bin_index,
    psi,
)
from porto.schema import FeatureKind, FeatureSchema, FeatureSpec, infer_schema, model_frame
from porto.synthetic import generate


@pytest.fixture(scope="module")
def schema() -> FeatureSchema:
    return infer_schema(
        generate(2_000, seed=1).frame, target="target", id_column="id", missing_value=-1
    )


@pytest.fixture(scope="module")
def population(schema: FeatureSchema) -> pd.DataFrame:
    """25,000 rows of one synthetic population: 20,000 for training, 5,000 as live traffic."""
    return model_frame(generate(25_000, seed=1).frame, schema)


@pytest.fixture(scope="module")
def training(population: pd.DataFrame) -> pd.DataFrame:
    return population.iloc[:20_000]


@pytest.fixture(scope="module")
def reference(training: pd.DataFrame, schema: FeatureSchema) -> ReferenceStats:
    scores = np.random.default_rng(0).beta(1, 20, len(training))
    return compute_reference(training, schema, scores)


def _psi(ref: ReferenceStats, schema: FeatureSchema, frame: pd.DataFrame, name: str) -> float:
    feature = ref.feature(name)
    counts = bin_counts(feature, frame[name].to_numpy(), missing_categories(schema))
    return psi(feature.fractions, counts)


def test_every_feature_has_normalised_fractions_and_labels(
    reference: ReferenceStats, schema: FeatureSchema
) -> None:
    assert [f.name for f in reference.features] == schema.names
    for feature in reference.features:
        assert sum(feature.fractions) == pytest.approx(1.0), feature.name
        assert len(feature.labels) == len(feature.fractions), feature.name
        assert feature.labels[-1] == "missing"
    assert reference.rows == 20_000


def test_numeric_bins_are_quantiles_with_a_missing_bin(
    reference: ReferenceStats, training: pd.DataFrame
) -> None:
    reg03 = reference.feature("ps_reg_03")
    assert reg03.kind is FeatureKind.NUMERIC and reg03.categories is None
    assert reg03.edges is not None and reg03.edges == sorted(reg03.edges)
    assert len(reg03.fractions) == len(reg03.edges) + 2
    assert reg03.fractions[0] == 0.0  # nothing in training lies below the training minimum
    assert reg03.fractions[-1] == pytest.approx(training["ps_reg_03"].isna().mean())
    present = np.array(reg03.fractions[1:-1]) / (1 - reg03.fractions[-1])
    assert present == pytest.approx(np.full(10, 0.1), abs=0.01)  # deciles of a continuous column


def test_categorical_bins_keep_top_categories_then_other_then_missing(
    training: pd.DataFrame, schema: FeatureSchema
) -> None:
    ref = compute_reference(training, schema, np.zeros(len(training)), top_categories=5)
    car11 = ref.feature("ps_car_11_cat")
    expected_top = training["ps_car_11_cat"].value_counts().index[:5].tolist()
    assert car11.categories == expected_top
    assert car11.labels == [*expected_top, "other", "missing"]
    top_share = training["ps_car_11_cat"].isin(expected_top).mean()
    assert car11.fractions[5] == pytest.approx(1 - top_share)  # "other"
    car03 = ref.feature("ps_car_03_cat")
    assert "-1" not in (car03.categories or [])
    assert car03.fractions[-1] == pytest.approx((training["ps_car_03_cat"] == "-1").mean())


def test_numeric_bin_index_edges() -> None:
    edges = [0.0, 1.0, 2.0]
    values = np.array([-5.0, 0.0, 0.5, 1.0, 1.99, 2.0, 7.0, np.nan])
    assert numeric_bin_index(values, edges).tolist() == [0, 1, 1, 2, 2, 3, 3, 4]


def test_categorical_bin_index() -> None:
    values = np.array(["a", "b", "zzz", "-1", "nan", "a"], dtype=object)
    idx = categorical_bin_index(values, ["a", "b"], missing={"-1", "nan"})
    assert idx.tolist() == [0, 1, 2, 3, 3, 0]
    # Values that are not canonical strings are "other", as the string lookup finds nothing.
    odd = np.array(["b", None, np.nan, "-1", "b"], dtype=object)
    assert categorical_bin_index(odd, ["a", "b"], {"-1", "nan"}).tolist() == [1, 2, 2, 3, 1]


def test_missing_categories_follow_the_schema_marker() -> None:
    def schema(marker: float | None) -> FeatureSchema:
        spec = FeatureSpec(name="c_cat", kind=FeatureKind.CATEGORICAL, dtype="int")
        return FeatureSchema(features=[spec], missing_value=marker)

    assert "-1" in missing_categories(schema(-1))
    assert "-999" in missing_categories(schema(-999.0))
    assert "-0.5" in missing_categories(schema(-0.5))
    assert missing_categories(schema(None)) == {"nan", "None", ""}


def test_identical_distribution_has_zero_psi(
    reference: ReferenceStats, schema: FeatureSchema, training: pd.DataFrame
) -> None:
    for name in ("ps_reg_03", "ps_car_13", "ps_car_11_cat", "ps_ind_05_cat", "ps_ind_17_bin"):
        assert _psi(reference, schema, training, name) == pytest.approx(0.0, abs=1e-9), name


def test_a_fresh_sample_of_the_same_population_is_stable(
    reference: ReferenceStats, schema: FeatureSchema, population: pd.DataFrame
) -> None:
    live = population.iloc[20_000:]
    for name in schema.names:
        assert _psi(reference, schema, live, name) < 0.1, name


def test_a_shifted_distribution_has_large_psi(
    reference: ReferenceStats, schema: FeatureSchema, training: pd.DataFrame
) -> None:
    shifted = training.copy()
    shifted["ps_car_13"] = shifted["ps_car_13"] + shifted["ps_car_13"].std()
    assert _psi(reference, schema, shifted, "ps_car_13") > 0.25
    flipped = training.copy()
    flipped["ps_ind_17_bin"] = 1 - flipped["ps_ind_17_bin"]
    assert _psi(reference, schema, flipped, "ps_ind_17_bin") > 0.25


def test_missing_values_appearing_in_live_traffic_are_drift(
    reference: ReferenceStats, schema: FeatureSchema, training: pd.DataFrame
) -> None:
    live = training.head(2_000).copy()
    live["ps_car_13"] = np.nan  # never missing in training
    feature = reference.feature("ps_car_13")
    counts = bin_counts(feature, live["ps_car_13"].to_numpy(), missing_categories(schema))
    assert counts[-1] == len(live) and counts[:-1].sum() == 0
    assert psi(feature.fractions, counts) > 1.0
    live["ps_car_03_cat"] = "-1"
    assert _psi(reference, schema, live, "ps_car_03_cat") > 0.25


def test_unseen_categories_count_as_other(reference: ReferenceStats, schema: FeatureSchema) -> None:
    feature = reference.feature("ps_car_04_cat")
    values = np.array(["never-seen"] * 10 + ["0"] * 5, dtype=object)
    counts = bin_counts(feature, values, missing_categories(schema))
    assert counts[len(feature.categories or [])] == 10
    assert counts.sum() == 15


def test_psi_edge_cases() -> None:
    assert psi([0.5, 0.5], np.array([0, 0])) == 0.0  # no traffic yet: nothing to compare
    assert psi([0.5, 0.5], np.array([10, 10])) == pytest.approx(0.0)
    one_sided = psi([1.0, 0.0], np.array([0, 100]))
    assert np.isfinite(one_sided) and one_sided > 5
    assert psi([0.25, 0.75], np.array([75, 25])) == pytest.approx(
        (0.75 - 0.25) * np.log(3) + (0.25 - 0.75) * np.log(1 / 3)
    )


def test_score_reference(reference: ReferenceStats, training: pd.DataFrame) -> None:
    score = reference.score
    assert len(score.edges) == SCORE_BINS + 1
    assert score.edges[0] == 0.0 and score.edges[-1] == 1.0
    assert sum(score.fractions) == pytest.approx(1.0)
    assert score.fractions[0] > score.fractions[-1]  # beta(1, 20) piles up near zero
    assert score.mean == pytest.approx(1 / 21, abs=0.005)


def test_scores_outside_unit_interval_are_clipped(
    training: pd.DataFrame, schema: FeatureSchema
) -> None:
    scores = np.array([-0.2, 0.0, 1.0, 1.3])
    ref = compute_reference(training.head(4), schema, scores)
    assert ref.score.fractions[0] == 0.5 and ref.score.fractions[-1] == 0.5


def test_constant_and_all_missing_columns(schema: FeatureSchema) -> None:
    spec_const = FeatureSpec(name="k", kind=FeatureKind.NUMERIC, dtype="float")
    spec_gone = FeatureSpec(name="g", kind=FeatureKind.NUMERIC, dtype="float")
    small = FeatureSchema(features=[spec_const, spec_gone], missing_value=-1)
    frame = pd.DataFrame({"k": [3.0] * 4, "g": [np.nan] * 4})
    ref = compute_reference(frame, small, np.zeros(4))
    const = ref.feature("k")
    assert const.edges == [3.0]
    assert const.fractions == [0.0, 1.0, 0.0]
    gone = ref.feature("g")
    assert gone.fractions[-1] == 1.0


def test_reference_round_trips_through_json(reference: ReferenceStats) -> None:
    again = ReferenceStats.model_validate_json(reference.model_dump_json())
    assert again == reference
    with pytest.raises(KeyError):
        again.feature("nope")


def test_feature_reference_labels() -> None:
    numeric = FeatureReference(
        name="x", kind=FeatureKind.NUMERIC, edges=[0.0, 1.5], fractions=[0, 0.5, 0.5, 0]
    )
    assert numeric.labels == ["< 0", "[0, 1.5)", ">= 1.5", "missing"]
