"""Ranking likely missing and wrong labels per (sample, label) from out-of-fold probabilities."""
import numpy as np

from tlstudio.core.insight.label_set_issues import MISSING, WRONG, rank_label_set_issues


def test_missing_and_wrong_labels_are_flagged_and_ranked():
    targets = np.array([[1, 0], [1, 0], [1, 1], [0, 1], [0, 1], [1, 0]])
    probs = np.array([[0.9, 0.1], [0.8, 0.05], [0.85, 0.9], [0.1, 0.8], [0.05, 0.95], [0.2, 0.97]])
    issues = rank_label_set_issues(probs, targets)
    # sample 5: label 1 not given at 0.97 (missing), label 0 given at 0.2 (wrong); nothing else
    assert [(x.index, x.label, x.kind) for x in issues] == [(5, 1, MISSING), (5, 0, WRONG)]
    assert issues[0].score == 0.97 and issues[1].score == 0.8
    assert rank_label_set_issues(probs, np.ones_like(targets)) == []       # no sample without a label: no reference
