"""Only porto.flavors knows which model library is behind a model: no other module of porto,
training, inference or the UI compares a model type (a flavor's name, its constant, or a
``model_type``) with anything. A new branch on the model type belongs in a flavor's module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from porto.flavors import FLAVOR_NAMES

ROOT = Path(__file__).resolve().parents[3]
SOURCES = [
    ROOT / "packages" / "porto" / "src",
    ROOT / "jobs" / "training" / "src",
    ROOT / "services" / "inference" / "src",
    ROOT / "services" / "ui" / "src",
]
FLAVORS_PACKAGE = ROOT / "packages" / "porto" / "src" / "porto" / "flavors"
#: Names that stand for a model type: the flavors' constants and the manifests' field.
TYPE_NAMES = {name.upper() for name in FLAVOR_NAMES} | {"model_type"}


def _names_a_model_type(node: ast.AST) -> bool:
    for part in ast.walk(node):
        if isinstance(part, ast.Constant) and part.value in FLAVOR_NAMES:
            return True
        if isinstance(part, ast.Name) and part.id in TYPE_NAMES:
            return True
        if isinstance(part, ast.Attribute) and part.attr in TYPE_NAMES:
            return True
    return False


def _is_none(node: ast.Compare) -> bool:
    """Whether ``node`` only asks if something is (not) None: that is no branch on a flavor."""
    return all(isinstance(op, ast.Is | ast.IsNot) for op in node.ops) and all(
        isinstance(side, ast.Constant) and side.value is None for side in node.comparators
    )


def flavor_branches(code: str) -> list[int]:
    """Return the line of every comparison (or ``match`` case) in ``code`` that involves a
    model type."""
    found = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Compare) and _names_a_model_type(node) and not _is_none(node):
            found.append(node.lineno)
        elif isinstance(node, ast.match_case) and _names_a_model_type(node.pattern):
            found.append(node.pattern.lineno)
    return found


def _modules() -> list[Path]:
    return sorted(
        path
        for source in SOURCES
        for path in source.rglob("*.py")
        if FLAVORS_PACKAGE not in path.parents
    )


def test_sources_are_found() -> None:
    assert len(_modules()) > 50


@pytest.mark.parametrize(
    "code",
    [
        "if manifest.model_type == CATBOOST:\n    pass",
        "x = a if cfg.type != 'sklearn' else b",
        "ok = kind in (CATBOOST, SKLEARN)",
        "match kind:\n    case 'catboost':\n        pass",
    ],
)
def test_the_check_catches_a_branch(code: str) -> None:
    assert flavor_branches(code)


def test_a_none_check_is_no_branch() -> None:
    assert flavor_branches("if model_type is not None:\n    pass") == []


def test_no_module_outside_the_flavors_branches_on_the_model_type() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in _modules()
        for line in flavor_branches(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], f"model-type branches outside porto.flavors: {offenders}"
