"""Category vocabularies stay bounded under a flood of unseen values: by count and by the
characters they hold (values may be 131,072 characters long)."""

from __future__ import annotations

from typing import Any

import numpy as np
from inference.bundles import TrainedModel
from porto.synthetic import generate
from porto_inference.scoring.codec import FeatureCodec
from porto_inference.scoring.vocabulary import MAX_VOCABULARY_CHARS, Vocabulary

LONG = 131_072


def test_long_unseen_strings_fill_the_character_budget() -> None:
    vocab = Vocabulary(["a", "b"], numeric=False, missing="-1")
    assert vocab.chars == 0  # training's categories are free
    sent = 0
    while not vocab.overflow[0]:
        vocab.code(f"{sent:08d}" + "x" * (LONG - 8))
        sent += 1
        assert sent <= MAX_VOCABULARY_CHARS // LONG + 1, "the budget never filled"
    # Each value costs its canonical string and its raw cache key.
    assert vocab.chars < MAX_VOCABULARY_CHARS + 2 * LONG
    assert vocab.code("a") == 0  # still answers while full


def test_the_codec_starts_afresh_when_the_budget_is_spent(trained: TrainedModel) -> None:
    codec = FeatureCodec(trained.schema)
    record: dict[str, Any] = (
        generate(1, seed=4).frame.drop(columns=["target"]).to_dict("records")[0]
    )
    first = codec.current_vocabs()
    sent = 0
    while codec.current_vocabs() is first:
        record["ps_car_11_cat"] = f"{sent:08d}" + "y" * (LONG - 8)
        codec.encode_items([dict(record)])
        sent += 1
        assert sent <= MAX_VOCABULARY_CHARS // LONG + 1, "the codec kept its full vocabularies"
    assert sum(v.chars for v in first) < MAX_VOCABULARY_CHARS + 2 * LONG
    assert sum(v.chars for v in codec.current_vocabs()) == 0


def test_number_codes_are_the_raw_lookups_of_each_value() -> None:
    vocab = Vocabulary(["1", "2", "3"], numeric=True, missing="-1")
    for value in (1, 2.0, 3, -1, 2**60 + 1, 7.5, "4", True):
        vocab.code(value)
    values = np.array([3.0, 1.0, 2.0, -1.0, 7.5, 1.0, 3.0])
    expected = [vocab.raw[v] for v in values.tolist()]
    assert vocab.number_codes(values).tolist() == expected  # type: ignore[union-attr]
    assert vocab.number_codes(np.array([], dtype=np.float64)).tolist() == []  # type: ignore[union-attr]
    # a value raw does not hold: None, and the caller looks it up (and adds it) one by one
    assert vocab.number_codes(np.array([1.0, 8.0])) is None
    assert vocab.number_codes(np.array([4.0])) is None  # "4" is a text key: no float finds it
    # an int beyond a float's precision: the dict finds it by no float, nor does the table
    assert vocab.number_codes(np.array([float(2**60)])) is None
    code = vocab.code(8.0)
    assert vocab.number_codes(np.array([8.0, 1.0])).tolist() == [code, vocab.raw[1]]  # type: ignore[union-attr]


def test_number_codes_of_an_empty_cache_are_none() -> None:
    vocab = Vocabulary(["1"], numeric=True, missing="-1")
    assert vocab.number_codes(np.array([1.0])) is None
