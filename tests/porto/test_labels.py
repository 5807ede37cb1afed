"""Class labels: one comparison rule for training and feedback; the mapping in the manifest;
manifests written before it existed still load, as 1/0."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from porto.bundle import Manifest, read_manifest, write_bundle
from porto.labels import (
    DEFAULT_LABELS,
    LabelMapping,
    feedback_class,
    feedback_labels,
    label_key,
)
from porto.store import ArtifactStore

YES_NO = LabelMapping(positive_label="Yes", negative_label="No", label_values=["No", "Yes", "yes"])


@pytest.mark.parametrize(
    ("value", "key"),
    [
        (1, "1"),
        (1.0, "1"),
        (np.int64(1), "1"),
        ("1", "1"),
        (" 1.0 ", "1"),
        (True, "true"),
        (np.bool_(False), "false"),
        ("TRUE", "true"),
        ("Yes", "yes"),
        (" yes ", "yes"),
        (0.5, "0.5"),
        (None, None),
        (float("nan"), None),
        ([1], None),
    ],
)
def test_label_key(value: object, key: str | None) -> None:
    assert label_key(value) == key


def test_encode_maps_every_spelling_of_a_class() -> None:
    target = pd.Series(["Yes", "No", "yes", "NO", "No"])
    assert YES_NO.encode(target).tolist() == [1, 0, 1, 0, 0]
    assert DEFAULT_LABELS.encode(pd.Series([0.0, 1.0, 1.0])).tolist() == [0, 1, 1]
    with pytest.raises(ValueError, match="'Maybe' is neither positive 'Yes' / negative 'No'"):
        YES_NO.encode(pd.Series(["Yes", "Maybe"]))


def test_feedback_takes_own_labels_first_then_0_1_true_false() -> None:
    assert [feedback_class(v, YES_NO) for v in ("yes", "YES", "No", 1, 0, True, False)] == [
        1,
        1,
        0,
        1,
        0,
        1,
        0,
    ]
    assert feedback_class("Maybe", YES_NO) is None
    assert feedback_class({"a": 1}, YES_NO) is None
    assert feedback_class("yes", DEFAULT_LABELS) is None  # not a label of a 0/1 model
    # A model trained on 1/2 (positive 2) reads 1 as its own negative label.
    one_two = LabelMapping(positive_label=2, negative_label=1, label_values=[1, 2])
    assert [feedback_class(v, one_two) for v in (2, 1, 0, True)] == [1, 0, 0, 1]
    assert feedback_labels(one_two, 1) == [2, True]
    assert feedback_labels(one_two, 0) == [1, 0, False]
    assert feedback_labels(YES_NO, 1) == ["Yes", 1, True]
    assert feedback_labels(DEFAULT_LABELS, 0) == [0, False]


def test_manifest_records_the_mapping_and_old_manifests_load(
    file_store: ArtifactStore, make_manifest: Callable[..., Manifest]
) -> None:
    written = write_bundle(file_store, make_manifest("v1", labels=YES_NO), {})
    loaded = read_manifest(file_store, "porto", "v1")
    assert loaded.labels == YES_NO == loaded.label_mapping
    raw = loaded.model_dump(mode="json")
    assert raw["labels"] == {
        "positive_label": "Yes",
        "negative_label": "No",
        "label_values": ["No", "Yes", "yes"],
    }
    assert written.labels == YES_NO

    # A manifest from before labels were recorded (no key at all): its target was 0/1.
    old = make_manifest("v2").model_dump(mode="json")
    del old["labels"]
    legacy = Manifest.model_validate_json(Manifest.model_validate(old).model_dump_json())
    assert legacy.labels is None
    assert legacy.label_mapping == DEFAULT_LABELS


def test_label_types_survive_json() -> None:
    for mapping in (
        LabelMapping(positive_label=True, negative_label=False, label_values=[False, True]),
        LabelMapping(positive_label=1, negative_label=0, label_values=[0, 1]),
        LabelMapping(positive_label=0.5, negative_label="x", label_values=[0.5, "x"]),
    ):
        back = LabelMapping.model_validate_json(mapping.model_dump_json())
        assert back == mapping
        assert [type(v) for v in back.label_values] == [type(v) for v in mapping.label_values]
