"""Fixtures of the chart tests: the pinned helm and kubeconform, and the offline schemas.

A missing tool fails the tests with the command that builds it (never a skip: CI must not pass
without checking the chart).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import kubeschemas
from harness.tools import MissingToolError, tool_path


@pytest.fixture(scope="session")
def kubeconform() -> Path:
    """The pinned kubeconform binary."""
    try:
        return tool_path("kubeconform")
    except MissingToolError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def helm_binary() -> Path:
    """The pinned helm binary (every chart test renders with it)."""
    try:
        return tool_path("helm")
    except MissingToolError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def schema_locations() -> list[str]:
    """kubeconform ``-schema-location`` values (built into ~/.cache/porto on first use)."""
    return kubeschemas.schema_locations()
