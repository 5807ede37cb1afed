"""Categories as codes: one vocabulary per categorical feature.

Category values arrive as ints, floats or strings and must become the strings training used
(:func:`porto.schema.canonical_category`: 3, 3.0 and "3" are one category). Each distinct raw
value is canonicalised once and cached with a small integer code, so a request's categories cost
a dict lookup each, the model gets exact strings, and drift statistics can bin codes with a
lookup table instead of comparing strings.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
from porto.schema import canonical_category

#: A vocabulary past this many strings starts afresh (bounds memory under unseen-value floods).
MAX_VOCABULARY = 100_000
#: ... or past this many characters of strings met after training (values may be 131,072
#: characters long: 100,000 of them would hold 13 GB per feature and worker).
MAX_VOCABULARY_CHARS = 16 * 1024 * 1024


class Vocabulary:
    """Canonical category strings of one categorical feature, each with a stable code.

    Training's categories come first (codes ``0..known-1``); strings met later are appended.
    ``raw`` caches raw request value → code, so a repeated value costs one dict lookup.
    """

    def __init__(
        self,
        categories: Sequence[str],
        *,
        numeric: bool,
        missing: str,
        overflow: list[bool] | None = None,
    ) -> None:
        self.numeric = numeric
        self.overflow = overflow if overflow is not None else [False]
        """Shared with the codec: set once any vocabulary of its set is full (checked in O(1))."""
        self.missing = missing
        self.known = len(categories)
        self.strings: list[str] = []
        self.index: dict[str, int] = {}
        self.raw: dict[Hashable, int] = {}
        self._lock = threading.Lock()
        self._array: np.ndarray | None = None
        self._index: Any = None
        self._numbers: tuple[int, np.ndarray, np.ndarray] | None = None
        self.chars = 0
        """Characters held for strings met after training (new strings and raw cache keys)."""
        self._budgeted = False
        for s in categories:
            self._add(s)
        self.missing_code = self._add(missing)
        self._budgeted = True  # training's strings are free; what requests add is counted

    def _add(self, canonical: str) -> int:
        code = self.index.get(canonical)
        if code is None:
            with self._lock:
                code = self.index.get(canonical)
                if code is None:
                    code = len(self.strings)
                    self.strings.append(canonical)
                    self.index[canonical] = code
                    self._array = None
                    if self._budgeted:
                        self._spend(len(canonical))
                    if code + 1 >= MAX_VOCABULARY:
                        self.overflow[0] = True
        return code

    def _spend(self, chars: int) -> None:
        self.chars += chars
        if self.chars >= MAX_VOCABULARY_CHARS:
            self.overflow[0] = True

    def canonical(self, value: Any) -> str | None:
        """The canonical string of a raw value; None if the value cannot be a category."""
        if value is None:
            return self.missing
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return self.missing
            if self.numeric:
                try:
                    number = float(text)
                except ValueError:
                    return text
                return self.missing if math.isnan(number) else canonical_category(number)
            return text
        if isinstance(value, (bool, int, float)):
            if isinstance(value, float) and math.isnan(value):
                return self.missing
            return canonical_category(value)
        return None

    def code(self, value: Any) -> int | None:
        """The code of a raw value (added when new); None if it cannot be a category."""
        try:
            return self.raw[value]
        except KeyError:
            pass
        except TypeError:  # unhashable: a list or an object
            return None
        canonical = self.canonical(value)
        if canonical is None:
            return None
        code = self._add(canonical)
        if len(self.raw) < MAX_VOCABULARY and self.chars < MAX_VOCABULARY_CHARS:
            self.raw[value] = code
            if type(value) is str:
                self._spend(len(value))
        return code

    def number_codes(self, values: np.ndarray) -> np.ndarray | None:
        """The codes of float64 ``values`` (none NaN) as :attr:`raw` gives them, in a few numpy
        calls instead of a dict lookup each; None when a value is not in :attr:`raw` (the caller
        then looks them up one by one, adding new ones). For a column of numbers (a CSV body's
        categories): 14 columns of 1,000 rows cost 0.6 ms one by one."""
        table = self._numbers
        if table is None or table[0] != len(self.raw):  # raw only grows: its size dates it
            table = self._numbers = self._number_table()
        keys, codes = table[1], table[2]
        if not len(keys):
            return None
        at = np.searchsorted(keys, values)
        np.minimum(at, len(keys) - 1, out=at)
        if not np.array_equal(keys[at], values):
            return None
        return codes[at]

    def _number_table(self) -> tuple[int, np.ndarray, np.ndarray]:
        """(size of raw, its number keys as sorted float64, their codes). A number key is found
        by any float equal to it, as a dict finds it (3 by 3.0); an int a float cannot hold
        exactly is left out (no float finds it in the dict either)."""
        size = len(self.raw)
        pairs = []
        for key, code in list(self.raw.items()):
            if isinstance(key, (int, float)) and key == key:  # bool is an int
                try:
                    number = float(key)
                except OverflowError:
                    continue
                if number == key:
                    pairs.append((number, code))
        pairs.sort()
        keys = np.array([k for k, _ in pairs], dtype=np.float64)
        codes = np.array([c for _, c in pairs], dtype=np.int32)
        return size, keys, codes

    @property
    def array(self) -> np.ndarray:
        """The strings as a numpy object array (code → string), rebuilt only after growth."""
        arr = self._array
        if arr is None or len(arr) != len(self.strings):
            arr = np.array(self.strings, dtype=object)
            self._array = arr
        return arr

    def categories_index(self) -> Any:
        """The strings as a pandas Index (for categorical columns), rebuilt only after growth."""
        import pandas as pd

        index = self._index
        if index is None or len(index) != len(self.strings):
            index = pd.Index(self.strings[:], dtype=object)
            self._index = index
        return index
