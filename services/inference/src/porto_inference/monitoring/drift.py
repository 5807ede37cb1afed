"""Data drift of live traffic against the served model's training reference (``reference.json``).

Each feature's recent values are binned with the reference's own bins (via
:mod:`porto.reference`) and compared by PSI over a sliding window of recent rows; the predicted
scores likewise. Requests only append their already-encoded arrays to a list (O(1)); the binning
runs in bulk, every ``drift_interval_s`` or once a few thousand rows are pending, so its cost per
row is a few vectorised numpy passes. The same pass counts missing values and categories never
seen in training.

Under gunicorn each worker keeps the window of its own traffic (``drift_window_rows`` divided
among the workers) and, after every pass, writes the window's bin counts to a small JSON file in
the metrics directory. Whichever worker answers a scrape merges the files of the live workers per
model version, so every scrape reports the same figures: one PSI per feature and version over
everything the workers saw. Gauges are built at scrape time, so a new model or a dropped feature
leaves no stale series. A large batch joins the window as a random sample weighted by the rows it
stands for, so the window counts every row.
"""

from __future__ import annotations

import logging
import math
import os
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from porto.reference import (
    FeatureReference,
    ReferenceStats,
    categorical_bin_index,
    numeric_bin_index,
    psi,
)

from porto_inference.monitoring.metrics import MULTIPROC_ENV, InputMetrics
from porto_inference.periodic import PeriodicTask
from porto_inference.settings import Settings

if TYPE_CHECKING:
    from porto_inference.scoring.batch import EncodedBatch
    from porto_inference.scoring.model import ServedModel
    from porto_inference.scoring.vocabulary import Vocabulary

log = logging.getLogger("porto_inference.drift")

#: Pending rows that trigger binning right away instead of at the next interval.
PROCESS_ROWS = 1024
#: Rows of a large batch binned for the PSI window: a random sample, each row weighted by the
#: rows it stands for, so the window counts the whole batch.
SAMPLE_ROWS = 256
#: Snapshot files in the metrics directory: ``drift_<pid>.json``.
SNAPSHOT_GLOB = "drift_*.json"


@dataclass
class _Chunk:
    rows: float
    counts: list[np.ndarray]
    scores: np.ndarray | None


@dataclass
class VersionDrift:
    """Drift of one model version over the merged windows of the live workers that serve it."""

    rows: float = 0.0
    psi: dict[str, float] = field(default_factory=dict)
    missing_ratio: dict[str, float] = field(default_factory=dict)
    score_psi: float | None = None


def _shared_dir() -> Path | None:
    """The gunicorn workers' shared metrics directory, or None in a single process."""
    path = os.environ.get(MULTIPROC_ENV)
    return Path(path) if path else None


def snapshot_path(directory: Path, pid: int) -> Path:
    """Where worker ``pid`` keeps its window's counts."""
    return directory / f"drift_{pid}.json"


def remove_snapshot(pid: int) -> None:
    """Forget a dead worker's window (gunicorn's ``child_exit``)."""
    directory = _shared_dir()
    if directory is not None:
        snapshot_path(directory, pid).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_snapshots(directory: Path) -> list[dict[str, Any]]:
    """The windows of the live workers (files of dead ones are skipped, and removed)."""
    found: list[dict[str, Any]] = []
    for path in directory.glob(SNAPSHOT_GLOB):
        try:
            pid = int(path.stem.removeprefix("drift_"))
        except ValueError:
            continue
        if not _alive(pid):
            path.unlink(missing_ok=True)
            continue
        try:
            found.append(orjson.loads(path.read_bytes()))
        except (OSError, orjson.JSONDecodeError):
            continue  # replaced or removed while listing: that worker's next pass rewrites it
    return found


