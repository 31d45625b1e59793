"""Multi-label metrics and per-label thresholds (pure numpy: no torch, no Qt).

A multi-label model gives every sample one probability per label (a sigmoid output); a label is
predicted when its probability is **at or above** that label's threshold. Everything here works on
plain arrays so the GUI can recompute the figures live while a threshold slider moves
(``multilabel_metrics`` on a few thousand samples takes well under a millisecond per label).

API
---
``multilabel_metrics(probs, targets, thresholds, label_names) -> MultilabelMetrics``
    ``probs``: N×L floats in [0, 1]; ``targets``: N×L 0/1 (bool or int); ``thresholds``: L floats
    (or one float for every label); ``label_names``: L strings. ``result.to_dict()`` is JSON-able::

        {"task_type": "multilabel", "labels": [...], "samples": N,
         "thresholds": [...],
         "per_label": {name: {"precision", "recall", "f1", "ap", "support", "predicted",
                              "tp", "fp", "fn", "tn", "threshold"}},
         "micro_precision", "micro_recall", "micro_f1", "macro_f1", "mean_ap",
         "subset_accuracy", "hamming_loss", "label_cardinality", "predicted_cardinality"}

    ``MultilabelMetrics.from_dict`` reads it back.
``best_thresholds(probs, targets, default=0.5) -> np.ndarray``
    per label, the threshold that maximises that label's F1 on these (out-of-fold) predictions.
``average_precision(scores, target) -> float | None``
    one label's average precision (None when the label has no positive sample).
``predicted_matrix(probs, thresholds) -> bool N×L``; ``label_sets(probs, thresholds, names)``
    per sample ``[{"label", "probability", "threshold"}]`` of the labels at/above threshold,
    most probable first (what ``predict`` prints).
``cooccurrence(a, b=None) -> int L×L``
    ``a.T @ b``: with the targets alone, how often labels i and j are on the same sample (the
    diagonal is each label's count); with (targets, predictions), row = true label, column =
    predicted label -- the multi-label stand-in for a confusion matrix.

Rules (what happens at the edges)
---------------------------------
- Precision of a label never predicted is 0; recall and F1 of a label with no positive sample are 0.
- ``macro_f1`` and ``mean_ap`` average over the labels with at least one positive sample (support > 0),
  as the single-label ``macro_f1`` averages over present classes; ``ap`` is None for the others.
- Average precision is the step-wise area under the precision-recall curve, scores tied at one
  value counted as one step (scikit-learn's ``average_precision_score``).
- ``subset_accuracy``: the share of samples whose predicted label set equals the true set exactly;
  ``hamming_loss``: the share of (sample, label) decisions that are wrong.
- ``best_thresholds``: the cut is placed in the gap between two distinct scores (their midpoint), so a
  threshold never sits on a training score. Between cuts with the same best F1, the one closest to
  ``default`` wins (the least surprising choice). A label with no positive sample keeps ``default``:
  there is nothing to tune it on.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

TASK_TYPE = "multilabel"
DEFAULT_THRESHOLD = 0.5
_PER_LABEL_KEYS = ("precision", "recall", "f1", "ap", "support", "predicted", "tp", "fp", "fn", "tn", "threshold")


def _div(a: float, b: float) -> float:
    return float(a) / float(b) if b else 0.0


def _f1(precision: float, recall: float) -> float:
    return _div(2 * precision * recall, precision + recall)


def _as_arrays(probs, targets) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, dtype=np.float64)
    t = np.asarray(targets).astype(bool)
    if p.ndim != 2 or p.shape != t.shape:
        raise ValueError(f"probabilities {p.shape} and targets {t.shape} must be the same N×L shape")
    return p, t


def _thresholds(thresholds, n_labels: int) -> np.ndarray:
    th = np.asarray(thresholds, dtype=np.float64)
    th = np.full(n_labels, float(th)) if th.ndim == 0 else th
    if th.shape != (n_labels,):
        raise ValueError(f"{th.shape[0]} thresholds for {n_labels} labels")
    return th


def predicted_matrix(probs, thresholds) -> np.ndarray:
    """N×L bool: label j predicted for sample i when probs[i, j] >= thresholds[j]."""
    p = np.asarray(probs, dtype=np.float64)
    return p >= _thresholds(thresholds, p.shape[1])[None, :]


def label_sets(probs, thresholds, label_names: Sequence[str]) -> list[list[dict]]:
    """Per sample, the labels at/above their threshold, most probable first:
    ``[{"label": name, "probability": p, "threshold": t}, ...]`` (empty when none passes)."""
    p = np.asarray(probs, dtype=np.float64)
    th = _thresholds(thresholds, p.shape[1])
    out = []
    for row in p:
        chosen = [j for j in np.argsort(-row, kind="stable") if row[j] >= th[j]]
        out.append([{"label": str(label_names[j]), "probability": float(row[j]), "threshold": float(th[j])}
                    for j in chosen])
    return out


def cooccurrence(a, b=None) -> np.ndarray:
    """L×L counts ``a.T @ b`` of 0/1 matrices (``b`` defaults to ``a``): how often label i (in ``a``)
    and label j (in ``b``) are on the same sample."""
    a = np.asarray(a).astype(np.int64)
    b = a if b is None else np.asarray(b).astype(np.int64)
    return a.T @ b


def average_precision(scores, target) -> float | None:
    """One label's average precision: sum over distinct score cuts of (recall gain) × precision.
    None when ``target`` has no positive."""
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(target).astype(bool)
    positives = int(t.sum())
    if positives == 0:
        return None
    order = np.argsort(-s, kind="stable")
    s, t = s[order], t[order]
    tp = np.cumsum(t)
    k = np.arange(1, len(s) + 1)
    last_of_tie = np.r_[s[1:] != s[:-1], True]          # only cut between distinct scores
    tp, k = tp[last_of_tie], k[last_of_tie]
    recall = tp / positives
    precision = tp / k
    gain = np.diff(np.r_[0.0, recall])
    return float(np.sum(gain * precision))


def _best_cut(scores: np.ndarray, target: np.ndarray, default: float) -> float:
    positives = int(target.sum())
    if positives == 0:
        return float(default)
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], target[order]
    tp = np.cumsum(t)
    k = np.arange(1, len(s) + 1)
    f1 = 2 * tp / (k + positives)
    valid = np.r_[s[1:] != s[:-1], True]               # a cut after index i separates s[i] from s[i+1]
    below = np.r_[s[1:], 0.0]                          # the next lower score (0 after the last)
    cuts = (s + below) / 2
    f1 = np.where(valid, f1, -1.0)
    best = f1.max()
    candidates = np.flatnonzero(f1 >= best - 1e-12)
    pick = candidates[np.argmin(np.abs(cuts[candidates] - default))]
    return float(cuts[pick])


def best_thresholds(probs, targets, default: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Per label, the threshold maximising that label's F1 on (out-of-fold) ``probs`` vs ``targets``
    (rules in the module docstring). Returns L floats in (0, 1]."""
    p, t = _as_arrays(probs, targets)
    return np.array([_best_cut(p[:, j], t[:, j], default) for j in range(p.shape[1])], dtype=np.float64)


