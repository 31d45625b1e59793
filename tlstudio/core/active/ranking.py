"""Which unlabeled samples to label next: uncertainty x spread on cached features.

With labels: a quick linear head (``quick_head.py``) gives each pool sample
class probabilities; its *uncertainty* is ``1 - margin`` (margin: the top
probability minus the runner-up). Picking only the most uncertain samples
picks many near-copies of one confusion, so the choice is a greedy,
uncertainty-weighted k-centre spread among the ``CANDIDATES x top`` most
uncertain samples: each next pick maximises ``uncertainty ** UNCERTAINTY_POWER
x distance``, where the distance (cosine, on unit feature rows) is to the
nearest sample already labelled or already picked. The score shown is that
product at the time of the pick. The candidate share was chosen with
``benchmarks/bench_active.py``: spreading over the whole pool (no candidate
limit) drifts to samples that are far away but already clear: on
Fashion-MNIST it did not reach random selection's 400-label accuracy with 200
labels; two candidates per pick did (0.796 against 0.794, 5 seeds). On the
WordNet texts random selection is nearly flat from 200 to 400 labels and
active selection at 200 ties it within noise (0.922 against 0.923).

Cold start (no labels, or labels of a single class): no head can be fitted, so
the pick is diversity only -- k-means on the pool, and from each cluster the
sample nearest its centre (a typical sample, not an outlier), biggest
clusters first. ``PoolRanking.how`` says which of the two was done.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from tlstudio.core.active.quick_head import estimate_accuracy, fit_quick_head, reference_scale
from tlstudio.core.insight.neighbours import unit_features
from tlstudio.core.progress import JobState, check

UNCERTAINTY_POWER = 1.0      # how much uncertainty weighs against spread (see benchmarks/bench_active.py)
CANDIDATES = 2.0             # only the CANDIDATES x top most uncertain samples compete for the spread
KMEANS_ITERATIONS = 20


@dataclass(frozen=True)
class Suggestion:
    index: int                  # into the pool's rows
    suggested: int | None       # the head's class for it (None at cold start)
    confidence: float           # the head's probability of ``suggested`` (0.0 at cold start)
    score: float                # why it ranks here: uncertainty x spread (cold start: its cluster's share)


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
              seed: int = 0, uncertainty_power: float = UNCERTAINTY_POWER, candidates: float | None = CANDIDATES,
              estimate: bool = True, job: JobState | None = None) -> PoolRanking:
    """The ``top`` pool rows to label next (see the module docstring).

    ``labelled`` [n, d] features with ``labels`` in [0, num_classes); ``pool`` [m, d] features of
    the unlabeled samples. ``estimate``: also cross-validate the quick head on the labels."""
    labels = np.asarray(labels, dtype=np.int64)
    pool = np.asarray(pool, dtype=np.float32)
    labelled = np.asarray(labelled, dtype=np.float32).reshape(-1, pool.shape[1] if pool.ndim == 2 else 0)
    unit_pool = unit_features(pool)
    n_classes_seen = len(np.unique(labels))
    if n_classes_seen < 2:
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
    uncertainty = (1.0 - margins(probs)) ** uncertainty_power
    if candidates is not None and len(pool) > candidates * top:   # only the most uncertain compete for spread
        keep = np.argsort(-uncertainty, kind="stable")[:int(candidates * top)]
        picks = [(int(keep[i]), s) for i, s in
                 weighted_k_centre(unit_pool[keep], unit_features(labelled), uncertainty[keep], top, job)]
    else:
        picks = weighted_k_centre(unit_pool, unit_features(labelled), uncertainty, top, job)
    guess = probs.argmax(1)
    suggestions = [Suggestion(i, int(guess[i]), float(probs[i, guess[i]]), s) for i, s in picks]
    how = (f"Ranked by how unsure a head fitted on the {len(labels)} labels is (margin), and spread out (distance "
           "to what is labelled).")
    accuracy = estimate_accuracy(labelled, labels, num_classes, scale=scale, seed=seed) if estimate else None
    return PoolRanking(suggestions, False, how, len(labels), len(pool), accuracy, probs)
