"""Outliers: samples far from every class in feature space.

Features are L2-normalised. Two standardised distances are averaged:

- to the classes: each class has a centroid and a typical radius (the median
  cosine distance of its samples to the centroid) with a robust spread (the
  median absolute deviation, scaled to a standard deviation); the class score
  is the *smallest* ``(d(x, c) - median_c) / spread_c`` over all classes,
  large only when the sample is far from its own class and every other one;
- to the data: the cosine distance to the ``NEIGHBOURS``-th nearest other
  sample, standardised the same way over all samples (a small clump of odd
  samples stays far from everything else).

Scores at or above ``OUTLIER_SCORE`` are reported, the farthest first. On the
demo sets (images and text) that flags 1-2% of the samples, and gibberish
planted in a text set comes out among the top ones.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tlstudio.core.insight.neighbours import Neighbours, nearest_neighbours

OUTLIER_SCORE = 3.0
MIN_SPREAD = 1e-3
NEIGHBOURS = 5


@dataclass(frozen=True)
class Outlier:
    index: int          # into DatasetFeatures.samples
    score: float        # standardised distance to the nearest class
    nearest: int        # that class (-1: the data has no labelled class)


def outlier_scores(features: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: the standardised distance to the nearest class, and that class."""
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    scores = np.full((len(unit), max(1, num_classes)), np.inf)     # no class: every score inf
    for c in range(num_classes):
        own = labels == c
        if not np.any(own):
            continue
        centroid = unit[own].mean(0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
        dist = 1.0 - unit @ centroid
        scores[:, c] = _robust_z(dist, dist[own])
    nearest = scores.argmin(1)
    return scores[np.arange(len(unit)), nearest], nearest


def _robust_z(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    median = float(np.median(reference))
    spread = max(1.4826 * float(np.median(np.abs(reference - median))), MIN_SPREAD)
    return (values - median) / spread


def neighbour_scores(features: np.ndarray, k: int = NEIGHBOURS, neighbours: Neighbours | None = None) -> np.ndarray:
    """Standardised cosine distance of each sample to its ``k``-th nearest other sample (``neighbours``:
    precomputed with at least ``k`` per sample)."""
    n = len(features)
    k = min(k, n - 1)
    if k < 1:
        return np.zeros(n)
    if neighbours is None:
        neighbours = nearest_neighbours(features, k)
    dist = 1.0 - neighbours.cosine[:, k - 1].astype(np.float64)
    return _robust_z(dist, dist)


def find_outliers(features: np.ndarray, labels: np.ndarray, num_classes: int,
                  threshold: float = OUTLIER_SCORE, neighbours: Neighbours | None = None) -> list[Outlier]:
    features = np.asarray(features, dtype=np.float32)
    class_score, nearest = outlier_scores(features, np.asarray(labels), num_classes)
    data_score = neighbour_scores(features, neighbours=neighbours)
    # No labelled class to measure against (a dataset of unlabeled samples only): the data alone.
    known = np.isfinite(class_score)
    score = np.where(known, (np.where(known, class_score, 0.0) + data_score) / 2, data_score)
    nearest = np.where(known, nearest, -1)
    order = np.argsort(-score, kind="stable")
    return [Outlier(int(i), float(score[i]), int(nearest[i])) for i in order if score[i] >= threshold]
