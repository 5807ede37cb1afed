"""The scikit-learn baseline: impute and scale numbers, one-hot encode categories, logistic
regression. Saved with skops and loaded with an explicit allow-list of types: a downloaded
artifact can never run arbitrary code on load, which pickle and joblib cannot promise.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np
import pandas as pd

from porto.contracts.insights import FeatureRanking
from porto.errors import IntegrityError
from porto.flavors.base import (
    ClassifierModel,
    Contributions,
    FitObserver,
    Fitted,
    ModelInput,
    ranked,
)
from porto.schema import FeatureKind, FeatureSchema

SKLEARN = "sklearn"

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


class SklearnModel(ClassifierModel):
    """A fitted baseline pipeline (``prepare`` columns, then the logistic ``model``)."""

    model_type = SKLEARN

    def predict(self, rows: ModelInput, *, threads: int) -> np.ndarray:
        """Return P(target = 1) per row of the frame of canonical strings the pipeline was
        fitted on (``threads`` is moot: the pipeline scores in one thread)."""
        return self.predict_proba(rows.frame(categorical=False))

    def explain(self, rows: ModelInput, *, threads: int) -> Contributions:
        """Exact for a linear model: coef × the encoded column, summed over each feature's
        columns (a one-hot category's columns, a number's value and its missing indicator), with
        the intercept as the base. Numbers are standardised, so theirs are relative to the
        training mean; a category's is the coefficient of the category the row has."""
        frame = rows.frame(categorical=False)
        prepared, coef = linear_parts(self.estimator, frame)
        values = _grouped(self.estimator, [str(c) for c in frame.columns], coef * prepared)
        intercept = float(self.estimator.named_steps["model"].intercept_[0])
        return Contributions(base=np.full(len(frame), intercept), values=values)

    def check_schema(self, schema: FeatureSchema) -> None:
        """Nothing to compare: the pipeline picks its columns by name, so a model that needs a
        column the schema lacks cannot score the typical row a loader tries first."""

    def feature_importance(self, schema: FeatureSchema, sample: pd.DataFrame) -> FeatureRanking:
        """The standard deviation over ``sample`` of the feature's log-odds contribution
        Σ coef·x over its encoded columns: |coef × std| for a single column, and for a one-hot
        encoded category not inflated by its number of columns."""
        prepared, coef = linear_parts(self.estimator, sample)
        per_row = group_columns(self.estimator, schema, coef * prepared)
        return ranked(
            "std of the feature's log-odds contribution (|coef x std| per column)",
            schema.names,
            per_row.std(axis=0),
        )

    def shap_importance(self, schema: FeatureSchema, sample: pd.DataFrame) -> FeatureRanking:
        """The exact SHAP values of a linear model with independent features,
        coef × (x − mean(x)) per encoded column, summed per feature; the mean |SHAP| is taken
        over the same ``sample``."""
        prepared, coef = linear_parts(self.estimator, sample)
        contributions = coef * (prepared - prepared.mean(axis=0))
        per_row = group_columns(self.estimator, schema, contributions)
        values = np.abs(per_row).mean(axis=0)
        return ranked(
            "linear SHAP coef x (x - mean), mean |SHAP|", schema.names, values, rows=len(sample)
        )


