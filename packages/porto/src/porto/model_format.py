"""Saving and loading models in non-pickle formats.

CatBoost models use CatBoost's own ``.cbm`` format. scikit-learn models use skops, loaded with an
explicit allow-list of types: a downloaded artifact can never run arbitrary code on load, which
pickle and joblib cannot promise.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any, Protocol

import numpy as np
import pandas as pd

from porto.errors import IntegrityError

CATBOOST = "catboost"
SKLEARN = "sklearn"
MODEL_FILES = {CATBOOST: "model.cbm", SKLEARN: "model.skops"}

#: The only types a skops model file may contain (the baseline pipeline's building blocks).
SKOPS_TRUSTED = [
    "sklearn.pipeline.Pipeline",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.compose._column_transformer._RemainderColsList",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.impute._base.MissingIndicator",
    "sklearn.linear_model._logistic.LogisticRegression",
    "numpy.dtype",
    "numpy.float64",
    "numpy.int64",
    "numpy.ndarray",
    "builtins.slice",
]

#: Plain containers and scalars that every skops file holds; loading them runs no code.
_SKOPS_PRIMITIVES = frozenset(
    f"builtins.{t}"
    for t in ("dict", "list", "tuple", "str", "int", "float", "bool", "NoneType", "bytes")
)


class Predictor(Protocol):
    """A loaded model: probabilities of the positive class for model-ready rows."""

    model_type: str

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Return P(target = 1) for each row of ``frame`` (columns in model order)."""
        ...


class CatBoostPredictor:
    """A CatBoost classifier loaded from ``.cbm`` bytes."""

    model_type = CATBOOST

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict_proba(frame)[:, 1], dtype="float64")


class SklearnPredictor:
    """A scikit-learn pipeline loaded from skops bytes."""

    model_type = SKLEARN

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict_proba(frame)[:, 1], dtype="float64")


def dump_model(model_type: str, model: Any) -> bytes:
    """Return the bytes of ``model`` in its safe format."""
    if model_type == CATBOOST:
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / MODEL_FILES[CATBOOST]
            model.save_model(str(path), format="cbm")
            return path.read_bytes()
    if model_type == SKLEARN:
        import skops.io as sio

        return bytes(sio.dumps(model))
    raise ValueError(f"unknown model type {model_type!r}")


def load_model(model_type: str, data: bytes) -> Predictor:
    """Return a predictor from verified model bytes; IntegrityError if they cannot be loaded."""
    try:
        if model_type == CATBOOST:
            from catboost import CatBoostClassifier

            model = CatBoostClassifier()
            model.load_model(blob=data, format="cbm")
            return CatBoostPredictor(model)
        if model_type == SKLEARN:
            import skops.io as sio

            named = set(sio.get_untrusted_types(data=data)) | _skops_types(data)
            untrusted = sorted(named - set(SKOPS_TRUSTED) - _SKOPS_PRIMITIVES)
            if untrusted:
                raise IntegrityError(f"model file holds types outside the allow-list: {untrusted}")
            return SklearnPredictor(sio.loads(data, trusted=SKOPS_TRUSTED))
    except IntegrityError:
        raise
    except Exception as exc:
        raise IntegrityError(f"cannot load {model_type} model: {exc}") from exc
    raise IntegrityError(f"unknown model type {model_type!r}")


def _skops_types(data: bytes) -> set[str]:
    """Return every type a skops file names.

    ``skops.io.get_untrusted_types`` leaves out what skops trusts by default (FunctionTransformer,
    numpy functions, any sklearn estimator), so on its own it cannot enforce porto's allow-list.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
    found: set[str] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            module, cls = node.get("__module__"), node.get("__class__")
            if isinstance(module, str) and isinstance(cls, str):
                found.add(f"{module}.{cls}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found
