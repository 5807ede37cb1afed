"""The environment variables each porto program reads, derived from its code (never a hand list).

* inference: every field of ``porto_inference.settings.Settings``, under its canonical name
  (``PORTO_INFERENCE_<FIELD>``) or any alias pydantic-settings accepts for it;
* ui: every field of ``porto_ui.settings.UISettings`` likewise (``PORTO_UI_<FIELD>``);
* training: the ``envvar=`` of every ``porto-train`` option (typer/click), plus every literal name
  read through ``os.environ`` / ``os.getenv`` in ``porto_training`` and the shared ``porto``
  package (``PORTO_HOME``, ``S3Options.from_env``'s ``PORTO_S3_*``) — except the commands that
  start runs on a cluster (``porto-train cluster``, ``porto.cluster``): they run on a workstation
  or in the UI, never in the training Job, and read ``KUBECONFIG`` / the in-cluster variables;
* the chart's own scripts (helm test, wait-for-store): their ``os.environ`` reads.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import porto
import porto_training
from porto_inference.settings import ENV_PREFIX, Settings
from porto_ui.settings import ENV_PREFIX as UI_ENV_PREFIX
from porto_ui.settings import UISettings
from pydantic_settings import BaseSettings


def inference_fields() -> dict[str, set[str]]:
    """Settings field -> every environment variable name that sets it."""
    return settings_fields(Settings, ENV_PREFIX)


def ui_fields() -> dict[str, set[str]]:
    """UISettings field -> every environment variable name that sets it."""
    return settings_fields(UISettings, UI_ENV_PREFIX)


def ui_env() -> set[str]:
    """Every variable the UI reads."""
    return set().union(*ui_fields().values())


def settings_fields(settings: type[BaseSettings], prefix: str) -> dict[str, set[str]]:
    """Field of a pydantic-settings class -> the variable names pydantic-settings reads for it."""
    fields: dict[str, set[str]] = {}
    for name, info in settings.model_fields.items():
        names = {f"{prefix}{name}".upper()}
        alias = info.validation_alias
        for choice in getattr(alias, "choices", None) or (
            [alias] if isinstance(alias, str) else []
        ):
            if isinstance(choice, str):
                names.add(choice.upper())
        fields[name] = names
    return fields


def inference_env() -> set[str]:
    """Every variable the inference service reads."""
    return set().union(*inference_fields().values())


def environ_reads(paths: list[Path]) -> set[str]:
    """Literal names read via ``os.environ.get``, ``os.environ[...]``, ``os.getenv`` or a local
    alias of ``os.environ`` (``env = os.environ; env.get(...)``) in the given source files."""
    found: set[str] = set()
    for path in paths:
        tree = ast.parse(path.read_text(), str(path))
        aliases = {"environ"}
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign)
                and _is_environ(node.value, aliases)
                and all(isinstance(t, ast.Name) for t in node.targets)
            ):
                aliases |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args:
                func = node.func
                is_get = (
                    isinstance(func, ast.Attribute)
                    and func.attr == "get"
                    and _is_environ(func.value, aliases)
                )
                is_getenv = isinstance(func, ast.Attribute) and func.attr == "getenv"
                if (is_get or is_getenv) and _literal(node.args[0]):
                    found.add(_literal(node.args[0]))
            elif (
                isinstance(node, ast.Subscript)
                and _is_environ(node.value, aliases)
                and _literal(node.slice)
            ):
                found.add(_literal(node.slice))
    return found


def _is_environ(node: Any, aliases: set[str]) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr == "environ"
    return isinstance(node, ast.Name) and node.id in aliases


def _literal(node: Any) -> str:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""


#: Code that starts training runs from outside the Job (see the module docstring).
LAUNCHER_COMMAND = "cluster"
LAUNCHER_SOURCES = ("porto/cluster/", "porto_training/cluster_cli.py")


def _sources(module: ModuleType) -> list[Path]:
    return sorted(
        path
        for path in Path(next(iter(module.__path__))).rglob("*.py")
        if not any(part in path.as_posix() for part in LAUNCHER_SOURCES)
    )


def training_env() -> set[str]:
    """Every variable ``porto-train`` reads: option envvars, then direct environment reads."""
    import typer
    from porto_training.cli import app

    # typer ships its own copy of click, so commands are walked by shape, not by class.
    names: set[str] = set()
    stack: list[Any] = [typer.main.get_command(app)]
    while stack:
        command = stack.pop()
        for param in command.params:
            envvar = getattr(param, "envvar", None)
            names |= {envvar} if isinstance(envvar, str) else set(envvar or ())
        subcommands = getattr(command, "commands", {})
        stack += [c for name, c in subcommands.items() if name != LAUNCHER_COMMAND]
    return names | environ_reads(_sources(porto_training) + _sources(porto))


def train_command() -> Any:
    """The click command of ``porto-train train`` (to parse rendered arguments)."""
    import typer
    from porto_training.cli import app

    return typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]


def load_script(path: Path) -> ModuleType:
    """Import one of the chart's Python scripts as a module."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
