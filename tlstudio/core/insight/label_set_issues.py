"""Likely label errors of a multi-label dataset, per (sample, label), from out-of-fold probabilities.

Each sample's per-label probabilities come from a linear multi-label head fitted on the cached
features of the other folds (``headsearch.search.out_of_fold_probabilities`` with the multi-label kind),
so a label cannot vouch for itself. In the spirit of confident learning, each label ``j`` gets two
reference levels: ``present_j``, the mean probability of ``j`` over the samples that carry it, and
``absent_j``, the mean over the samples that do not; their midpoint is the label's boundary. Then,
for a sample and a label:

- **likely missing**: the sample does not carry ``j`` but its probability is above the boundary
  (nearer to what the label's own samples get); score = the probability;
- **likely wrong**: the sample carries ``j`` but its probability is below the boundary (nearer to
  what samples without it get); score = 1 - the probability.

(The stricter rule -- reaching ``present_j``, or falling to ``absent_j`` -- missed planted wrong
labels whose probability stayed a little above the near-zero ``absent_j``.) Issues are ranked by
score, highest (most suspicious) first.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tlstudio.core.headsearch.search import out_of_fold_probabilities
from tlstudio.core.task_types import MultiLabelTask
from tlstudio.core.progress import JobState

MISSING, WRONG = "missing", "wrong"


@dataclass(frozen=True)
class LabelSetIssue:
    index: int           # into DatasetFeatures.samples
    label: int           # the label concerned
    kind: str            # MISSING (not given, likely present) or WRONG (given, likely absent)
    probability: float   # the out-of-fold probability of the label
    score: float         # higher is more suspicious


def rank_label_set_issues(probs: np.ndarray, targets: np.ndarray) -> list[LabelSetIssue]:
    """The flagged (sample, label) pairs (see the module docstring), most suspicious first."""
    given = np.asarray(targets).astype(bool)
    issues = []
    for j in range(probs.shape[1]):
        carriers, others = given[:, j], ~given[:, j]
        if not carriers.any() or not others.any():
            continue
        boundary = (probs[carriers, j].mean() + probs[others, j].mean()) / 2
        for i in np.flatnonzero(others & (probs[:, j] > boundary)):
            issues.append(LabelSetIssue(int(i), j, MISSING, float(probs[i, j]), float(probs[i, j])))
        for i in np.flatnonzero(carriers & (probs[:, j] < boundary)):
            issues.append(LabelSetIssue(int(i), j, WRONG, float(probs[i, j]), float(1.0 - probs[i, j])))
    return sorted(issues, key=lambda x: (-x.score, x.index, x.label))


def find_label_set_issues(features: np.ndarray, targets: np.ndarray, *, seed: int = 0,
                          job: JobState | None = None) -> tuple[list[LabelSetIssue], np.ndarray]:
    """Rank likely missing and wrong labels; also returns the out-of-fold probabilities [n, labels]."""
    y = torch.from_numpy(np.asarray(targets, dtype=np.float32))
    probs = out_of_fold_probabilities(torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)), y,
                                      y.shape[1], seed=seed, job=job, kind=MultiLabelTask(y.shape[1])).numpy()
    return rank_label_set_issues(probs, targets), probs