class SklearnFlavor:
    """Build, fit, save and load the logistic-regression baseline."""

    name = SKLEARN
    model_file = "model.skops"

    def build(
        self, params: dict[str, Any], schema: FeatureSchema, *, seed: int, pos_weight: float
    ) -> Any:
        """Return an unfitted baseline Pipeline: impute (+ missing indicators) and scale numbers,
        one-hot encode categories, logistic regression. Every type in it is on
        :data:`SKOPS_TRUSTED`, so the saved model loads without pickle."""
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        numeric = [f.name for f in schema.features if f.kind is not FeatureKind.CATEGORICAL]
        categorical = [f.name for f in schema.features if f.kind is FeatureKind.CATEGORICAL]
        transformers: list[tuple[str, Any, list[str]]] = []
        if numeric:
            number_steps = Pipeline(
                [
                    ("impute", SimpleImputer(strategy="median", add_indicator=True)),
                    ("scale", StandardScaler()),
                ]
            )
            transformers.append(("num", number_steps, numeric))
        if categorical:
            encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64)
            transformers.append(("cat", encoder, categorical))
        kwargs: dict[str, Any] = {"max_iter": 1000, **params}
        kwargs.setdefault("random_state", seed)
        if pos_weight != 1.0:
            kwargs["class_weight"] = {0: 1.0, 1: pos_weight}
        return Pipeline(
            [
                ("prepare", ColumnTransformer(transformers, remainder="drop")),
                ("model", LogisticRegression(**kwargs)),
            ]
        )

    def fit(
        self,
        params: dict[str, Any],
        schema: FeatureSchema,
        train: tuple[pd.DataFrame, np.ndarray],
        validation: tuple[pd.DataFrame, np.ndarray],
        *,
        seed: int,
        pos_weight: float,
        observer: FitObserver | None = None,
    ) -> Fitted:
        """Fit on the training rows; the baseline has no iterations to stop early, so it ignores
        the validation rows and reports its solver's iteration count once, at the end."""
        pipeline = self.build(params, schema, seed=seed, pos_weight=pos_weight)
        pipeline.fit(*train)
        n_iter = int(np.max(pipeline.named_steps["model"].n_iter_))
        if observer is not None:
            observer.iteration(n_iter)
        return Fitted(model=SklearnModel(pipeline), iterations=n_iter)

    def dump(self, estimator: Any) -> bytes:
        """Return the skops bytes of ``estimator``."""
        import skops.io as sio

        return bytes(sio.dumps(estimator))

    def load(self, data: bytes) -> SklearnModel:
        """Return the pipeline in skops bytes; IntegrityError if the file names any type outside
        :data:`SKOPS_TRUSTED` (checked before anything in it is loaded) or cannot be read."""
        try:
            import skops.io as sio

            named = set(sio.get_untrusted_types(data=data)) | skops_types(data)
            untrusted = sorted(named - set(SKOPS_TRUSTED) - _SKOPS_PRIMITIVES)
            if untrusted:
                raise IntegrityError(f"model file holds types outside the allow-list: {untrusted}")
            return SklearnModel(sio.loads(data, trusted=SKOPS_TRUSTED))
        except IntegrityError:
            raise
        except Exception as exc:
            raise IntegrityError(f"cannot load {SKLEARN} model: {exc}") from exc


def skops_types(data: bytes) -> set[str]:
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


def linear_parts(pipeline: Any, sample: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return (the baseline's encoded columns for ``sample``, its coefficients)."""
    coef = np.asarray(pipeline.named_steps["model"].coef_[0], dtype="float64")
    encoded = np.asarray(pipeline.named_steps["prepare"].transform(sample), dtype="float64")
    return encoded, coef


def output_owners(pipeline: Any, schema: FeatureSchema) -> list[int]:
    """Return, for each encoded column of the baseline, the position of the feature it encodes."""
    return _owners(pipeline, schema.names)


def _owners(pipeline: Any, names: list[str]) -> list[int]:
    prepare = pipeline.named_steps["prepare"]
    position = {name: i for i, name in enumerate(names)}
    owners: list[int] = []
    for name, transformer, cols in prepare.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        for out in transformer.get_feature_names_out(cols):
            # The longest input name that the output name is built from (ps_car_11_cat_5 belongs
            # to ps_car_11_cat, not ps_car_11): encoders name outputs col, col_<category> and
            # missingindicator_col.
            stem = str(out).removeprefix("missingindicator_")
            matches = [c for c in cols if stem == c or stem.startswith(f"{c}_")]
            owners.append(position[max(matches, key=len)])
    return owners


def group_columns(pipeline: Any, schema: FeatureSchema, matrix: np.ndarray) -> np.ndarray:
    """Return ``matrix`` (one column per encoded column) summed into one column per feature."""
    return _grouped(pipeline, schema.names, matrix)


def _grouped(pipeline: Any, names: list[str], matrix: np.ndarray) -> np.ndarray:
    owners = np.asarray(_owners(pipeline, names))
    out = np.zeros((matrix.shape[0], len(names)))
    for j, owner in enumerate(owners):
        out[:, owner] += matrix[:, j]
    return out
