"""The training configuration: a YAML file, ``--set key=value`` overrides, then CLI options.

Every stage reads its settings from one validated :class:`TrainingConfig`, and the whole config is
stored in the bundle's manifest, so a version can be reproduced from its manifest and seed.
Unknown keys are errors (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import copy
import os
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from porto.errors import ConfigError
from porto.flavors import FLAVOR_NAMES
from porto.flavors.catboost import CATBOOST
from porto.schema import ColumnRules
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

#: The default configuration: ``jobs/training/config.yaml`` in a checkout; an image that installs
#: the package as a wheel copies it next to the package (``porto_training/config.yaml``).
_CONFIG_CANDIDATES = (
    Path(__file__).resolve().parent / "config.yaml",
    Path(__file__).resolve().parents[2] / "config.yaml",
)
DEFAULT_MODEL_NAME = "porto"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SyntheticConfig(_Strict):
    """The generated dataset used when no data path is given (SYNTHETIC, not real data)."""

    rows: int = Field(default=100_000, gt=0, description="Rows to generate.")
    positive_rate: float = Field(default=0.0364, gt=0, lt=1, description="Share of positives.")


class DataConfig(_Strict):
    """Where the dataset is and how to read its columns."""

    path: str | None = Field(
        default=None, description="Local path or s3://bucket/key; None = synthetic data."
    )
    format: str = Field(default="auto", description="auto | csv | zip | parquet")
    target: str = Field(
        default="target",
        description="Name of the label column: two classes, 0/1, false/true, no/yes or any "
        "pair with positive_label set.",
    )
    positive_label: bool | int | float | str | None = Field(
        default=None,
        description="The target value of the positive class (e.g. 'Yes'); None infers it for "
        "0/1, false/true and no/yes. Strings compare case-insensitively.",
    )
    id_column: str | None = Field(default="id", description="Row id column (never a feature).")
    missing_value: float | None = Field(
        default=-1, description="Marker for a missing value (besides empty cells / NaN)."
    )
    required_columns: list[str] = Field(
        default_factory=list, description="Columns that must be present besides target and id."
    )
    columns: ColumnRules = Field(default_factory=ColumnRules)
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)

    @model_validator(mode="after")
    def _check_format(self) -> DataConfig:
        if self.format not in ("auto", "csv", "zip", "parquet"):
            raise ValueError(f"data.format must be auto, csv, zip or parquet, not {self.format!r}")
        return self


class SplitConfig(_Strict):
    """Stratified holdout: train / validation (threshold, early stopping) / test (metrics)."""

    validation_fraction: float = Field(default=0.15, gt=0, lt=1)
    test_fraction: float = Field(default=0.15, gt=0, lt=1)

    @model_validator(mode="after")
    def _check_sum(self) -> SplitConfig:
        if self.validation_fraction + self.test_fraction >= 0.9:
            raise ValueError("split.validation_fraction + split.test_fraction must be below 0.9")
        return self


class Imbalance(StrEnum):
    """How to weigh the rare positive class."""

    NONE = "none"
    BALANCED = "balanced"
    SQRT_BALANCED = "sqrt_balanced"


class ModelConfig(_Strict):
    """Which model to train and its hyperparameters (passed to the estimator as given).

    Each flavor of :mod:`porto.flavors` has its section of parameters here, named as the flavor
    (a test checks that every registered flavor has one).
    """

    type: str = Field(default=CATBOOST, description="A model flavor: " + " | ".join(FLAVOR_NAMES))
    imbalance: Imbalance = Field(
        default=Imbalance.NONE,
        description="Class weights: none keeps probabilities calibrated; balanced / "
        "sqrt_balanced up-weight positives.",
    )
    catboost: dict[str, Any] = Field(default_factory=dict, description="CatBoostClassifier args.")
    sklearn: dict[str, Any] = Field(default_factory=dict, description="LogisticRegression args.")

    @model_validator(mode="after")
    def _check_type(self) -> ModelConfig:
        if self.type not in FLAVOR_NAMES:
            known = " or ".join(FLAVOR_NAMES)
            raise ValueError(f"model.type must be {known}, not {self.type!r}")
        return self

    def params(self) -> dict[str, Any]:
        """Return the hyperparameters of the selected model type (its flavor's section)."""
        return _section(self, self.type)


class SearchConfig(_Strict):
    """Optional random search over hyperparameters, scored by stratified K-fold ROC-AUC; one
    search space per flavor, named as the flavor like :class:`ModelConfig`'s parameters."""

    enabled: bool = False
    folds: int = Field(default=3, ge=2)
    iterations: int = Field(default=8, ge=1, description="Candidates to try.")
    catboost: dict[str, Any] = Field(
        default_factory=dict,
        description="param -> list of choices, or {low, high, log} for a continuous range.",
    )
    sklearn: dict[str, Any] = Field(default_factory=dict)

    def space(self, model_type: str) -> dict[str, Any]:
        """Return the search space of ``model_type``."""
        return _section(self, model_type)


def _section(config: BaseModel, flavor_name: str) -> dict[str, Any]:
    """Return a copy of ``config``'s mapping named after flavor ``flavor_name``."""
    section: dict[str, Any] = getattr(config, flavor_name)
    return dict(section)


class InsightConfig(_Strict):
    """Sample sizes for the explanation stage (SHAP and mutual information cost per row)."""

    shap_rows: int = Field(default=2000, gt=0)
    mutual_info_rows: int = Field(default=20_000, gt=0)
    plot_top_features: int = Field(default=20, gt=0)


class OutputConfig(_Strict):
    """Where the bundle goes."""

    store: str | None = Field(
        default=None, description="file:// dir or s3://bucket/prefix; None = $PORTO_HOME/artifacts"
    )
    name: str = Field(default=DEFAULT_MODEL_NAME, description="Model name in the registry.")


class ModelCardConfig(_Strict):
    """What the model card says the model is for and where it stops (the version's report,
    ``GET /models/{version}/report``); left empty, the report writes both from the bundle."""

    intended_use: str | None = Field(
        default=None, description="Who uses the scores, for what decision, on which population."
    )
    limitations: list[str] = Field(
        default_factory=list, description="Known limits, one sentence each."
    )


class TrainingConfig(_Strict):
    """Everything one training run depends on."""

    seed: int = 42
    data: DataConfig = Field(default_factory=DataConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    insights: InsightConfig = Field(default_factory=InsightConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    model_card: ModelCardConfig = Field(default_factory=ModelCardConfig)


def default_config_path() -> Path:
    """Return the shipped default config file (checkout or installed wheel)."""
    for candidate in _CONFIG_CANDIDATES:
        if candidate.is_file():
            return candidate
    raise ConfigError("the default config.yaml is not installed; pass --config")


def default_store_uri() -> str:
    """Return the local artifact store URI: ``$PORTO_HOME/artifacts``, PORTO_HOME defaulting
    to ``.porto`` (relative to the working directory)."""
    home = os.environ.get("PORTO_HOME") or ".porto"
    return f"file://{(Path(home).expanduser() / 'artifacts').resolve()}"


def parse_override(text: str) -> tuple[list[str], Any]:
    """Return (dotted key path, YAML-parsed value) of one ``key=value`` override."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r} is not key=value (e.g. model.catboost.depth=8)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML: {exc}") from exc
    return key.split("."), value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``raw`` with each ``a.b.c=value`` override set (creating dicts)."""
    out = copy.deepcopy(raw)
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {text!r}: {part!r} is not a section")
            node = child
        node[path[-1]] = value
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Return the mapping in YAML file ``path``; ConfigError if it is missing or malformed."""
    p = Path(path)
    try:
        loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {p} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {p}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {p} is not valid YAML: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {p} must hold a mapping at the top level")
    return loaded


def build_config(raw: dict[str, Any], where: str = "config") -> TrainingConfig:
    """Return the validated config of ``raw``; ConfigError naming the first bad key."""
    try:
        return TrainingConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        raise ConfigError(f"{where}: {loc}: {msg}") from exc


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    updates: dict[str, Any] | None = None,
) -> TrainingConfig:
    """Return the config from YAML ``path`` (default: the shipped config.yaml), then the
    ``key=value`` ``overrides``, then ``updates`` (dotted key -> value, from CLI options)."""
    raw = read_yaml(path if path is not None else default_config_path())
    raw = apply_overrides(raw, list(overrides or []))
    for key, value in (updates or {}).items():
        raw = _set_path(raw, key.split("."), value)
    return build_config(raw, where=str(path) if path is not None else "config")


def _set_path(raw: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    node = out
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    return out
