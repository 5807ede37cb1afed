"""Import ``dashboards/porto_dashboards`` (the dashboards' builder and PromQL helpers) for the
tests that read it. It lives beside the JSON it writes, outside any installed distribution; this
imports it without putting ``dashboards/`` itself, with its ``build.py`` and ``monitor.py``, on
everyone's import path."""

from __future__ import annotations

import importlib.util
import sys

from harness.tools import REPO_ROOT

DASHBOARDS_DIR = REPO_ROOT / "dashboards"


def import_porto_dashboards() -> None:
    """Make ``import porto_dashboards`` work (once)."""
    if "porto_dashboards" in sys.modules:
        return
    package = DASHBOARDS_DIR / "porto_dashboards"
    spec = importlib.util.spec_from_file_location(
        "porto_dashboards", package / "__init__.py", submodule_search_locations=[str(package)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["porto_dashboards"] = module
    spec.loader.exec_module(module)
