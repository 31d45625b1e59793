"""Outliers: samples far from every class in feature space.

Features are L2-normalised. Each class has a centroid and a typical radius:
the median cosine distance of its samples to the centroid, with a robust
spread (the median absolute deviation, scaled to a standard deviation). A
sample's score is its *smallest* standardised distance over all classes,
``min_c (d(x, c) - median_c) / spread_c``: large only when the sample is far
from its own class and from every other one. Scores at or above
``OUTLIER_SCORE`` are reported, the farthest first.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OUTLIER_SCORE = 3.5
MIN_SPREAD = 1e-3


@dataclass(frozen=True)
class Outlier:
    index: int          # into DatasetFeatures.samples
    score: float        # standardised distance to the nearest class
    nearest: int        # that class


def outlier_scores(features: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: the standardised distance to the nearest class, and that class."""
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    scores = np.full((len(unit), num_classes), np.inf)
    for c in range(num_classes):
        own = labels == c
        if not np.any(own):
            continue
        centroid = unit[own].mean(0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
        dist = 1.0 - unit @ centroid
        median = float(np.median(dist[own]))
        spread = max(1.4826 * float(np.median(np.abs(dist[own] - median))), MIN_SPREAD)
        scores[:, c] = (dist - median) / spread
    nearest = scores.argmin(1)
    return scores[np.arange(len(unit)), nearest], nearest


def find_outliers(features: np.ndarray, labels: np.ndarray, num_classes: int,
                  threshold: float = OUTLIER_SCORE) -> list[Outlier]:
    score, nearest = outlier_scores(np.asarray(features, dtype=np.float32), np.asarray(labels), num_classes)
    order = np.argsort(-score, kind="stable")
    return [Outlier(int(i), float(score[i]), int(nearest[i])) for i in order if score[i] >= threshold]
