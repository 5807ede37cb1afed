"""Ground-truth labels for earlier predictions (POST /feedback): every check on the items in one
place, then the labels handed to the prediction log.

A body is ``{"prediction_id": .., "label": ..}``, a list of those, or ``{"feedback": [...]}``.
It is refused whole, in this order: not JSON (400, or 422 naming a string PostgreSQL cannot
store), no items (422), more than ``batch_max_rows`` items (413), a prediction id repeated or
unstorable (422: which label should win is the client's to say), then any item whose shape, id
or label is wrong (422). A label is 0/1, true/false or one of the served model's original labels
(its manifest's mapping, e.g. "Yes"/"No", compared as training compares them).
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from porto.contracts.api import FeedbackResponse
from porto.labels import DEFAULT_LABELS, LabelMapping, feedback_class, feedback_labels

from porto_inference.errors import ErrorDetail, PayloadTooLargeError, ValidationFailedError
from porto_inference.log.store import PredictionLog
from porto_inference.scoring.batch import Problems, unstorable
from porto_inference.scoring.model_manager import ModelManager
from porto_inference.scoring.payload import parse_json

#: Most item problems a 422 lists.
SHOWN_PROBLEMS = 50


def read_items(body: bytes, limit: int) -> list[Any]:
    """The feedback items of ``body``, refused when there are none or more than ``limit``, or
    when a prediction id repeats an earlier item's or cannot be stored."""
    data = parse_json(body, lists=("feedback",))
    if type(data) is dict and "feedback" in data and len(data) == 1:
        data = data["feedback"]
    items = data if type(data) is list else [data]
    if not items:
        raise ValidationFailedError("no feedback given", [{"field": "", "message": "empty list"}])
    if len(items) > limit:
        raise PayloadTooLargeError(f"{len(items)} labels: the limit is {limit} per request")
    _check_ids(items)
    return items


def _id_key(pid: str) -> str:
    """What makes two prediction ids the same one: the UUID they spell, in any case or form."""
    try:
        return str(uuid.UUID(pid))
    except ValueError:
        return pid


def _check_ids(items: list[Any]) -> None:
    """ValidationFailedError (422) naming each item whose prediction id repeats an earlier
    item's or holds text PostgreSQL cannot store."""
    problems = Problems()
    first_row: dict[str, int] = {}
    for row, item in enumerate(items):
        pid = item.get("prediction_id") if type(item) is dict else None
        if type(pid) is not str:
            continue
        problem = unstorable(pid)
        if problem is not None:
            problems.add(row, "prediction_id", problem)
            continue
        seen = first_row.setdefault(_id_key(pid), row)
        if seen != row:
            problems.add(
                row, "prediction_id", f"the same id as row {seen}: send each prediction id once"
            )
    problems.raise_if_any()


def read_labels(items: list[Any], mapping: LabelMapping) -> dict[str, int]:
    """Prediction id → class (0/1) of every item; ValidationFailedError (422) listing the items
    that are not ``{"prediction_id": <string>, "label": <a label of mapping>}``."""
    labels: dict[str, int] = {}
    problems: list[ErrorDetail] = []
    for row, item in enumerate(items):
        if type(item) is not dict:
            problems.append({"row": row, "field": "", "message": "expected an object"})
            continue
        for key in sorted(set(item) - {"prediction_id", "label"}):
            problems.append({"row": row, "field": key, "message": "unknown field"})
        pid = item.get("prediction_id")
        label = item.get("label")
        if type(pid) is not str or not pid:
            problems.append(
                {"row": row, "field": "prediction_id", "message": "expected a string id"}
            )
        cls = feedback_class(label, mapping)
        if cls is None:
            problems.append(
                {"row": row, "field": "label", "message": _label_problem(label, mapping)}
            )
        elif type(pid) is str and pid:
            labels[pid] = cls
    if problems:
        first = problems[0]
        raise ValidationFailedError(
            f"{len(problems)} invalid feedback item(s); first: row {first['row']}, "
            f"{first['field'] or 'item'}: {first['message']}",
            problems[:SHOWN_PROBLEMS],
        )
    return labels


def _label_problem(label: Any, mapping: LabelMapping) -> str:
    """What is wrong with a feedback label, and which labels the served model accepts."""
    if label is None:
        shown = "a missing label"
    else:
        try:
            shown = orjson.dumps(label).decode()
        except orjson.JSONEncodeError:  # nested deeper than orjson writes (254 levels)
            shown = "a deeply nested " + ("object" if type(label) is dict else "list")
    accepted = " / ".join(
        f"{_either(feedback_labels(mapping, cls))} ({name})"
        for cls, name in ((1, "positive class"), (0, "negative class"))
    )
    return f"{shown} is not a label: expected {accepted}"


def _either(values: list[Any]) -> str:
    shown = [orjson.dumps(v).decode() for v in values]
    return ", ".join(shown[:-1]) + " or " + shown[-1] if len(shown) > 1 else shown[0]


class FeedbackRecorder:
    """Checks feedback bodies against the served model's labels and records them."""

    def __init__(
        self, models: ModelManager, prediction_log: PredictionLog, *, batch_max_rows: int
    ) -> None:
        self.models = models
        self.prediction_log = prediction_log
        self.batch_max_rows = batch_max_rows

    async def record(self, body: bytes) -> FeedbackResponse:
        """Apply the labels of ``body``; unknown ids are reported, the rest applied."""
        items = read_items(body, self.batch_max_rows)
        served = self.models.current
        mapping = served.manifest.label_mapping if served is not None else DEFAULT_LABELS
        labels = read_labels(items, mapping)
        outcome = await self.prediction_log.record_feedback(labels)
        return FeedbackResponse(received=len(labels), **outcome)
