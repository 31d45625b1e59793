"""Multi-label metrics against a small example computed by hand (and scikit-learn on random data)."""
import json

import numpy as np
import pytest

from tlstudio.core.runs.multilabel_metrics import (MultilabelMetrics, average_precision, best_thresholds,
                                                   cooccurrence, label_sets, multilabel_metrics, predicted_matrix)

NAMES = ["a", "b", "c"]
PROBS = np.array([[0.9, 0.2, 0.6],
                  [0.7, 0.8, 0.1],
                  [0.3, 0.6, 0.4],
                  [0.1, 0.4, 0.3]])
TARGETS = np.array([[1, 0, 1],
                    [1, 1, 0],
                    [0, 0, 1],
                    [0, 1, 0]])


def test_figures_match_the_hand_computed_example():
    m = multilabel_metrics(PROBS, TARGETS, 0.5, NAMES)
    # predicted at 0.5: [a c] [a b] [b] [] against true [a c] [a b] [c] [b]
    a, b, c = (m.per_label[n] for n in NAMES)
    assert (a["tp"], a["fp"], a["fn"], a["tn"]) == (2, 0, 0, 2)
    assert (b["tp"], b["fp"], b["fn"], b["tn"]) == (1, 1, 1, 1)
    assert (c["tp"], c["fp"], c["fn"], c["tn"]) == (1, 0, 1, 2)
    assert (a["precision"], a["recall"], a["f1"]) == (1.0, 1.0, 1.0)
    assert (b["precision"], b["recall"], b["f1"]) == (0.5, 0.5, 0.5)
    assert c["precision"] == 1.0 and c["recall"] == 0.5 and c["f1"] == pytest.approx(2 / 3)
    # AP of b: ranks .8(+) .6(-) .4(+) .2(-) -> 0.5*1 + 0.5*(2/3)
    assert [a["ap"], b["ap"], c["ap"]] == pytest.approx([1.0, 5 / 6, 1.0])
    assert [a["support"], b["support"], c["support"]] == [2, 2, 2]
    assert m.micro_precision == pytest.approx(4 / 5) and m.micro_recall == pytest.approx(4 / 6)
    assert m.micro_f1 == pytest.approx(8 / 11)
    assert m.macro_f1 == pytest.approx(13 / 18)
    assert m.mean_ap == pytest.approx(17 / 18)
    assert m.subset_accuracy == 0.5
    assert m.hamming_loss == 0.25
    assert m.label_cardinality == 1.5 and m.predicted_cardinality == 1.25


def test_best_thresholds_maximise_each_labels_f1_between_scores():
    th = best_thresholds(PROBS, TARGETS)
    # a: cut after .7 -> (.7+.3)/2; b: after .4 -> (.4+.2)/2; c: after .4 -> (.4+.3)/2
    assert th == pytest.approx([0.5, 0.3, 0.35])
    tuned = multilabel_metrics(PROBS, TARGETS, th, NAMES)
    assert tuned.micro_f1 == pytest.approx(12 / 13)
    assert tuned.micro_f1 > multilabel_metrics(PROBS, TARGETS, 0.5, NAMES).micro_f1


def test_threshold_ties_no_positive_and_tied_scores():
    scores, target = np.array([[0.9], [0.7], [0.6], [0.2]]), np.array([[1], [0], [0], [1]])
    # F1 2/3 when cutting after 0.9 (cut 0.8) or after 0.2 (cut 0.1): the one nearer the default wins
    assert best_thresholds(scores, target)[0] == pytest.approx(0.8)
    assert best_thresholds(scores, target, default=0.2)[0] == pytest.approx(0.1)
    assert best_thresholds(scores, np.zeros((4, 1)))[0] == 0.5
    # two samples tied at 0.7 cannot be separated: the cut falls below both
    assert best_thresholds([[0.7], [0.7], [0.2]], [[1], [0], [0]])[0] == pytest.approx(0.45)


def test_edge_rules_no_support_and_json_round_trip():
    targets = TARGETS.copy()
    targets[:, 2] = 0
    m = multilabel_metrics(PROBS, targets, [0.5, 0.5, 0.5], NAMES)
    assert m.per_label["c"]["ap"] is None and m.per_label["c"]["recall"] == 0.0
    assert m.macro_f1 == pytest.approx((1.0 + 0.5) / 2)           # c has no positive: left out
    data = json.loads(json.dumps(m.to_dict()))
    assert data["task_type"] == "multilabel"
    assert MultilabelMetrics.from_dict(data) == m
    assert average_precision([0.5, 0.5], [1, 0]) == 0.5
    assert average_precision([0.5, 0.5], [0, 0]) is None


def test_label_sets_predicted_matrix_and_cooccurrence():
    sets = label_sets(PROBS, [0.5, 0.5, 0.5], NAMES)
    assert [[x["label"] for x in s] for s in sets] == [["a", "c"], ["b", "a"], ["b"], []]
    assert sets[0][0] == {"label": "a", "probability": 0.9, "threshold": 0.5}
    pred = predicted_matrix(PROBS, 0.5)
    assert pred.sum() == 5
    co = cooccurrence(TARGETS)
    assert co.tolist() == [[2, 1, 1], [1, 2, 0], [1, 0, 2]]
    assert cooccurrence(TARGETS, pred).tolist() == [[2, 1, 1], [1, 1, 0], [1, 1, 1]]


def test_agrees_with_scikit_learn_on_random_data():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    targets = rng.random((200, 5)) < 0.3
    probs = np.clip(targets * 0.3 + rng.random((200, 5)) * 0.7, 0, 1).round(2)   # rounding makes ties
    m = multilabel_metrics(probs, targets, 0.5, list("vwxyz"))
    pred = probs >= 0.5
    assert m.micro_f1 == pytest.approx(metrics.f1_score(targets, pred, average="micro"))
    assert m.macro_f1 == pytest.approx(metrics.f1_score(targets, pred, average="macro"))
    assert m.hamming_loss == pytest.approx(metrics.hamming_loss(targets, pred))
    assert m.subset_accuracy == pytest.approx(metrics.accuracy_score(targets, pred))
    for j, name in enumerate("vwxyz"):
        assert m.per_label[name]["ap"] == pytest.approx(metrics.average_precision_score(targets[:, j], probs[:, j]))