def merge_snapshots(snapshots: list[dict[str, Any]]) -> dict[str, VersionDrift]:
    """PSI and missing ratios per model version over the sum of the workers' bin counts."""
    by_version: dict[str, list[dict[str, Any]]] = {}
    for snap in snapshots:
        if snap.get("rows"):
            by_version.setdefault(str(snap["version"]), []).append(snap)
    merged: dict[str, VersionDrift] = {}
    for version, snaps in by_version.items():
        out = VersionDrift(rows=float(sum(s["rows"] for s in snaps)))
        for name, ref in snaps[0]["features"].items():
            total = np.zeros(len(ref["reference"]), dtype=np.float64)
            for snap in snaps:
                counts = snap["features"].get(name)
                if counts is not None and len(counts["counts"]) == len(total):
                    total += np.asarray(counts["counts"], dtype=np.float64)
            out.psi[name] = psi(ref["reference"], total)
            out.missing_ratio[name] = float(total[-1]) / out.rows
        score = snaps[0].get("score")
        if score is not None:
            total = np.zeros(len(score["reference"]), dtype=np.float64)
            for snap in snaps:
                if snap.get("score") is not None:
                    total += np.asarray(snap["score"]["counts"], dtype=np.float64)
            out.score_psi = psi(score["reference"], total)
        merged[version] = out
    return merged