@dataclasses.dataclass(frozen=True)
class MultilabelMetrics:
    """Figures of one set of multi-label predictions; ``to_dict`` gives the JSON form."""

    labels: tuple[str, ...]
    samples: int
    thresholds: tuple[float, ...]
    per_label: dict            # name -> {precision, recall, f1, ap, support, predicted, tp, fp, fn, tn, threshold}
    micro_precision: float
    micro_recall: float
    micro_f1: float
    macro_f1: float
    mean_ap: float
    subset_accuracy: float
    hamming_loss: float
    label_cardinality: float       # mean number of true labels per sample
    predicted_cardinality: float   # mean number of predicted labels per sample

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["labels"] = list(self.labels)
        out["thresholds"] = list(self.thresholds)
        out["per_label"] = {name: dict(m) for name, m in self.per_label.items()}
        out["task_type"] = TASK_TYPE
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "MultilabelMetrics":
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        values["labels"] = tuple(str(x) for x in data["labels"])
        values["thresholds"] = tuple(float(x) for x in data["thresholds"])
        values["per_label"] = {str(n): {k: m.get(k) for k in _PER_LABEL_KEYS} for n, m in data["per_label"].items()}
        return cls(**values)


def multilabel_metrics(probs, targets, thresholds, label_names: Sequence[str]) -> MultilabelMetrics:
    """All figures of ``probs`` (N×L) thresholded per label against 0/1 ``targets`` (N×L)."""
    p, t = _as_arrays(probs, targets)
    n, n_labels = p.shape
    if len(label_names) != n_labels:
        raise ValueError(f"{len(label_names)} label names for {n_labels} labels")
    th = _thresholds(thresholds, n_labels)
    pred = p >= th[None, :]
    tp = (pred & t).sum(axis=0)
    fp = (pred & ~t).sum(axis=0)
    fn = (~pred & t).sum(axis=0)
    tn = (~pred & ~t).sum(axis=0)
    per_label, f1s, aps = {}, [], []
    for j, name in enumerate(label_names):
        precision, recall = _div(tp[j], tp[j] + fp[j]), _div(tp[j], tp[j] + fn[j])
        support = int(tp[j] + fn[j])
        ap = average_precision(p[:, j], t[:, j])
        f1 = _f1(precision, recall)
        per_label[str(name)] = {"precision": precision, "recall": recall, "f1": f1, "ap": ap,
                                "support": support, "predicted": int(tp[j] + fp[j]),
                                "tp": int(tp[j]), "fp": int(fp[j]), "fn": int(fn[j]), "tn": int(tn[j]),
                                "threshold": float(th[j])}
        if support:
            f1s.append(f1)
            aps.append(ap)
    micro_p = _div(tp.sum(), tp.sum() + fp.sum())
    micro_r = _div(tp.sum(), tp.sum() + fn.sum())
    return MultilabelMetrics(
        labels=tuple(str(x) for x in label_names), samples=int(n), thresholds=tuple(float(x) for x in th),
        per_label=per_label, micro_precision=micro_p, micro_recall=micro_r, micro_f1=_f1(micro_p, micro_r),
        macro_f1=_div(sum(f1s), len(f1s)), mean_ap=_div(sum(aps), len(aps)),
        subset_accuracy=_div(int((pred == t).all(axis=1).sum()), n),
        hamming_loss=_div(int((pred != t).sum()), n * n_labels),
        label_cardinality=_div(int(t.sum()), n), predicted_cardinality=_div(int(pred.sum()), n))
