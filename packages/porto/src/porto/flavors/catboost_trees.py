"""CatBoost's oblivious trees evaluated with numpy, for the few rows of a small request.

Scoring one row through CatBoost costs about 90 µs on this project's 2-core machine, almost all
of it fixed per call (building a ``Pool`` from Python objects, then the predict call's own set-up)
whatever the model's size: a third of a single-row request's CPU. A model whose trees are plain
oblivious trees over float features, one-hot categories and single-category CTRs is simple to
evaluate directly: binarize each row against the model's split conditions, read each tree's
leaf from its bits, sum. This module compiles such a model from CatBoost's own JSON export into a
few numpy arrays; a row then costs a dozen numpy calls.

Exactness is checked, not assumed: :func:`compile_trees` scores probe rows (every border, either
side of it, missing values, every known category, unseen ones) with both the evaluator and
CatBoost and returns None (CatBoost keeps scoring) on any difference above 1e-9, or when the
model uses anything the evaluator does not implement (category combinations, CTR types other than
Borders and Counter, text or embedding features, more than one output).

Category strings are keyed as CatBoost keys them: the low 32 bits of CityHash64 of the text
(:mod:`porto.flavors.cityhash`), hashed once per distinct string.
"""

from __future__ import annotations

import json
import logging
import math
import operator
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from porto.flavors.base import CodedRows
from porto.flavors.cityhash import catboost_category_hash
from porto.schema import FeatureKind, FeatureSchema

log = logging.getLogger(__name__)

#: Largest difference from CatBoost's probability the self-check accepts.
TOLERANCE = 1e-9
#: CatBoost's multiplier for hashing a CTR's projection (its ``CalcHash``).
_PROJECTION_MULT = 0x4906BA494954CB65
_MASK = (1 << 64) - 1
#: Probe strings the self-check scores besides the known categories: never seen in training.
_UNSEEN = ("porto-unseen-category", "")


class UnsupportedModelError(Exception):
    """The model uses something this evaluator does not implement."""


def projection_hash(category_hash: int) -> int:
    """The key of a single-category CTR's table for a category hash (CatBoost's ``CalcHash``
    of the hash, sign-extended, with a zero seed)."""
    b = category_hash & _MASK
    return (_PROJECTION_MULT * ((_PROJECTION_MULT * b) & _MASK)) & _MASK


@dataclass(frozen=True)
class _Ctr:
    """One CTR over one categorical feature: its value per projection key, and for a miss."""

    feature: int
    """The categorical feature's index among the model's categorical features."""
    values: dict[int, float]
    empty: float


