"""Each sample's nearest neighbours in feature space (cosine), found in chunks of rows.

``nearest_neighbours`` reads the features a block at a time (they may be a
memory map on disk), normalises the block and compares it with every row;
memory stays O(block x n), never O(n^2). The data audit computes the
neighbours once and both the duplicate search and the outlier scores use them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tlstudio.core.progress import JobState, check, set_progress

BLOCK = 512


@dataclass
class Neighbours:
    index: np.ndarray       # int64 [n, k]: the k most similar other samples, most similar first
    cosine: np.ndarray      # float32 [n, k]

    def pairs_at_least(self, threshold: float) -> list[tuple[int, int, float]]:
        """(i, j, cosine) with i < j for every neighbour link at or above ``threshold``."""
        rows, cols = np.nonzero(self.cosine >= threshold)
        seen: dict[tuple[int, int], float] = {}
        for r, c in zip(rows.tolist(), cols.tolist()):
            j = int(self.index[r, c])
            if j >= 0:
                seen[(min(r, j), max(r, j))] = float(self.cosine[r, c])
        return [(i, j, s) for (i, j), s in sorted(seen.items())]


def unit_rows(features, start: int, stop: int) -> np.ndarray:
    rows = np.asarray(features[start:stop], dtype=np.float32)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def unit_features(features) -> np.ndarray:
    """float32 unit rows of ``features`` (built a block at a time, so a float16 memory map is read once)."""
    out = np.empty(features.shape, dtype=np.float32)
    for start in range(0, len(features), BLOCK * 8):
        out[start:start + BLOCK * 8] = unit_rows(features, start, min(len(features), start + BLOCK * 8))
    return out


def nearest_neighbours(features, k: int, job: JobState | None = None) -> Neighbours:
    """The ``k`` nearest other rows of each row by cosine similarity (index -1 when fewer exist);
    ``job`` is checked and told the rows done a block at a time."""
    unit = unit_features(features)
    n = len(unit)
    kk = max(0, min(k, n - 1))
    index, cosine = np.full((n, k), -1, dtype=np.int64), np.full((n, k), -np.inf, dtype=np.float32)
    for start in range(0, n, BLOCK):
        check(job)
        set_progress(job, start, n)
        stop = min(n, start + BLOCK)
        sim = unit[start:stop] @ unit.T
        sim[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        if kk:
            top = np.argpartition(-sim, kk - 1, axis=1)[:, :kk]
            vals = np.take_along_axis(sim, top, 1)
            order = np.argsort(-vals, axis=1, kind="stable")
            index[start:stop, :kk] = np.take_along_axis(top, order, 1)
            cosine[start:stop, :kk] = np.take_along_axis(vals, order, 1)
    set_progress(job, n, n)
    return Neighbours(index, cosine)

