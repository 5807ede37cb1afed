"""Feedback bodies are checked in one place (scoring/feedback.py), refused whole, in a fixed
order: not JSON, no items, too many, a repeated or unstorable id, then shape, id and label."""

from __future__ import annotations

import orjson
import pytest
from porto.errors import PortoError
from porto.labels import DEFAULT_LABELS, LabelMapping
from porto_inference.errors import (
    BadRequestError,
    PayloadTooLargeError,
    ValidationFailedError,
)
from porto_inference.scoring.feedback import read_items, read_labels

PID = "0192f3c4-6a5e-7c1d-8e2f-3a4b5c6d7e8f"


def _refusal(body: bytes, limit: int = 3) -> PortoError:
    with pytest.raises(PortoError) as caught:
        read_labels(read_items(body, limit), DEFAULT_LABELS)
    return caught.value


@pytest.mark.parametrize(
    ("body", "labels"),
    [
        ({"prediction_id": PID, "label": 1}, {PID: 1}),
        ([{"prediction_id": PID, "label": False}], {PID: 0}),
        (
            {
                "feedback": [
                    {"prediction_id": "a", "label": True},
                    {"prediction_id": "b", "label": 0},
                ]
            },
            {"a": 1, "b": 0},
        ),
    ],
)
def test_the_three_shapes_give_labels(body: object, labels: dict[str, int]) -> None:
    assert read_labels(read_items(orjson.dumps(body), 3), DEFAULT_LABELS) == labels


def test_the_served_models_own_labels_count() -> None:
    mapping = LabelMapping(positive_label="Yes", negative_label="No", label_values=["No", "Yes"])
    items = read_items(orjson.dumps([{"prediction_id": "a", "label": "yes"}]), 3)
    assert read_labels(items, mapping) == {"a": 1}


def test_refusals_come_in_order() -> None:
    assert isinstance(_refusal(b"[", 3), BadRequestError)
    surrogate = _refusal(b'{"feedback": [{"prediction_id": "\\ud800", "label": 1}]}')
    assert isinstance(surrogate, ValidationFailedError)
    assert surrogate.details[0]["row"] == 0 and surrogate.details[0]["field"] == "prediction_id"
    empty = _refusal(b"[]")
    assert isinstance(empty, ValidationFailedError) and empty.message == "no feedback given"
    # Too many wins over a repeated id; a repeated id over a bad label.
    many = [{"prediction_id": "a", "label": 7}] * 4
    assert isinstance(_refusal(orjson.dumps(many)), PayloadTooLargeError)
    repeated = _refusal(orjson.dumps(many[:2]))
    assert isinstance(repeated, ValidationFailedError)
    assert "the same id as row 0" in repeated.details[0]["message"]
    # The same UUID in another spelling is the same id.
    spelled = [{"prediction_id": PID, "label": 1}, {"prediction_id": PID.upper(), "label": 1}]
    assert "the same id as row 0" in _refusal(orjson.dumps(spelled)).message


def test_item_problems_are_listed_together() -> None:
    body = orjson.dumps([{"prediction_id": "a", "label": 5}, {"x": 1, "label": 1}, 3])
    error = _refusal(body)
    assert isinstance(error, ValidationFailedError)
    assert [(d["row"], d["field"]) for d in error.details] == [
        (0, "label"),
        (1, "x"),
        (1, "prediction_id"),
        (2, ""),
    ]
    assert error.message.startswith("4 invalid feedback item(s); first: row 0, label: 5 is not")