class TreeEvaluator:
    """P(class 1) of a compiled CatBoost model, for :class:`CodedRows`."""

    def __init__(self, model: dict[str, Any], schema: FeatureSchema) -> None:
        info = model["features_info"]
        for extra in ("text_features", "embedding_features"):
            if info.get(extra):
                raise UnsupportedModelError(extra.replace("_", " "))
        positions = [f.kind is FeatureKind.CATEGORICAL for f in schema.features]
        num_column = {pos: j for j, pos in enumerate(p for p, c in enumerate(positions) if not c)}
        cat_column = {pos: j for j, pos in enumerate(p for p, c in enumerate(positions) if c)}
        self.n_cat = len(cat_column)

        floats = {f["feature_index"]: f for f in info.get("float_features", [])}
        cats = {f["feature_index"]: f for f in info.get("categorical_features", [])}
        ctrs = list(info.get("ctrs", []))
        self._float_bits: list[tuple[int, float, bool]] = []  # (column, border, nan is true)
        self._cat_bits: list[tuple[int, str, Any]] = []  # (column, "onehot"/"ctr", detail)
        self._ctrs: dict[int, _Ctr] = {}
        bit_of: dict[tuple[Any, ...], int] = {}
        trees = model["oblivious_trees"]
        tree_splits = [t.get("splits") or [] for t in trees]  # a depth-0 tree has null
        depth = max(map(len, tree_splits), default=0)
        splits = np.zeros((len(trees), max(depth, 1)), dtype=np.int64)
        leaves = np.zeros((len(trees), 1 << depth), dtype=np.float64)
        pending: list[tuple[int, int, tuple[Any, ...]]] = []
        for t, (tree, own) in enumerate(zip(trees, tree_splits, strict=True)):
            values = tree["leaf_values"]
            if len(values) != 1 << len(own):
                raise UnsupportedModelError("trees with more than one value per leaf")
            leaves[t, : len(values)] = values
            for d, split in enumerate(own):
                pending.append((t, d, self._condition(split, floats, cats, ctrs, model)))
            for d in range(len(own), max(depth, 1)):
                pending.append((t, d, ("never",)))
        # Bits in a fixed order: floats, then categories, then the always-false padding bit.
        rank = {"float": 0, "onehot": 1, "ctr": 1, "never": 2}
        ordered = sorted({c for _, _, c in pending}, key=lambda c: (rank[c[0]], repr(c)))
        for key in ordered:
            bit_of[key] = len(bit_of)
            if key[0] == "float":
                self._float_bits.append((num_column[key[1]], key[2], key[3]))
            elif key[0] in ("onehot", "ctr"):
                self._cat_bits.append((cat_column[key[1]], key[0], key[2:]))
        for t, d, key in pending:
            splits[t, d] = bit_of[key]
        self._splits = splits
        self._weights = 1 << np.arange(splits.shape[1], dtype=np.int64)
        self._leaf_base = (np.arange(len(trees), dtype=np.int64) << depth)[None, :]
        self._leaves = leaves.ravel()
        self._n_float = len(self._float_bits)
        self._n_bits = len(bit_of)
        self._cat_end = self._n_float + len(self._cat_bits)
        self._float_cols = np.array([c for c, _, _ in self._float_bits], dtype=np.int64)
        self._borders = np.array([b for _, b, _ in self._float_bits], dtype=np.float32)
        nan_true = np.array([n for _, _, n in self._float_bits], dtype=bool)
        self._nan_true = nan_true if nan_true.any() else None
        scale, bias = model.get("scale_and_bias", [1.0, [0.0]])
        bias_values = bias if isinstance(bias, list) else [bias]
        if len(bias_values) != 1:
            raise UnsupportedModelError("more than one output")
        self._scale = float(scale)
        self._bias = float(bias_values[0])
        self._lock = threading.Lock()
        self._codes = _CodeTable.empty(self.n_cat, len(self._cat_bits))
        self._bits_of_column: list[list[tuple[int, str, Any]]] = [[] for _ in range(self.n_cat)]
        for i, (column, kind, detail) in enumerate(self._cat_bits):
            self._bits_of_column[column].append((i, kind, detail))

    def float_borders(self) -> list[tuple[int, float]]:
        """Each (numeric column, border) the model's trees compare."""
        return [(column, border) for column, border, _ in self._float_bits]

    def _condition(
        self,
        split: dict[str, Any],
        floats: dict[int, Any],
        cats: dict[int, Any],
        ctrs: list[dict[str, Any]],
        model: dict[str, Any],
    ) -> tuple[Any, ...]:
        """A split as a hashable key: what the bit compares."""
        kind = split["split_type"]
        if kind == "FloatFeature":
            feature = floats[split["float_feature_index"]]
            nan_true = feature.get("nan_value_treatment") == "AsTrue"
            border = float(np.float32(split["border"]))
            return ("float", feature["flat_feature_index"], border, nan_true)
        if kind == "OneHotFeature":
            feature = cats[split["cat_feature_index"]]
            return ("onehot", feature["flat_feature_index"], int(split["value"]))
        if kind == "OnlineCtr":
            position = _ctr_position(split, model["features_info"])
            ctr = self._ctr(position, ctrs[position], model)
            border = float(np.float32(split["border"]))
            return ("ctr", cats[ctr.feature]["flat_feature_index"], position, border)
        raise UnsupportedModelError(f"{kind} splits")

    def _ctr(self, position: int, spec: dict[str, Any], model: dict[str, Any]) -> _Ctr:
        """The CTR at ``position`` in the export's list. CTRs that differ only in their prior
        share an identifier and a table of counts."""
        if position in self._ctrs:
            return self._ctrs[position]
        identifier = spec["identifier"]
        elements = spec["elements"]
        if len(elements) != 1 or elements[0].get("combination_element") != "cat_feature_value":
            raise UnsupportedModelError("CTRs over combinations of features")
        table = model.get("ctr_data", {}).get(identifier)
        if table is None:
            raise UnsupportedModelError("a CTR without its table")
        ctr_type = spec["ctr_type"]
        stride = int(table["hash_stride"])
        flat = table["hash_map"]
        prior_num = np.float32(spec["prior_numerator"])
        prior_den = np.float32(spec["prior_denomerator"])
        shift, scale = np.float32(spec["shift"]), np.float32(spec["scale"])

        def calc(good: float, total: float) -> float:
            # CatBoost computes CTR values in single precision.
            ratio = (np.float32(good) + prior_num) / (np.float32(total) + prior_den)
            return float((np.float32(ratio) + shift) * scale)

        values: dict[int, float] = {}
        if ctr_type == "Borders" and stride == 3 and int(spec.get("target_border_idx", 0)) == 0:
            for i in range(0, len(flat), 3):
                bad, good = int(flat[i + 1]), int(flat[i + 2])
                values[int(flat[i])] = calc(good, bad + good)
            empty = calc(0, 0)
        elif ctr_type == "Counter" and stride == 2:
            denominator = float(table.get("counter_denominator", 0))
            for i in range(0, len(flat), 2):
                values[int(flat[i])] = calc(int(flat[i + 1]), denominator)
            empty = calc(0, denominator)
        else:
            raise UnsupportedModelError(f"{ctr_type} CTRs")
        ctr = _Ctr(feature=int(elements[0]["cat_feature_index"]), values=values, empty=empty)
        self._ctrs[position] = ctr
        return ctr

    def _category_bits(self, column: int, text_hash: int) -> np.ndarray:
        """The category bits one category of ``column`` sets (others' bits stay false)."""
        bits = np.zeros(len(self._cat_bits), dtype=bool)
        for i, kind, detail in self._bits_of_column[column]:
            if kind == "onehot":
                bits[i] = text_hash == detail[0]
            else:
                position, border = detail
                ctr = self._ctrs[position]
                bits[i] = ctr.values.get(projection_hash(text_hash), ctr.empty) > border
        return bits

    def _code_table(self, codes: np.ndarray, categories: Sequence[Sequence[str]]) -> _CodeTable:
        """A table covering every code in ``codes`` for these category lists: the current one,
        or (categories met since, or other lists) a new one, built outside the readers' way."""
        with self._lock:
            current = self._codes
            if not current.serves(categories):
                current = _CodeTable.empty(self.n_cat, len(self._cat_bits), categories)
            needed = codes.max(axis=0) + 1 if codes.size else current.sizes
            if (needed <= current.sizes).all() and current is self._codes:
                return current
            patterns = dict(current.patterns)
            pattern_of: list[list[int]] = []
            for j in range(self.n_cat):
                strings, known = categories[j], list(current.pattern_of[j])
                # Some slack, so a stream of new categories does not rebuild on every request.
                want = max(int(needed[j]), len(known) + len(known) // 4 + 8)
                for text in strings[len(known) : min(len(strings), want)]:
                    bits = self._category_bits(j, catboost_category_hash(text)).tobytes()
                    known.append(patterns.setdefault(bits, len(patterns)))
                pattern_of.append(known)
            self._codes = _CodeTable.build(categories, pattern_of, patterns, len(self._cat_bits))
            return self._codes

    def predict(self, rows: CodedRows) -> np.ndarray:
        """P(class 1) per row."""
        n = rows.numbers.shape[0]
        bits = np.zeros((n, self._n_bits), dtype=bool)
        x = rows.numbers.astype(np.float32)[:, self._float_cols]
        np.greater(x, self._borders, out=bits[:, : self._n_float])
        if self._nan_true is not None:
            bits[:, : self._n_float] |= np.isnan(x) & self._nan_true
        if self.n_cat:
            codes, known = rows.codes, self._codes
            if not known.serves(rows.categories) or (codes >= known.sizes).any():
                known = self._code_table(codes, rows.categories)
            patterns = known.pattern[codes + known.offsets]
            bits[:, self._n_float : self._cat_end] = known.table[patterns].any(axis=1)
        index = bits[:, self._splits].astype(np.int64) @ self._weights
        # Tree by tree, as CatBoost adds them (cumsum is sequential; sum is pairwise), and the
        # sigmoid with the C library's exp (numpy's differs in the last bit for some values):
        # a row gets the very same float as through CatBoost.
        raw = self._leaves[index + self._leaf_base].cumsum(axis=1)[:, -1] * self._scale
        return np.fromiter(map(_sigmoid, (raw + self._bias).tolist()), np.float64, count=n)


def _sigmoid(raw: float) -> float:
    try:
        return 1.0 / (1.0 + math.exp(-raw))
    except OverflowError:  # raw below about -709
        return 0.0


@dataclass(frozen=True)
class _CodeTable:
    """Per category code, the category bits it sets. Codes map to bit patterns (``pattern``,
    at ``offsets[feature] + code``), patterns to bits (``table``): every category the model
    never saw sets the same bits, so a vocabulary that grows by thousands of unseen strings
    adds four bytes per string, not a row of bits. Replaced whole, never changed, so readers
    need no lock."""

    sources: tuple[Sequence[str], ...]
    """The category lists the codes index."""
    pattern_of: tuple[tuple[int, ...], ...]
    patterns: dict[bytes, int]
    sizes: np.ndarray
    offsets: np.ndarray
    pattern: np.ndarray
    table: np.ndarray

    @classmethod
    def empty(cls, features: int, bits: int, sources: Sequence[Sequence[str]] = ()) -> _CodeTable:
        return cls.build(sources, [[] for _ in range(features)], {}, bits)

    @classmethod
    def build(
        cls,
        sources: Sequence[Sequence[str]],
        pattern_of: Sequence[Sequence[int]],
        patterns: dict[bytes, int],
        bits: int,
    ) -> _CodeTable:
        sizes = np.array([len(p) for p in pattern_of], dtype=np.int64)
        offsets = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
        pattern = np.fromiter(
            (p for feature in pattern_of for p in feature), np.int64, int(sizes.sum())
        )
        table = np.zeros((len(patterns), bits), dtype=bool)
        for key, row in patterns.items():
            table[row] = np.frombuffer(key, dtype=bool)
        return cls(
            tuple(sources),
            tuple(tuple(p) for p in pattern_of),
            patterns,
            sizes,
            offsets,
            pattern,
            table,
        )

    def serves(self, categories: Sequence[Sequence[str]]) -> bool:
        """Whether the codes index these very lists."""
        sources = self.sources
        return len(sources) == len(categories) and all(map(operator.is_, sources, categories))


def _ctr_position(split: dict[str, Any], info: dict[str, Any]) -> int:
    """The CTR an ``OnlineCtr`` split compares. The export names it only by ``split_index``,
    the split's place among all of the model's binary features, numbered in the export's
    order: every float feature's borders, every categorical feature's one-hot values, every
    CTR's borders."""
    index = int(split["split_index"])
    index -= sum(len(f.get("borders", [])) for f in info.get("float_features", []))
    index -= sum(len(f.get("values", [])) for f in info.get("categorical_features", []))
    for position, ctr in enumerate(info.get("ctrs", [])):
        borders = ctr.get("borders", [])
        if 0 <= index < len(borders):
            if float(np.float32(borders[index])) != float(np.float32(split["border"])):
                raise UnsupportedModelError("a CTR split whose border is not its CTR's")
            return position
        index -= len(borders)
    raise UnsupportedModelError("a CTR split outside the model's CTRs")


def compile_trees(estimator: Any, schema: FeatureSchema) -> TreeEvaluator | None:
    """The evaluator for a fitted CatBoost model, or None when the model uses something it does
    not implement or it disagrees with CatBoost on the probe rows (both logged)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.json"
        estimator.save_model(str(path), format="json")
        exported = json.loads(path.read_text())
    try:
        evaluator = TreeEvaluator(exported, schema)
    except (UnsupportedModelError, KeyError, TypeError, ValueError) as exc:
        log.debug("CatBoost scores every batch: the model has %s", exc)
        return None
    try:
        difference = _self_check(evaluator, estimator, schema)
    except Exception as exc:  # e.g. a model trained with nan_mode Forbidden refuses the probes
        log.debug("CatBoost scores every batch: the probe rows failed (%s)", exc)
        return None
    if difference > TOLERANCE:
        log.warning(
            "CatBoost scores every batch: the tree evaluator differs from it by %.3g", difference
        )
        return None
    return evaluator


def probe_rows(schema: FeatureSchema, rows: int = 256, seed: int = 0) -> CodedRows:
    """Rows for checking a model of ``schema``: numbers spread between the schema's minimum and
    maximum, both ends and missing values; every known category of each feature, and unseen
    ones."""
    rng = np.random.default_rng(seed)
    numbers: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    categories: list[list[str]] = []
    for spec in schema.features:
        if spec.kind is FeatureKind.CATEGORICAL:
            known = list(spec.categories or [])
            strings = known + [s for s in _UNSEEN if s not in known]
            categories.append(strings)
            column = np.arange(rows) % len(strings)
            codes.append(rng.permutation(column))
        else:
            low = spec.min if spec.min is not None else -1.0
            high = spec.max if spec.max is not None else 1.0
            spread = rng.uniform(low, high, rows)
            if spec.dtype == "int":
                spread = np.round(spread)
            spread[rng.random(rows) < 0.1] = np.nan
            spread[:4] = [low, high, (low + high) / 2, np.nan]
            numbers.append(spread)
    return CodedRows(
        numbers=np.column_stack(numbers) if numbers else np.empty((rows, 0)),
        codes=np.column_stack(codes).astype(np.int64) if codes else np.empty((rows, 0), np.int64),
        categories=categories,
    )


def _self_check(evaluator: TreeEvaluator, estimator: Any, schema: FeatureSchema) -> float:
    """The largest difference between the evaluator and CatBoost on :func:`probe_rows`, with
    the float borders the model actually splits on added to the probes."""
    from catboost import Pool

    by_column: dict[int, list[float]] = {}
    for column, border in evaluator.float_borders():
        by_column.setdefault(column, []).append(border)
    widest = max(map(len, by_column.values()), default=0)
    probes = probe_rows(schema, rows=max(256, 3 * widest))
    numbers = probes.numbers.copy()
    # Each border exactly and the float32 values either side of it: a column's i-th border in
    # rows 3i to 3i+2 (rows hold one border of every column, so a model with many borders
    # needs no more rows than its column with the most).
    with np.errstate(over="ignore"):
        for column, values in by_column.items():
            for i, border in enumerate(values):
                at = np.float32(border)
                below = np.nextafter(at, np.float32(-np.inf))
                above = np.nextafter(at, np.float32(np.inf))
                numbers[3 * i : 3 * i + 3, column] = [float(at), float(below), float(above)]
    probes = CodedRows(numbers=numbers, codes=probes.codes, categories=probes.categories)
    matrix = np.empty((len(numbers), len(schema.features)), dtype=object)
    num_j = cat_j = 0
    for pos, spec in enumerate(schema.features):
        if spec.kind is FeatureKind.CATEGORICAL:
            strings = np.array(probes.categories[cat_j], dtype=object)
            matrix[:, pos] = strings[probes.codes[:, cat_j]]
            cat_j += 1
        else:
            matrix[:, pos] = numbers[:, num_j]
            num_j += 1
    pool = Pool(matrix, cat_features=schema.categorical_indices or None, thread_count=1)
    expected = estimator.predict(pool, prediction_type="Probability", thread_count=1)[:, 1]
    # In chunks, as the evaluator is used: its arrays grow with rows × trees × depth.
    got = np.concatenate(
        [
            evaluator.predict(
                CodedRows(numbers[i : i + 256], probes.codes[i : i + 256], probes.categories)
            )
            for i in range(0, len(numbers), 256)
        ]
    )
    return float(np.max(np.abs(got - expected))) if len(got) else 0.0
