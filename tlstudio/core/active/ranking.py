"""Which unlabeled samples to label next: the ones a quick head is least sure about.

With labels: a quick linear head (``quick_head.py``) gives each pool sample
class probabilities; its *uncertainty* is ``1 - margin`` (margin: the top
probability minus the runner-up), and the list is the most uncertain first
(``SPREAD = "none"``); the score shown is the uncertainty. The app refits and
re-ranks after every label, so a run of near-copies of one confusion is
ranked again as soon as the first of them has its label. Two spreads stay selectable
(``rank_pool(spread=...)``, ``bench_active.py --spread``): ``"classes"`` takes
turns over the classes the head suggests, most uncertain first within each;
``"cosine"`` is a greedy k-centre (uncertainty x cosine distance to the nearest
labelled-or-picked sample) among the 2 x top most uncertain.

``benchmarks/bench_active.py``, 10 labels per refit, seeds none of these was
tuned on (12 on Fashion-MNIST, 20 on the WordNet texts, 20 on the Debian package
descriptions), accuracy at 200 labels: none 0.791 / 0.922 / 0.881, classes 0.793 /
0.920 / 0.881, cosine 0.780 / 0.923 / 0.876, random 0.762 / 0.914 / 0.865. "none"
beat random at 200 labels on every image seed; "classes" lifts confident samples
of easy classes into the list (a 95 %-sure trouser sixth, in the GUI), and
"cosine" (the earlier default, chosen on five seeds) cost 1.1 points on the
images. Random selection's 400-label accuracy (0.800 / 0.925 / 0.886) is not
reached with 200 labels by any of them on those seeds: each gets about what
random gets with 300.

Cold start (no labels, or labels of a single class): no head can be fitted, so
the pick is diversity only -- k-means on the pool, and from each cluster the
sample nearest its centre (a typical sample, not an outlier), biggest
clusters first. ``PoolRanking.how`` says which of the two was done.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import zip_longest

import numpy as np
import torch

from tlstudio.core.active.quick_head import estimate_accuracy, fit_quick_head, reference_scale
from tlstudio.core.insight.neighbours import unit_features
from tlstudio.core.progress import JobState, check

SPREAD_WORDS = {"none": "most unsure first; the list re-ranks after every label.",     # how each spread reads
                "classes": "taking turns over the classes it suggests.",
                "cosine": "and spread out (distance to what is labelled)."}
SPREADS = tuple(SPREAD_WORDS)
SPREAD = "none"              # how the picks are spread out (module docstring; benchmarks/bench_active.py)
COSINE_CANDIDATES = 2        # "cosine": only the 2 x top most uncertain samples compete for the spread
KMEANS_ITERATIONS = 20


@dataclass(frozen=True)
class Suggestion:
    index: int                  # into the pool's rows
    suggested: int | None       # the head's class for it (None at cold start)
    confidence: float           # the head's probability of ``suggested`` (0.0 at cold start)
    score: float                # why it ranks here: its uncertainty (cold start: its cluster's share)


@dataclass
class PoolRanking:
    suggestions: list[Suggestion]
    cold_start: bool
    how: str                            # one sentence: what the ranking is based on
    labelled: int
    unlabeled: int
    accuracy_estimate: float | None = None     # cross-validated accuracy of the quick head on the labels
    probabilities: np.ndarray | None = field(default=None, repr=False)   # [pool, classes], None at cold start


def margins(probs: np.ndarray) -> np.ndarray:
    """Top probability minus the runner-up, per row (1.0 with a single class)."""
    if probs.shape[1] < 2:
        return np.ones(len(probs), dtype=np.float32)
    top2 = np.sort(probs, axis=1)[:, -2:]
    return (top2[:, 1] - top2[:, 0]).astype(np.float32)


def _cosine_distance(rows: np.ndarray, unit_pool: np.ndarray) -> np.ndarray:
    """[pool] distance of each pool row to its nearest row of ``rows`` (unit rows; +inf when none)."""
    if len(rows) == 0:
        return np.full(len(unit_pool), np.inf, dtype=np.float32)
    nearest = np.full(len(unit_pool), -np.inf, dtype=np.float32)
    for start in range(0, len(rows), 1024):
        nearest = np.maximum(nearest, (unit_pool @ rows[start:start + 1024].T).max(1))
    return np.clip(1.0 - nearest, 0.0, 2.0)


def weighted_k_centre(unit_pool: np.ndarray, unit_labelled: np.ndarray, weight: np.ndarray, k: int,
                      job: JobState | None = None) -> list[tuple[int, float]]:
    """Greedy picks maximising ``weight x distance to the nearest labelled-or-picked row``:
    ``[(pool index, weight x distance at its pick)]``, ``k`` of them at most."""
    distance = _cosine_distance(unit_labelled, unit_pool)
    if not np.isfinite(distance).all():         # nothing labelled: spread from the pool's centre
        centre = unit_pool.mean(0)
        distance = 1.0 - unit_pool @ (centre / max(float(np.linalg.norm(centre)), 1e-12))
    picks: list[tuple[int, float]] = []
    taken = np.zeros(len(unit_pool), dtype=bool)
    for _ in range(min(k, len(unit_pool))):
        check(job)
        value = np.where(taken, -np.inf, weight * distance)
        i = int(np.argmax(value))
        picks.append((i, float(value[i])))
        taken[i] = True
        distance = np.minimum(distance, np.clip(1.0 - unit_pool @ unit_pool[i], 0.0, 2.0))
    return picks


def class_round_robin(uncertainty: np.ndarray, predicted: np.ndarray, k: int) -> list[tuple[int, float]]:
    """``k`` picks going round the predicted classes, most uncertain first within each (module docstring):
    ``[(pool index, uncertainty)]``."""
    queues: dict[int, list[int]] = {}
    for i in np.argsort(-uncertainty, kind="stable"):
        queues.setdefault(int(predicted[i]), []).append(int(i))
    # Round d takes each class's d-th most uncertain; classes in the order of their most uncertain sample.
    turns = [i for round_ in zip_longest(*queues.values()) for i in round_ if i is not None]
    return [(i, float(uncertainty[i])) for i in turns[:k]]


def kmeans_representatives(unit_pool: np.ndarray, k: int, *, seed: int = 0,
                           job: JobState | None = None) -> list[tuple[int, float]]:
    """k-means (k-means++ start, cosine) on the pool; per cluster its member nearest the centre:
    ``[(pool index, cluster share)]``, biggest clusters first."""
    n = len(unit_pool)
    k = min(k, n)
    if k == 0:
        return []
    x = torch.as_tensor(unit_pool)
    g = torch.Generator().manual_seed(int(seed))
    centres = [int(torch.randint(n, (1,), generator=g))]
    nearest = 1.0 - x @ x[centres[0]]
    for _ in range(1, k):                       # k-means++: far rows are likelier next centres
        p = nearest.clamp(min=0) ** 2
        i = int(torch.multinomial(p / p.sum(), 1, generator=g)) if float(p.sum()) > 0 else int(torch.argmax(nearest))
        centres.append(i)
        nearest = torch.minimum(nearest, 1.0 - x @ x[i])
    c = x[centres].clone()
    for _ in range(KMEANS_ITERATIONS):
        check(job)
        assign = (x @ c.T).argmax(1)
        for j in range(k):
            members = x[assign == j]
            if len(members):
                c[j] = members.mean(0) / members.mean(0).norm().clamp(min=1e-12)
    sim = x @ c.T
    assign = sim.argmax(1)
    out = []
    for j in range(k):
        members = torch.nonzero(assign == j).flatten()
        if len(members):
            best = members[int(sim[members, j].argmax())]
            out.append((int(best), len(members) / n))
    return sorted(out, key=lambda t: -t[1])


def rank_pool(labelled: np.ndarray, labels: np.ndarray, num_classes: int, pool: np.ndarray, top: int = 20, *,
              seed: int = 0, spread: str = SPREAD, estimate: bool = True,
              job: JobState | None = None) -> PoolRanking:
    """The ``top`` pool rows to label next (see the module docstring).

    ``labelled`` [n, d] features with ``labels`` in [0, num_classes); ``pool`` [m, d] features of
    the unlabeled samples. ``spread``: one of ``SPREADS``. ``estimate``: also cross-validate the quick head
    on the labels."""
    if spread not in SPREADS:
        raise ValueError(f"spread must be one of {SPREADS}, not {spread!r}")
    labels = np.asarray(labels, dtype=np.int64)
    pool = np.asarray(pool, dtype=np.float32)
    labelled = np.asarray(labelled, dtype=np.float32).reshape(-1, pool.shape[1] if pool.ndim == 2 else 0)
    if len(np.unique(labels)) < 2:
        unit_pool = unit_features(pool)
        if len(labels):
            picks = weighted_k_centre(unit_pool, unit_features(labelled), np.ones(len(pool), np.float32), top, job)
            how = (f"Only one class is labelled so far: these are the samples least like the {len(labels)} labelled, "
                   "spread over the pool (no suggestions until two classes have labels).")
        else:
            picks = kmeans_representatives(unit_pool, top, seed=seed, job=job)
            how = ("Nothing is labelled yet: these are typical samples of different groups in the pool "
                   "(diversity only, no suggestions until two classes have labels).")
        return PoolRanking([Suggestion(i, None, 0.0, s) for i, s in picks], True, how, len(labels), len(pool))
    scale = reference_scale(np.concatenate([labelled, pool]))
    head = fit_quick_head(labelled, labels, num_classes, scale=scale)
    probs = head.probabilities(pool)
    uncertainty = 1.0 - margins(probs)
    guess = probs.argmax(1)
    if spread == "classes":
        picks = class_round_robin(uncertainty, guess, top)
    elif spread == "cosine":
        keep = np.argsort(-uncertainty, kind="stable")[:COSINE_CANDIDATES * top]
        picks = [(int(keep[i]), s) for i, s in
                 weighted_k_centre(unit_features(pool[keep]), unit_features(labelled), uncertainty[keep], top, job)]
    else:
        picks = [(int(i), float(uncertainty[i])) for i in np.argsort(-uncertainty, kind="stable")[:top]]
    suggestions = [Suggestion(i, int(guess[i]), float(probs[i, guess[i]]), s) for i, s in picks]
    how = f"Ranked by how unsure a head fitted on the {len(labels)} labels is (margin), " + SPREAD_WORDS[spread]
    accuracy = estimate_accuracy(labelled, labels, num_classes, scale=scale, seed=seed) if estimate else None
    return PoolRanking(suggestions, False, how, len(labels), len(pool), accuracy, probs)