class DriftMonitor:
    """Sliding-window PSI, missing rates and unseen categories for the served model."""

    def __init__(self, settings: Settings, metrics: InputMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.model: ServedModel | None = None
        self._refs: list[FeatureReference | None] = []
        self._pending: list[tuple[EncodedBatch, np.ndarray, bool, float]] = []
        self._rng = np.random.default_rng()
        self._pending_rows = 0
        self._window: deque[_Chunk] = deque()
        self._window_rows = 0.0
        self._luts: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
        self._shared = _shared_dir()
        # Under gunicorn each worker keeps its share of the window; the merged window is whole.
        workers = settings.workers if self._shared is not None else 1
        self._window_cap = max(1, math.ceil(settings.drift_window_rows / workers))
        self._snapshot: dict[str, Any] | None = None
        self.psi: dict[str, float] = {}
        self.missing_ratio: dict[str, float] = {}
        self.score_psi: float | None = None
        self._loop = PeriodicTask(
            "drift-monitor",
            lambda: settings.drift_interval_s,
            self._turn,
            what="drift computation",
            logger=log,
        )

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
        self._window_rows = 0.0
        self._luts = {}
        self.psi = {}
        self.missing_ratio = {}
        self.score_psi = None
        self._publish(model, [], None)  # this worker's rows of the previous model are gone

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
            weight = batch.rows / SAMPLE_ROWS
            pick = self._rng.choice(batch.rows, SAMPLE_ROWS, replace=False)
            batch = replace(batch, num=batch.num[pick], codes=batch.codes[pick], ids=None, raw=None)
            self._pending.append((batch, scores[pick], True, weight))
        else:
            self._pending.append((batch, scores, False, 1.0))
        self._pending_rows += batch.rows
        if self._pending_rows >= PROCESS_ROWS:
            self.process()

    async def _turn(self) -> None:
        self.process()

    def start(self) -> None:
        """Process pending rows every ``drift_interval_s`` from now on."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop the periodic task and withdraw this worker's window."""
        await self._loop.stop()
        self.close()

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
        groups: dict[tuple[int, bool], list[tuple[EncodedBatch, np.ndarray, bool, float]]] = {}
        for item in pending:
            groups.setdefault((id(item[0].vocabs), item[2]), []).append(item)
        for (_, counted), items in groups.items():
            num = np.concatenate([b.num for b, _, _, _ in items])
            codes = np.concatenate([b.codes for b, _, _, _ in items])
            scores = np.concatenate([s for _, s, _, _ in items])
            weights = np.concatenate([np.full(len(s), w) for _, s, _, w in items])
            vocabs = items[0][0].vocabs
            counts = self._count(num, codes, vocabs, weights)
            score_counts = None
            if model.reference is not None:
                edges = np.asarray(model.reference.score.edges)
                score_counts = np.histogram(np.clip(scores, 0.0, 1.0), bins=edges, weights=weights)[
                    0
                ]
            rows = float(weights.sum())
            self._window.append(_Chunk(rows=rows, counts=counts, scores=score_counts))
            self._window_rows += rows
            if not counted:
                self._publish_counts(*self._quality(num, codes, vocabs))
        while self._window and self._window_rows - self._window[0].rows >= self._window_cap:
            self._window_rows -= self._window.popleft().rows
        self._summarise(names, model)

    def _count(
        self, num: np.ndarray, codes: np.ndarray, vocabs: list[Vocabulary], weights: np.ndarray
    ) -> list[np.ndarray]:
        """Rows (weighted) per reference bin, per feature (numeric first, as in ``_refs``)."""
        counts: list[np.ndarray] = []
        refs = self._refs
        k_num = num.shape[1]
        for j in range(k_num):
            ref = refs[j]
            if ref is not None and ref.edges is not None:
                idx = numeric_bin_index(num[:, j], ref.edges)
                counts.append(np.bincount(idx, weights=weights, minlength=len(ref.edges) + 2))
            else:
                counts.append(np.zeros(0))
        for j, vocab in enumerate(vocabs):
            ref = refs[k_num + j]
            bins, _ = self._lut(vocab, ref)
            if bins.size and ref is not None:
                counts.append(
                    np.bincount(bins[codes[:, j]], weights=weights, minlength=len(ref.fractions))
                )
            else:
                counts.append(np.zeros(0))
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
        totals: list[tuple[str, FeatureReference, np.ndarray]] = []
        for f, (name, ref) in enumerate(zip(names, self._refs, strict=True)):
            if ref is None:
                continue
            total = np.zeros(len(ref.fractions))
            for chunk in self._window:
                c = chunk.counts[f]
                if c.size:
                    total[: min(len(total), c.size)] += c[: len(total)]
            psis[name] = psi(ref.fractions, total)
            missing[name] = float(total[-1]) / rows if rows else 0.0
            totals.append((name, ref, total))
        self.psi = psis
        self.missing_ratio = missing
        score_total = None
        if model.reference is not None:
            score_total = sum(
                (c.scores for c in self._window if c.scores is not None),
                start=np.zeros(len(model.reference.score.fractions)),
            )
            self.score_psi = psi(model.reference.score.fractions, score_total)
        self._publish(model, totals, score_total)

    def _publish(
        self,
        model: ServedModel,
        totals: list[tuple[str, FeatureReference, np.ndarray]],
        score_total: np.ndarray | None,
    ) -> None:
        """Keep this worker's window counts (and the references they are compared with) for the
        scrape, in the shared directory under gunicorn (written whole, then renamed)."""
        reference = model.reference
        self._snapshot = {
            "pid": os.getpid(),
            "version": model.version,
            "rows": self._window_rows,
            "features": {
                name: {"counts": total.tolist(), "reference": list(ref.fractions)}
                for name, ref, total in totals
            },
            "score": None
            if score_total is None or reference is None
            else {"counts": score_total.tolist(), "reference": list(reference.score.fractions)},
        }
        if self._shared is None:
            return
        path = snapshot_path(self._shared, os.getpid())
        partial = path.with_suffix(".part")
        try:
            partial.write_bytes(orjson.dumps(self._snapshot))
            partial.replace(path)
        except OSError as exc:  # a full or read-only metrics directory: the scrape is poorer
            log.warning("drift: cannot share this worker's window: %s", exc)

    def merged(self) -> dict[str, VersionDrift]:
        """Drift per model version over every live worker's window (this worker's alone when
        there is no gunicorn)."""
        if self._shared is not None:
            return merge_snapshots(read_snapshots(self._shared))
        return merge_snapshots([self._snapshot] if self._snapshot is not None else [])

    def close(self) -> None:
        """Withdraw this worker's window from the merge (the worker is stopping)."""
        if self._shared is not None:
            snapshot_path(self._shared, os.getpid()).unlink(missing_ok=True)

    @property
    def window_rows(self) -> float:
        """Rows in this worker's current window."""
        return self._window_rows
