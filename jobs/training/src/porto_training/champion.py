"""Champion or not: a new version replaces the champion only if asked to, if there is none yet,
or if it beats the champion on the SAME rows — this run's test holdout, which neither model
trained on (the champion's own reported AUC came from different rows and is not comparable).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from porto.bundle import read_file
from porto.contracts.run import ChampionDecision
from porto.errors import NotFoundError, PortoError
from porto.flavors import load_model
from porto.registry import CHAMPION, Registry
from porto.schema import model_frame
from sklearn.metrics import roc_auc_score


@dataclass(frozen=True)
class ChampionComparison:
    """The outcome of scoring the current champion on this run's test holdout."""

    challenger_auc: float
    champion_version: str | None = None
    champion_auc: float | None = None
    #: None when there is no champion or it could not be scored on these rows.
    challenger_wins: bool | None = None
    note: str = ""


def compare_with_champion(
    registry: Registry, raw_test: pd.DataFrame, y_test: np.ndarray, challenger_auc: float
) -> ChampionComparison:
    """Return how the challenger's test AUC compares with the champion's on the same rows.

    The champion is loaded from its verified bundle and fed ``raw_test`` (raw columns) through
    its own feature schema, so a champion trained on other features is still judged fairly; if
    this data lacks its columns, or it cannot be loaded, the comparison is recorded as not
    possible rather than failing the run.
    """
    try:
        manifest = registry.get(CHAMPION)
    except NotFoundError:
        return ChampionComparison(challenger_auc, note="no champion yet")
    try:
        model = load_model(
            manifest.model_type, read_file(registry.store, manifest, manifest.model_file)
        )
        frame = model_frame(raw_test, manifest.feature_schema)
        scores = model.predict_proba(frame)
    except KeyError as exc:
        return ChampionComparison(
            challenger_auc,
            champion_version=manifest.version,
            note=f"champion {manifest.version} needs column {exc.args[0]!r}, absent from this data",
        )
    except (PortoError, ValueError, TypeError) as exc:
        return ChampionComparison(
            challenger_auc,
            champion_version=manifest.version,
            note=f"champion {manifest.version} could not be scored: {exc}",
        )
    champion_auc = float(roc_auc_score(y_test, scores))
    wins = challenger_auc > champion_auc
    return ChampionComparison(
        challenger_auc,
        champion_version=manifest.version,
        champion_auc=champion_auc,
        challenger_wins=wins,
        note=f"AUC on this run's test holdout: challenger {challenger_auc:.4f} vs champion "
        f"{champion_auc:.4f}",
    )


def decide_promotion(comparison: ChampionComparison, *, promote: bool) -> ChampionDecision:
    """Return whether a new version becomes champion, why, and the comparison it rests on (the
    record the run's metrics keep as ``champion_comparison``)."""
    promoted, reason = _verdict(comparison, promote=promote)
    return ChampionDecision(
        challenger_auc=comparison.challenger_auc,
        champion_version=comparison.champion_version,
        champion_auc=comparison.champion_auc,
        challenger_wins=comparison.challenger_wins,
        note=comparison.note,
        promoted=promoted,
        reason=reason,
    )


def _verdict(comparison: ChampionComparison, *, promote: bool) -> tuple[bool, str]:
    if promote:
        return True, "promoted on request (--promote)"
    if comparison.champion_version is None:
        return True, "first model: becomes champion"
    if comparison.challenger_wins:
        return True, f"beats champion {comparison.champion_version} on the same holdout"
    if comparison.challenger_wins is False:
        return False, f"does not beat champion {comparison.champion_version}"
    return False, f"champion {comparison.champion_version} kept: {comparison.note}"
