"""Ranking the unlabeled pool on real features (EfficientNet-Lite0 on the demo images): the active
picks are samples the head is unsure about (and two ways to spread them); the cold start covers the data's groups."""
from __future__ import annotations

import numpy as np
import pytest

from tests.core.insight.real_features import demo_features
from tlstudio.core.active.quick_head import estimate_accuracy, fit_quick_head, reference_scale
from tlstudio.core.active.ranking import margins, rank_pool
from tlstudio.core.insight.neighbours import unit_features


def split(per_class: int, seed: int = 0):
    """``per_class`` labelled samples of each class; the rest is the pool."""
    x, y, classes, _ = demo_features()
    rng = np.random.default_rng(seed)
    labelled = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per_class] for c in range(len(classes))])
    pool = np.setdiff1d(np.arange(len(y)), labelled)
    return x, y, classes, labelled, pool


def test_quick_head_learns_the_real_classes():
    x, y, classes, labelled, pool = split(5)
    head = fit_quick_head(x[labelled], y[labelled], len(classes), scale=reference_scale(x))
    accuracy = float((head.probabilities(x[pool]).argmax(1) == y[pool]).mean())
    assert accuracy > 2.5 / len(classes)                      # far above chance (1/6) with 5 labels a class
    estimate = estimate_accuracy(x[labelled], y[labelled], len(classes), scale=reference_scale(x))
    assert estimate is not None and estimate > 1.5 / len(classes)
    assert estimate_accuracy(x[labelled[:5]], y[labelled[:5]], len(classes)) is None     # too few to say


def test_active_picks_are_the_uncertain_ones():
    x, y, classes, labelled, pool = split(3)
    ranking = rank_pool(x[labelled], y[labelled], len(classes), x[pool], 15)
    assert not ranking.cold_start and ranking.labelled == len(labelled) and ranking.unlabeled == len(pool)
    m = margins(ranking.probabilities)
    picked = [s.index for s in ranking.suggestions]
    assert len(set(picked)) == 15
    # The picks' margins are well below the pool's typical margin: the head is unsure about them.
    assert np.median(m[picked]) < np.median(m)
    assert np.mean(m[picked] < np.median(m)) >= 0.7
    # Suggestions carry the head's class and its probability; scores fall as the picks go.
    for s in ranking.suggestions:
        assert s.suggested == int(ranking.probabilities[s.index].argmax())
        assert abs(s.confidence - ranking.probabilities[s.index].max()) < 1e-6
    scores = [s.score for s in ranking.suggestions]
    assert scores[0] >= scores[-1] and scores[0] > 0


def test_the_spreads_do_what_they_say():
    x, y, classes, labelled, pool = split(3)
    ranking = rank_pool(x[labelled], y[labelled], len(classes), x[pool], 12)
    uncertainty = 1.0 - margins(ranking.probabilities)
    guess = ranking.probabilities.argmax(1)
    by_margin = list(np.argsort(-uncertainty, kind="stable")[:12])
    # The default: the twelve most uncertain, most uncertain first, the score their uncertainty.
    assert [s.index for s in ranking.suggestions] == by_margin
    assert np.allclose([s.score for s in ranking.suggestions], uncertainty[by_margin])
    # "classes": more of the head's classes than the twelve most uncertain reach, as many as the pool
    # offers, and the first pick of each class is that class's most uncertain sample.
    turns = rank_pool(x[labelled], y[labelled], len(classes), x[pool], 12, spread="classes")
    picked = [s.index for s in turns.suggestions]
    assert len(set(guess[picked])) > len(set(guess[by_margin]))
    assert len(set(guess[picked])) == min(12, len(set(guess)))
    for c in set(guess[picked]):
        first = next(i for i in picked if guess[i] == c)
        assert uncertainty[first] == uncertainty[guess == c].max()
    # "cosine": picks further apart than the twelve most uncertain.
    cosine = rank_pool(x[labelled], y[labelled], len(classes), x[pool], 12, spread="cosine")
    unit = unit_features(x[pool])

    def closest_pair(rows) -> float:
        sim = unit[rows] @ unit[rows].T
        np.fill_diagonal(sim, -1)
        return float(sim.max())

    assert closest_pair([s.index for s in cosine.suggestions]) < closest_pair(by_margin)
    assert "spread out" in cosine.how and "re-ranks" in ranking.how
    with pytest.raises(ValueError, match="spread must be one of"):
        rank_pool(x[labelled], y[labelled], len(classes), x[pool], 12, spread="far")


def test_cold_start_spreads_across_the_classes():
    x, y, classes, _, _ = split(0)
    ranking = rank_pool(np.zeros((0, x.shape[1]), np.float32), np.zeros(0, np.int64), len(classes), x, 12)
    assert ranking.cold_start and "Nothing is labelled" in ranking.how
    assert all(s.suggested is None for s in ranking.suggestions)
    covered = {int(y[s.index]) for s in ranking.suggestions}
    # Twelve typical samples of twelve groups reach (nearly) every one of the six real classes; the first six
    # alone already reach most of them.
    assert len(covered) >= 5
    assert len({int(y[s.index]) for s in ranking.suggestions[:6]}) >= 4


def test_one_labelled_class_is_still_a_cold_start_away_from_it():
    x, y, classes, _, _ = split(0)
    first = np.flatnonzero(y == 0)[:4]
    rest = np.setdiff1d(np.arange(len(y)), first)
    ranking = rank_pool(x[first], y[first], len(classes), x[rest], 10)
    assert ranking.cold_start and "one class" in ranking.how
    # Spread away from the labelled class: few picks are of that class.
    assert sum(int(y[rest][s.index]) == 0 for s in ranking.suggestions) <= 2


def test_simulated_labelling_active_beats_random_picks():
    """20 labels picked by the ranking (a cold start of 6, then 4 at a time) give a better head on held-out
    real images than 20 random labels (five seeds; benchmarks/bench_active.py measures it at scale)."""
    from tlstudio.core.active.ranking import kmeans_representatives

    x, y, classes, _ = demo_features()
    k, budget, wins, gaps = len(classes), 20, 0, []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(y))
        test, pool = order[:100], order[100:]
        scale = reference_scale(x[pool])

        def accuracy(chosen) -> float:
            head = fit_quick_head(x[chosen], y[chosen], k, scale=scale)
            return float((head.probabilities(x[test]).argmax(1) == y[test]).mean())

        randomly = accuracy(rng.permutation(pool)[:budget])
        chosen = [int(pool[i]) for i, _ in kmeans_representatives(unit_features(x[pool]), 6, seed=seed)]
        while len(chosen) < budget:
            left = np.setdiff1d(pool, chosen)
            ranking = rank_pool(x[chosen], y[chosen], k, x[left], 4, seed=seed, estimate=False)
            chosen += [int(left[s.index]) for s in ranking.suggestions]
        actively = accuracy(np.array(chosen))
        wins += actively > randomly
        gaps.append(actively - randomly)
    assert np.mean(gaps) > 0 and wins >= 3, gaps
