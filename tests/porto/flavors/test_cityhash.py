"""The category hash is CatBoost's own: every category a real CatBoost model one-hot encodes
appears among the model's exported values under our hash, for texts of every length class of
CityHash64 (0-16, 17-32, 33-64 and over 64 bytes, one and several 64-byte chunks, multi-byte
UTF-8)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
from porto.flavors.cityhash import catboost_category_hash, city_hash64

LENGTHS = [0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65, 100, 128, 129, 300]


def _texts() -> list[str]:
    rng = random.Random(3)
    alphabet = "abcxyz0123456789-_ éü€"
    return ["".join(rng.choice(alphabet) for _ in range(n)) for n in LENGTHS] + ["-1", "nan"]


def test_hashes_are_the_ones_catboost_keys_categories_by(tmp_path: Path) -> None:
    from catboost import CatBoostClassifier

    texts = _texts()
    assert len(set(texts)) == len(texts)
    rows = 60 * len(texts)
    rng = np.random.default_rng(0)
    category = [texts[i % len(texts)] for i in range(rows)]
    target = [(i % len(texts)) % 2 ^ int(rng.random() < 0.1) for i in range(rows)]
    model = CatBoostClassifier(
        iterations=30, depth=2, one_hot_max_size=255, verbose=False, allow_writing_files=False
    )
    model.fit(pd.DataFrame({"c": category, "x": rng.random(rows)}), target, cat_features=[0])
    model.save_model(str(tmp_path / "m.json"), format="json")
    exported = json.loads((tmp_path / "m.json").read_text())
    values = set(exported["features_info"]["categorical_features"][0]["values"])
    assert len(values) == len(texts)
    assert {catboost_category_hash(t) for t in texts} == values


def test_known_answers_and_range() -> None:
    # CityHash64 of the empty string is the constant k2 of the reference implementation.
    assert city_hash64(b"") == 0x9AE16A3B2F90404F
    for text in _texts():
        h = catboost_category_hash(text)
        assert -(1 << 31) <= h < (1 << 31)
        assert 0 <= city_hash64(text.encode()) < (1 << 64)
    assert catboost_category_hash("a") != catboost_category_hash("b")
