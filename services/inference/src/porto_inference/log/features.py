"""A logged row's features back as ``{name: value}``: since migration 0005 a row holds its values
alone (a JSON array in the model version's feature order, the names once per version in
``prediction_log_schemas``); rows logged before hold JSON objects. The SQL side of the same is
``porto_log_features`` (the ``prediction_log_features`` view)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

NAMES_SQL = """
SELECT model_version, feature_names
FROM prediction_log_schemas
WHERE model_name = $1 AND model_version = ANY($2::text[])
"""


def decode_features(raw: bytes, names: Sequence[str] | None) -> Any:
    """``raw`` (a logged features value) as a dict by feature name; an array whose version has
    no names recorded stays a list."""
    value = orjson.loads(raw)
    if type(value) is list and names is not None:
        return dict(zip(names, value, strict=False))
    return value
