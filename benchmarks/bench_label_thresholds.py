"""How long one step of a multi-label run's threshold slider takes on the GUI thread.

A step recomputes every figure of the Results tab's per-label table (``multilabel_metrics`` over all
labels, average precision included) and refreshes the table (``LabelThresholds._recompute``): on the
GUI thread up to ``INLINE_CELLS`` samples × labels, else in a worker (the step itself then only
queues it; the last column says when the figures of the last step arrive). The galleries and the
matrix wait until the slider rests. "open ms": showing a run's table (GUI thread; the figures at one
threshold of 0.5 for comparison come from a worker past ``INLINE_CELLS``); "matrix ms": the
label-confusion counts computed once the slider rests (in a worker, so never a stall). The target is a frame (~16 ms) on the sizes a
user meets; the GUI thread must never stall ~30 ms or more (DESIGN.md). Random probabilities (the
figures' cost does not depend on their values). Run:
``QT_QPA_PLATFORM=offscreen python benchmarks/bench_label_thresholds.py [--repeat 30]``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
SIZES = ((300, 6), (2_000, 20), (10_000, 20), (10_000, 100), (50_000, 50))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from tlstudio.core.runs.multilabel_metrics import multilabel_metrics, predicted_matrix
    from tlstudio.gui.views.multilabel_results import label_confusion
    from tlstudio.gui.jobs.tasks import wait_for_all
    from tlstudio.gui.widgets.label_thresholds import INLINE_CELLS, SLIDER_STEPS, LabelThresholds

    app = QApplication.instance() or QApplication([])
    rng = np.random.default_rng(0)
    print(f"load average: {os.getloadavg()[0]:.1f} (2 cores, shared: timings are noisy)")
    print(f"{'samples':>8} {'labels':>6} {'metrics ms':>11} {'GUI-thread step ms (median / max)':>30}"
          f" {'where':>8} {'figures after last step, ms':>12} {'open ms':>8} {'matrix ms':>9}")
    for n, n_labels in SIZES:
        labels = [f"label{j}" for j in range(n_labels)]
        targets = rng.random((n, n_labels)) < 0.15
        probs = np.clip(np.where(targets, rng.beta(4, 2, targets.shape), rng.beta(1.5, 5, targets.shape)), 0, 1)
        start = time.perf_counter()
        multilabel_metrics(probs, targets, 0.5, labels)
        metrics_ms = (time.perf_counter() - start) * 1000
        widget = LabelThresholds()
        at_tuned = multilabel_metrics(probs, targets, 0.5, labels)     # an evaluation brings these
        start = time.perf_counter()
        widget.set_data(labels, probs, targets, np.full(n_labels, 0.5), at_tuned)
        open_ms = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        label_confusion(targets, predicted_matrix(probs, np.full(n_labels, 0.5)))
        matrix_ms = (time.perf_counter() - start) * 1000
        while widget.is_computing():
            app.processEvents()
            time.sleep(0.001)
        steps = []
        for k in range(args.repeat):
            start = time.perf_counter()
            widget.slider.setValue(int((0.2 + 0.6 * k / args.repeat) * SLIDER_STEPS))
            steps.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        while widget.is_computing():             # a large run: the worker's figures arrive
            app.processEvents()
            time.sleep(0.001)
        settled_ms = (time.perf_counter() - start) * 1000
        print(f"{n:>8} {n_labels:>6} {metrics_ms:>11.1f} {np.median(steps):>20.1f} / {max(steps):.1f}"
              f" {'inline' if n * n_labels <= INLINE_CELLS else 'worker':>8} {settled_ms:>12.0f}"
              f" {open_ms:>8.1f} {matrix_ms:>9.1f}")
        widget.deleteLater()
    wait_for_all()


if __name__ == "__main__":
    main()
