"""Model flavors: one module per model library behind the :class:`~porto.flavors.base.Flavor`
protocol, and the registry below, the one place that lists them.

Adding a flavor is adding its module and one entry to ``_REGISTERED``. Nothing else in porto asks
which library a model comes from: training builds, fits and explains through the flavor of
``model.type``, inference loads and scores through the flavor of the manifest's ``model_type``.
The flavor modules import their libraries (porto's ``models`` extra) only when a model is built,
saved or loaded, so importing this package needs none of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from porto.errors import IntegrityError
from porto.flavors.base import Flavor, Model
from porto.flavors.catboost import CatBoostFlavor
from porto.flavors.sklearn import SklearnFlavor

_REGISTERED: tuple[Flavor, ...] = (CatBoostFlavor(), SklearnFlavor())
_FLAVORS: dict[str, Flavor] = {f.name: f for f in _REGISTERED}

#: Every flavor's name, as ``model.type`` and manifests spell it.
FLAVOR_NAMES: tuple[str, ...] = tuple(_FLAVORS)

#: The model file of each flavor in a bundle.
MODEL_FILES: Mapping[str, str] = MappingProxyType({n: f.model_file for n, f in _FLAVORS.items()})


def flavor(name: str) -> Flavor:
    """Return the flavor called ``name``; ValueError naming the known ones if there is none."""
    try:
        return _FLAVORS[name]
    except KeyError:
        known = ", ".join(FLAVOR_NAMES)
        raise ValueError(f"unknown model type {name!r} (known: {known})") from None


def dump_model(name: str, estimator: Any) -> bytes:
    """Return the bytes of the fitted ``estimator`` of flavor ``name`` in its safe format."""
    return flavor(name).dump(estimator)


def load_model(name: str, data: bytes) -> Model:
    """Return the model of flavor ``name`` in verified ``data``; IntegrityError if the flavor is
    unknown or the bytes cannot be loaded (a bundle naming no known flavor is not usable)."""
    try:
        found = flavor(name)
    except ValueError as exc:
        raise IntegrityError(str(exc)) from None
    return found.load(data)


__all__ = ["FLAVOR_NAMES", "MODEL_FILES", "Flavor", "Model", "dump_model", "flavor", "load_model"]
