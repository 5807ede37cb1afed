"""Config: the shipped YAML, ``key=value`` overrides, CLI updates, and clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from porto.errors import ConfigError
from porto.flavors import FLAVOR_NAMES
from porto_training.config import (
    Imbalance,
    apply_overrides,
    default_config_path,
    default_store_uri,
    load_config,
    parse_override,
)


def test_shipped_config_loads_with_catboost_and_synthetic_defaults() -> None:
    cfg = load_config()
    assert default_config_path().name == "config.yaml"
    assert cfg.model.type == "catboost"
    assert cfg.data.path is None  # synthetic by default
    assert cfg.data.target == "target" and cfg.data.id_column == "id"
    assert cfg.data.missing_value == -1
    assert cfg.model.imbalance is Imbalance.NONE
    assert cfg.model.catboost["iterations"] > 0
    assert cfg.search.enabled is False


def test_overrides_parse_yaml_values_and_nest() -> None:
    cfg = load_config(
        overrides=[
            "model.catboost.depth=8",
            "model.catboost.learning_rate=0.2",
            "model.type=sklearn",
            "data.columns.drop_prefixes=[ps_calc_, ps_ind_1]",
            "data.id_column=null",
            "model.sklearn.C=0.5",
            "seed=7",
        ]
    )
    assert cfg.model.catboost["depth"] == 8
    assert cfg.model.catboost["learning_rate"] == pytest.approx(0.2)
    assert cfg.model.type == "sklearn"
    assert cfg.model.params() == {**load_config().model.sklearn, "C": 0.5}
    assert cfg.data.columns.drop_prefixes == ["ps_calc_", "ps_ind_1"]
    assert cfg.data.id_column is None
    assert cfg.seed == 7


def test_cli_updates_win_over_overrides() -> None:
    cfg = load_config(overrides=["seed=1"], updates={"seed": 2, "data.path": "x.csv"})
    assert cfg.seed == 2
    assert cfg.data.path == "x.csv"


def test_yaml_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("seed: 3\nmodel:\n  type: sklearn\n  imbalance: sqrt_balanced\n")
    cfg = load_config(path)
    assert cfg.seed == 3
    assert cfg.model.type == "sklearn"
    assert cfg.model.imbalance is Imbalance.SQRT_BALANCED


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.typo=1", "model.typo: unknown key"),
        ("model.type=xgboost", "model.type must be catboost or sklearn"),
        ("split.test_fraction=0.8", "below 0.9"),
        ("data.format=xlsx", "data.format must be"),
        ("seed=abc", "seed"),
        ("noequals", "is not key=value"),
        ("=3", "is not key=value"),
        ("a..b=3", "is not key=value"),
        ("model.type.x=1", "'type' is not a section"),
    ],
)
def test_bad_overrides_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(overrides=[override])


def test_missing_and_malformed_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(scalar)


def test_parse_override_and_apply_do_not_touch_the_input() -> None:
    assert parse_override("a.b=[1, 2]") == (["a", "b"], [1, 2])
    assert parse_override("a=") == (["a"], None)
    raw = {"a": {"b": 1}}
    out = apply_overrides(raw, ["a.c=2", "x.y=z"])
    assert out == {"a": {"b": 1, "c": 2}, "x": {"y": "z"}}
    assert raw == {"a": {"b": 1}}


def test_default_store_is_under_porto_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PORTO_HOME", str(tmp_path))
    assert default_store_uri() == f"file://{tmp_path}/artifacts"
    monkeypatch.delenv("PORTO_HOME")
    assert default_store_uri().endswith("/.porto/artifacts")


@pytest.mark.parametrize("name", FLAVOR_NAMES)
def test_every_flavor_has_its_param_and_search_sections(name: str) -> None:
    cfg = load_config(
        overrides=[f"model.type={name}", f"model.{name}.probe=1", f"search.{name}.probe=[1, 2]"]
    )
    assert cfg.model.params()["probe"] == 1
    assert cfg.search.space(name)["probe"] == [1, 2]
