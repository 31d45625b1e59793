"""The embedding map on real features: classes that are apart in feature space stay apart in 2-D,
the same input gives the same map, a large set is subsampled with a note, and a cancel stops it."""
from __future__ import annotations

import numpy as np
import pytest

from tlstudio.core.insight import embedding as em
from tlstudio.core.progress import Cancelled, JobState
from tests.core.insight.real_features import demo_features


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Hundreds of small O(n^2) steps: one torch thread beats two on a shared 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_map_keeps_real_classes_apart_and_is_deterministic():
    x, y, _, _ = demo_features()
    seen = []
    m = em.embed(x, y, job=JobState(lambda d, t: seen.append((d, t)), interval=0))
    assert m.xy.shape == (300, 2) and m.xy.dtype == np.float32 and np.isfinite(m.xy).all()
    assert (m.index == np.arange(300)).all() and m.note == ""
    in_features = em.knn_accuracy(x, y)
    in_map = em.knn_accuracy(m.xy, y)
    assert in_features > 0.8
    assert in_map >= in_features - 0.05           # the map keeps the neighbourhoods the features have
    # ... and it is not a blob: a random layout scores near chance (1/6)
    rng = np.random.default_rng(0)
    assert em.knn_accuracy(rng.normal(size=(300, 2)), y) < 0.35
    # classes form clusters: each class's centre is further from the others' than its points' spread
    centres = np.stack([m.xy[y == c].mean(0) for c in range(6)])
    spread = np.mean([np.linalg.norm(m.xy[y == c] - centres[c], axis=1).mean() for c in range(6)])
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=2)[~np.eye(6, dtype=bool)]
    assert np.median(gaps) > 1.5 * spread
    assert seen and seen[-1][0] == seen[-1][1] == em.ITERATIONS
    again = em.embed(x, y)
    np.testing.assert_array_equal(again.xy, m.xy)


def test_a_large_set_is_subsampled_per_class_with_a_note():
    x, y, _, _ = demo_features()
    m = em.embed(x, y, max_points=120, iterations=100)
    assert m.xy.shape == (120, 2) and len(set(m.index.tolist())) == 120
    assert np.bincount(y[m.index]).tolist() == [20] * 6            # each class keeps its share
    assert "120 of 300" in m.note


def test_cancel_stops_the_map():
    x, y, _, _ = demo_features()
    state = JobState()
    state.on_progress = lambda done, total: state.cancel() if done >= 20 else None
    with pytest.raises(Cancelled):
        em.embed(x, y, job=state)
