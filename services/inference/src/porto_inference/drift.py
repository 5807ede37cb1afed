"""Data drift of live traffic against the served model's training reference (``reference.json``).

Each feature's recent values are binned with the reference's own bins (via
:mod:`porto.reference`) and compared by PSI over a sliding window of recent rows; the predicted
scores likewise. Requests only append their already-encoded arrays to a list (O(1)); the binning
runs in bulk, every ``drift_interval_s`` or once a few thousand rows are pending, so its cost per
row is a few vectorised numpy passes. The same pass counts missing values and categories never
seen in training.

The window is this worker's: gauges are exported at scrape time from the worker that answers the
scrape (a uniform sample of the traffic), so a new model or a dropped feature leaves no stale
series.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass

import numpy as np
from porto.reference import (
    FeatureReference,
    ReferenceStats,
    categorical_bin_index,
    numeric_bin_index,
    psi,
)

from porto_inference.codec import EncodedBatch
from porto_inference.metrics import Metrics
from porto_inference.model import ServedModel
from porto_inference.settings import Settings
from porto_inference.vocabulary import Vocabulary

log = logging.getLogger("porto_inference.drift")

#: Pending rows that trigger binning right away instead of at the next interval.
PROCESS_ROWS = 1024
#: Rows of a large batch that join the PSI window (a random sample; all rows are counted).
SAMPLE_ROWS = 256


@dataclass
class _Chunk:
    rows: int
    counts: list[np.ndarray]
    scores: np.ndarray | None


class DriftMonitor:
    """Sliding-window PSI, missing rates and unseen categories for the served model."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.model: ServedModel | None = None
        self._refs: list[FeatureReference | None] = []
        self._pending: list[tuple[EncodedBatch, np.ndarray, bool]] = []
        self._rng = np.random.default_rng()
        self._pending_rows = 0
        self._window: deque[_Chunk] = deque()
        self._window_rows = 0
        self._luts: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
        self.psi: dict[str, float] = {}
        self.missing_ratio: dict[str, float] = {}
        self.score_psi: float | None = None
        self._task: asyncio.Task[None] | None = None

    def reset(self, model: ServedModel) -> None:
        """Start a fresh window against ``model``'s reference (called on every swap)."""
        self.model = model
        reference: ReferenceStats | None = model.reference
        codec = model.codec
        by_name = {f.name: f for f in reference.features} if reference else {}
        self._refs = [by_name.get(name) for name in (*codec.num_names, *codec.cat_names)]
        self._pending = []
        self._pending_rows = 0
        self._window.clear()
        self._window_rows = 0
        self._luts = {}
        self.psi = {}
        self.missing_ratio = {}
        self.score_psi = None

    def observe(self, model: ServedModel, batch: EncodedBatch, scores: np.ndarray) -> None:
        """Remember a scored batch of the served model (other versions are not monitored).

        A large batch is counted (missing values, unseen categories) exactly right away, in a
        few vectorised passes, and only a random sample of its rows joins the PSI window: the
        distribution needs a sample, and binning every row of every batch would cost more than
        scoring it.
        """
        if model is not self.model:
            return
        if batch.rows > SAMPLE_ROWS:
            self._publish_counts(*self._quality(batch.num, batch.codes, batch.vocabs))
            pick = self._rng.choice(batch.rows, SAMPLE_ROWS, replace=False)
            batch = EncodedBatch(
                num=batch.num[pick],
                codes=batch.codes[pick],
                vocabs=batch.vocabs,
                ids=None,
                raw=None,
            )
            self._pending.append((batch, scores[pick], True))
        else:
            self._pending.append((batch, scores, False))
        self._pending_rows += batch.rows
        if self._pending_rows >= PROCESS_ROWS:
            self.process()

    async def run(self) -> None:
        """Process pending rows every ``drift_interval_s`` until cancelled."""
        while True:
            await asyncio.sleep(self.settings.drift_interval_s)
            try:
                self.process()
            except Exception:
                log.exception("drift computation failed")

    def start(self) -> None:
        """Start the periodic task."""
        self._task = asyncio.create_task(self.run(), name="drift-monitor")

    async def stop(self) -> None:
        """Stop the periodic task."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def process(self) -> None:
        """Bin the pending rows, slide the window, update PSI and the counters."""
        model = self.model
        if model is None or not self._pending:
            return
        pending, self._pending, self._pending_rows = self._pending, [], 0
        codec = model.codec
        names = [*codec.num_names, *codec.cat_names]
        # Group by vocabulary set (codes are only comparable within one) and by whether the rows
        # were already counted (samples of large batches).
        groups: dict[tuple[int, bool], list[tuple[EncodedBatch, np.ndarray, bool]]] = {}
        for item in pending:
            groups.setdefault((id(item[0].vocabs), item[2]), []).append(item)
        for (_, counted), items in groups.items():
            num = np.concatenate([b.num for b, _, _ in items])
            codes = np.concatenate([b.codes for b, _, _ in items])
            scores = np.concatenate([s for _, s, _ in items])
            vocabs = items[0][0].vocabs
            counts = self._count(num, codes, vocabs)
            score_counts = None
            if model.reference is not None:
                edges = np.asarray(model.reference.score.edges)
                score_counts = np.histogram(np.clip(scores, 0.0, 1.0), bins=edges)[0]
            self._window.append(_Chunk(rows=len(scores), counts=counts, scores=score_counts))
            self._window_rows += len(scores)
            if not counted:
                self._publish_counts(*self._quality(num, codes, vocabs))
        while self._window and self._window_rows - self._window[0].rows >= (
            self.settings.drift_window_rows
        ):
            self._window_rows -= self._window.popleft().rows
        self._summarise(names, model)

    def _count(
        self, num: np.ndarray, codes: np.ndarray, vocabs: list[Vocabulary]
    ) -> list[np.ndarray]:
        """Rows per reference bin, per feature (numeric features first, as in ``_refs``)."""
        counts: list[np.ndarray] = []
        refs = self._refs
        k_num = num.shape[1]
        for j in range(k_num):
            ref = refs[j]
            if ref is not None and ref.edges is not None:
                idx = numeric_bin_index(num[:, j], ref.edges)
                counts.append(np.bincount(idx, minlength=len(ref.edges) + 2))
            else:
                counts.append(np.zeros(0, dtype=np.int64))
        for j, vocab in enumerate(vocabs):
            ref = refs[k_num + j]
            bins, _ = self._lut(vocab, ref)
            if bins.size and ref is not None:
                counts.append(np.bincount(bins[codes[:, j]], minlength=len(ref.fractions)))
            else:
                counts.append(np.zeros(0, dtype=np.int64))
        return counts

    def _quality(
        self, num: np.ndarray, codes: np.ndarray, vocabs: list[Vocabulary]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Missing values per feature (numeric first) and unseen categories per categorical
        feature, counted exactly."""
        missing_num = np.isnan(num).sum(axis=0)
        missing_codes = np.array([v.missing_code for v in vocabs], dtype=codes.dtype)
        missing_cat = (codes == missing_codes).sum(axis=0)
        k_num = num.shape[1]
        unseen = np.array(
            [
                int(self._lut(v, self._refs[k_num + j])[1][codes[:, j]].sum())
                for j, v in enumerate(vocabs)
            ],
            dtype=np.int64,
        )
        return np.concatenate([missing_num, missing_cat]), unseen

    def _publish_counts(self, missing: np.ndarray, unseen: np.ndarray) -> None:
        model = self.model
        if model is None:
            return
        codec = model.codec
        for name, m in zip([*codec.num_names, *codec.cat_names], missing.tolist(), strict=True):
            if m:
                self.metrics.feature_missing.labels(name).inc(m)
        for name, u in zip(codec.cat_names, unseen.tolist(), strict=True):
            if u:
                self.metrics.unseen_categories.labels(name).inc(u)

    def _lut(
        self, vocab: Vocabulary, ref: FeatureReference | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Code → reference bin, and code → unseen-in-training, for one vocabulary."""
        size = len(vocab.strings)
        key = id(vocab)
        cached = self._luts.get(key)
        if cached is None or cached[0] != size:
            strings = np.array(vocab.strings[:size], dtype=object)
            codes = np.arange(size)
            missing = self.model.codec.missing_strings if self.model else set()
            unseen = (codes >= vocab.known) & ~np.isin(strings, list(missing))
            if ref is not None and ref.categories is not None:
                bins = categorical_bin_index(strings, ref.categories, missing)
                # Bins beyond the reference's (none exist, but be safe) fold into "other".
                bins = np.minimum(bins, len(ref.categories) + 1)
            else:
                bins = np.zeros(0, dtype=np.int64)
            cached = (size, bins, unseen)
            self._luts[key] = cached
        return cached[1], cached[2]

    def _summarise(self, names: list[str], model: ServedModel) -> None:
        if not self._window:
            return
        rows = self._window_rows
        psis: dict[str, float] = {}
        missing: dict[str, float] = {}
        for f, (name, ref) in enumerate(zip(names, self._refs, strict=True)):
            if ref is None:
                continue
            total = np.zeros(len(ref.fractions), dtype=np.int64)
            for chunk in self._window:
                c = chunk.counts[f]
                if c.size:
                    total[: min(len(total), c.size)] += c[: len(total)]
            psis[name] = psi(ref.fractions, total)
            missing[name] = float(total[-1]) / rows if rows else 0.0
        self.psi = psis
        self.missing_ratio = missing
        if model.reference is not None:
            score_total = sum(
                (c.scores for c in self._window if c.scores is not None),
                start=np.zeros(len(model.reference.score.fractions), dtype=np.int64),
            )
            self.score_psi = psi(model.reference.score.fractions, score_total)

    @property
    def window_rows(self) -> int:
        """Rows in the current window."""
        return self._window_rows
