"""Figures the fault and fuzz suites measure (requests failed, rows lost...), printed in pytest's
terminal summary so a CI log shows them beside the verdict."""

from __future__ import annotations

FIGURES: dict[str, dict[str, float | int | str]] = {}


def record(scenario: str, **values: float | int | str) -> None:
    """Keep the figures of one scenario (a later call for the same scenario adds to them)."""
    FIGURES.setdefault(scenario, {}).update(values)


def lines() -> list[str]:
    """One line per scenario: ``scenario  key=value key=value``."""
    width = max((len(name) for name in FIGURES), default=0)
    return [
        f"{name:<{width}}  " + " ".join(f"{k}={v}" for k, v in values.items())
        for name, values in FIGURES.items()
    ]
