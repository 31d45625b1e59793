"""Likely label errors: samples the model does not believe, from out-of-fold probabilities.

Each sample's probabilities come from a linear head fitted on the cached
features of the other folds (``headsearch.search.out_of_fold_probabilities``), so a
wrong label cannot vouch for itself. In the spirit of confident learning, a
class ``j``'s *threshold* is the mean probability of ``j`` over the samples
labelled ``j`` (how confident the model is on that class's own samples). A
sample labelled ``i`` is an issue when some other class ``j`` reaches its
threshold and beats class ``i`` there, or plainly when another class has
the highest probability. Issues are ranked by *self-confidence*, the
probability of the given label (lowest first: most suspicious), and the
suggestion is the likeliest other class.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tlstudio.core.headsearch.search import out_of_fold_probabilities
from tlstudio.core.progress import JobState


@dataclass(frozen=True)
class LabelIssue:
    index: int          # into DatasetFeatures.samples
    given: int
    suggested: int
    score: float        # 1 - the probability of the given label: higher is more suspicious
    confidence: float   # the probability of the suggested class


def class_thresholds(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per class, the mean predicted probability of that class over its own samples."""
    k = probs.shape[1]
    return np.array([probs[labels == j, j].mean() if np.any(labels == j) else 1.0 for j in range(k)])


def rank_label_issues(probs: np.ndarray, labels: np.ndarray) -> list[LabelIssue]:
    """The flagged samples (see the module docstring), most suspicious first."""
    n, k = probs.shape
    rows = np.arange(n)
    self_conf = probs[rows, labels]
    others = probs.copy()
    others[rows, labels] = -1.0
    suggested = others.argmax(1)
    above = probs >= class_thresholds(probs, labels)[None, :]
    above[rows, labels] = False
    confident_other = (above & (probs > self_conf[:, None])).any(1)
    flagged = confident_other | (probs.argmax(1) != labels)
    order = np.argsort(self_conf, kind="stable")
    return [LabelIssue(int(i), int(labels[i]), int(suggested[i]), float(1.0 - self_conf[i]),
                       float(probs[i, suggested[i]])) for i in order if flagged[i]]


def find_label_issues(features: np.ndarray, labels: np.ndarray, num_classes: int, *, seed: int = 0,
                      job: JobState | None = None) -> tuple[list[LabelIssue], np.ndarray]:
    """Rank likely label errors; also returns the out-of-fold probabilities [n, num_classes]."""
    probs = out_of_fold_probabilities(torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)),
                                      torch.from_numpy(np.asarray(labels, dtype=np.int64)), num_classes,
                                      seed=seed, job=job).numpy()
    return rank_label_issues(probs, np.asarray(labels, dtype=np.int64)), probs
