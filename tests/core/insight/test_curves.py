"""Learning curves on real features (the demo images through EfficientNet-Lite0): they rise with data,
the fitted curve extrapolates to data it did not see, and the sentences say where more data pays."""
from __future__ import annotations

import re

import numpy as np
import pytest

from tlstudio.core.insight import curves as cv
from tlstudio.core.progress import Cancelled, JobState
from tests.core.insight.real_features import demo_features

FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 1.0)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The batched heads take hundreds of small steps; on a shared 2-core machine one torch thread is
    several times faster than two fighting for the cores. Restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def demo_curves():
    x, y, classes, _ = demo_features()
    return cv.learning_curves(x, y, classes, fractions=FRACTIONS)


def test_curves_rise_with_data_and_the_fit_predicts_twice_the_data(demo_curves):
    c = demo_curves
    acc = c.accuracy_mean
    assert c.accuracy.shape == (6, cv.REPEATS) and c.recall.shape == (6, cv.REPEATS, 6)
    assert acc[-1] > acc[0] + 0.05                          # more data, better heads
    assert all(b >= a - 0.02 for a, b in zip(acc, acc[1:]))  # no real dip along the way
    assert 0.8 < acc[-1] < 1.0
    np.testing.assert_allclose(c.n_train[-1], 300 * (c.folds - 1) / c.folds, rtol=0.02)
    assert c.n_train[0] < c.n_train[1] < c.n_train[-1]
    # The claim the sentences make -- "twice as many" -- checked on the data: a power law fitted on
    # the points up to half the data predicts the accuracy measured with all of it.
    half = c.n_train <= c.n_train[-1] / 2 + 1
    se = c.accuracy.std(1, ddof=1) / np.sqrt(c.accuracy.shape[1])
    law = cv.fit_power_law(c.n_train[half], acc[half], se[half])
    assert law is not None and law.trusted
    assert abs(float(law(c.n_train[-1])) - acc[-1]) < 0.03
    # the real fit on all points is trusted and sane: a ceiling above today's accuracy, below perfect
    assert c.overall is not None and c.overall.trusted
    assert acc[-1] - 0.01 <= c.overall.a <= 1.0


def test_sentences_are_plain_and_sane(demo_curves):
    c = demo_curves
    assert c.texts and c.texts[0].startswith("Overall:") or c.texts[0].startswith("More data is unlikely")
    for text in c.texts:
        m = re.match(r"About (\d+) more images of class '([^']+)' would raise its recall by ~(\d+) points? "
                     r"\((\d+)% → (\d+)%\)\.", text)
        if m:
            count, name, points, before, after = m.groups()
            i = c.classes.index(name)
            assert int(count) == 50                           # doubling this class's 50 images
            assert 1 <= int(points) <= 15 and int(after) > int(before)
            assert abs(int(before) - 100 * c.recall_mean[-1, i]) <= 1
    named = " ".join(c.texts)
    # every class is accounted for: a gain, "unlikely to help" or "no estimate"
    assert all(f"'{name}'" in named for name in c.classes)
    table = cv.format_curves(c)
    assert "How much more data" in table and "100%" in table and c.texts[-1] in table
    d = c.to_dict()
    assert d["counts"] == {name: 50 for name in c.classes} and len(d["table"]) == 6 and d["texts"] == c.texts


def test_two_easy_classes_are_told_more_data_will_not_help():
    x, y, classes, _ = demo_features()
    pick = np.isin(y, [classes.index("sneaker"), classes.index("trouser")])
    labels = (y[pick] == classes.index("trouser")).astype(np.int64)
    c = cv.learning_curves(x[pick], labels, ["sneaker", "trouser"], repeats=2)
    assert c.accuracy_mean[-1] > 0.95
    assert c.texts[0].startswith("More data is unlikely to help")
    assert not any(t.startswith("About") for t in c.texts)


def test_power_law_fit_recovers_a_known_curve_and_distrusts_noise():
    n = np.array([20, 40, 80, 120, 160, 200], dtype=float)
    truth = 0.95 - 1.2 * n ** -0.6
    law = cv.fit_power_law(n, truth)
    assert law.trusted and abs(law.a - 0.95) < 0.01 and abs(law.c - 0.6) < 0.05
    assert abs(law.gain(200) - (truth[-1] - (0.95 - 1.2 * 400 ** -0.6)) * -1) < 0.005
    zigzag = np.array([0.5, 0.8, 0.45, 0.85, 0.5, 0.8])
    assert not cv.fit_power_law(n, zigzag).trusted
    assert cv.fit_power_law(n[:3], truth[:3]) is None         # too few points to fit three numbers


def test_too_few_samples_and_cancel():
    x, y, classes, _ = demo_features()
    with pytest.raises(cv.CurveError):
        cv.learning_curves(x[:10], y[:10], classes)
    state = JobState()
    state.cancel()
    with pytest.raises(Cancelled):
        cv.learning_curves(x, y, classes, job=state)
    # a cancel while the heads train stops them within an epoch; progress came per epoch until then
    seen = []
    state = JobState(interval=0)
    state.on_progress = lambda done, total: (seen.append(done), done >= 5 and state.cancel())
    with pytest.raises(Cancelled):
        cv.learning_curves(x, y, classes, job=state)
    assert seen[:6] == [0, 1, 2, 3, 4, 5] and len(seen) <= 7
