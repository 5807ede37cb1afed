"""The stratified train / validation / test holdout.

Validation data drives early stopping and the decision threshold; the test part is touched only
for the reported metrics, the champion comparison and the reference score distribution, so those
figures are honest estimates for unseen data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from porto.errors import DataError
from sklearn.model_selection import train_test_split

#: The fewest positives each part must get for its metrics to mean anything.
MIN_POSITIVES_PER_PART = 2


@dataclass(frozen=True)
class Split:
    """Row positions of the three parts (disjoint, covering every row)."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    def parts(self) -> dict[str, np.ndarray]:
        """Return the row positions by part name."""
        return {"train": self.train, "validation": self.validation, "test": self.test}

    def sizes(self) -> dict[str, int]:
        """Return the number of rows per part."""
        return {name: len(rows) for name, rows in self.parts().items()}


def stratified_split(
    y: np.ndarray, *, validation_fraction: float, test_fraction: float, seed: int
) -> Split:
    """Return a stratified split of rows ``0..len(y)-1``, reproducible from ``seed``."""
    y = np.asarray(y)
    positives = int(y.sum())
    needed = MIN_POSITIVES_PER_PART / min(validation_fraction, test_fraction)
    if positives < needed or len(y) - positives < needed:
        raise DataError(
            f"too few rows of each class to split: {positives} positives and "
            f"{len(y) - positives} negatives; each of validation and test needs "
            f"{MIN_POSITIVES_PER_PART} of both"
        )
    idx = np.arange(len(y))
    rest, test = train_test_split(
        idx, test_size=test_fraction, stratify=y, random_state=seed, shuffle=True
    )
    val_share = validation_fraction / (1.0 - test_fraction)
    train, validation = train_test_split(
        rest, test_size=val_share, stratify=y[rest], random_state=seed, shuffle=True
    )
    return Split(train=np.sort(train), validation=np.sort(validation), test=np.sort(test))
