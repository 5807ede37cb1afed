"""Insight: the baseline's encoded columns map back to the right features, its linear SHAP values
add up to the model's log-odds, and mutual information finds the informative features."""

from __future__ import annotations

import numpy as np
from porto.flavors.sklearn import group_columns, linear_parts, output_owners
from porto.schema import infer_schema, model_frame
from porto.synthetic import SyntheticData
from porto_training.config import Imbalance
from porto_training.explain import (
    feature_importance,
    mutual_information,
    sample_positions,
    shap_importance,
)
from porto_training.models import fit_model


def test_baseline_explanations(small_data: SyntheticData) -> None:
    frame = small_data.frame
    schema = infer_schema(frame, target="target", id_column="id", missing_value=-1)
    x = model_frame(frame, schema)
    y = frame["target"].to_numpy()
    model = fit_model("sklearn", {}, schema, x, y, x, y, seed=0, imbalance=Imbalance.NONE)
    names = schema.names
    pipeline = model.estimator
    prepare = pipeline.named_steps["prepare"]
    outputs = list(prepare.get_feature_names_out())
    owners = output_owners(pipeline, schema)
    assert len(owners) == len(outputs)
    for out, owner in zip(outputs, owners, strict=True):
        if out.startswith("cat__ps_car_11_cat_"):
            assert names[owner] == "ps_car_11_cat"
        if out in ("num__ps_car_11", "num__missingindicator_ps_car_11"):
            assert names[owner] == "ps_car_11"

    sample = x.iloc[sample_positions(len(x), 500, 0)]
    encoded, coef = linear_parts(pipeline, sample)
    per_feature = group_columns(pipeline, schema, coef * (encoded - encoded.mean(axis=0)))
    logit = pipeline.decision_function(sample)
    np.testing.assert_allclose(per_feature.sum(axis=1), logit - logit.mean(), atol=1e-8)

    shap = shap_importance(model, schema, sample)
    assert shap.values["ps_calc_01"] < shap.values["ps_car_13"]
    importance = feature_importance(model, schema, sample)
    assert list(importance.values.values()) == sorted(importance.values.values(), reverse=True)


def test_mutual_information_ranks_signal_over_noise(small_data: SyntheticData) -> None:
    frame = small_data.frame
    schema = infer_schema(frame, target="target", id_column="id", missing_value=-1)
    x = model_frame(frame, schema)
    mi = mutual_information(x, frame["target"].to_numpy(), schema, seed=0)
    assert set(mi.values) == set(schema.names)
    assert all(v >= 0 for v in mi.values.values())
    top = list(mi.values)[:15]
    assert "ps_car_13" in top or "ps_car_11_cat" in top


def test_sample_positions() -> None:
    assert list(sample_positions(5, 10, 0)) == [0, 1, 2, 3, 4]
    picked = sample_positions(1000, 10, 0)
    assert len(set(picked)) == 10 and list(picked) == sorted(picked)
    np.testing.assert_array_equal(picked, sample_positions(1000, 10, 0))
