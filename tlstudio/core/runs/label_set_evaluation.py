"""Evaluating a multi-label model: every label's probability against its threshold.

``evaluate_label_sets(loaded, samples)`` runs the model (sigmoid outputs) over samples whose
``labels`` index the model's classes; ``heldout_label_sets(data)`` turns a refit run's stored
out-of-fold probabilities into the same result. The result is
``multilabel_metrics(...).to_dict()`` (see ``multilabel_metrics`` for the keys) plus:

- ``probabilities`` (N×L) and ``targets`` (N×L 0/1), so a view can recompute every figure while a
  threshold moves (``multilabel_metrics`` again, with new thresholds);
- ``predictions``: ``[{path, text?, true: [names], predicted: [names], probabilities: {name: p}}]``;
- ``confusion``: L×L counts, row = true label, column = predicted label (``cooccurrence``);
- ``classes`` (the labels), ``skipped`` unreadable samples, and ``source`` where it was measured.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from tlstudio.core.data.index import Sample
from tlstudio.core.data.label_sets import sample_labels
from tlstudio.core.errors import DatasetError, RunFolderError
from tlstudio.core.progress import JobState
from tlstudio.core.runs.multilabel_metrics import cooccurrence, multilabel_metrics


def label_set_result(probs: np.ndarray, targets: np.ndarray, thresholds: Sequence[float], classes: Sequence[str],
                     rows: Sequence[dict]) -> dict:
    """The evaluation result of ``probs`` vs ``targets`` (see the module docstring); ``rows``: per
    sample ``{path, text?}``."""
    if probs.shape[0] == 0:
        raise DatasetError("None of the samples could be read, so nothing was evaluated.")
    result = multilabel_metrics(probs, targets, thresholds, list(classes)).to_dict()
    predicted = probs >= np.asarray(thresholds)[None, :]
    names = list(classes)
    result["predictions"] = [
        {**row, "true": [names[j] for j in np.flatnonzero(t)], "predicted": [names[j] for j in np.flatnonzero(p)],
         "probabilities": {names[j]: float(v) for j, v in enumerate(pr)}}
        for row, t, p, pr in zip(rows, targets, predicted, probs)]
    result["probabilities"] = probs.astype(float).round(6).tolist()
    result["targets"] = targets.astype(int).tolist()
    result["confusion"] = cooccurrence(targets, predicted).tolist()
    result["classes"] = names
    result["skipped"] = []
    return result


def evaluate_label_sets(loaded, samples: Sequence[Sample], batch_size: int = 32,
                        job: JobState | None = None) -> dict:
    """Metrics of a multi-label ``loaded`` model on ``samples`` (labels index the model's classes)."""
    from tlstudio.core.data.modality import modality_for
    from tlstudio.core.runs.predict import iter_sample_probabilities, output_probabilities

    samples = list(samples)
    if not samples:
        raise DatasetError("There are no samples to evaluate on.")
    n_labels = len(loaded.classes)
    probs, targets, rows, skipped = [], [], [], []
    for sample, p, error in iter_sample_probabilities(loaded.model, modality_for(loaded.task), loaded.preprocessing,
                                                      samples, batch_size, job, output_probabilities(loaded)):
        if p is None:
            skipped.append({"path": sample.path, "error": error})
            continue
        target = np.zeros(n_labels, dtype=bool)
        target[list(sample_labels(sample))] = True
        probs.append(p.numpy())
        targets.append(target)
        rows.append({"path": sample.path, **({"text": sample.text} if sample.text is not None else {})})
    shape = (0, n_labels)
    result = label_set_result(np.array(probs).reshape(-1, n_labels) if probs else np.zeros(shape),
                              np.array(targets).reshape(-1, n_labels) if targets else np.zeros(shape, dtype=bool),
                              loaded.thresholds, loaded.classes, rows)
    result["skipped"] = skipped
    return result


def heldout_label_sets(data: dict, run_dir) -> dict:
    """A multi-label run's stored out-of-fold predictions (heldout_predictions.json) as a result."""
    try:
        classes = [str(c) for c in data["classes"]]
        thresholds = [float(t) for t in data["thresholds"]]
        probs = np.array([[float(v) for v in row["probabilities"]] for row in data["predictions"]])
        targets = np.zeros(probs.shape, dtype=bool)
        for i, row in enumerate(data["predictions"]):
            targets[i, [int(j) for j in row["true"]]] = True
        rows = [{"path": str(row["path"])} for row in data["predictions"]]
        source = str(data["source"])
    except (KeyError, TypeError, ValueError, IndexError):
        raise RunFolderError(f"Invalid held-out predictions in {run_dir}.") from None
    result = label_set_result(probs.reshape(-1, len(classes)), targets, thresholds, classes, rows)
    result["source"] = source
    result["heldout"] = True
    return result


@dataclass
class LabelArrays:
    """A multi-label evaluation as arrays: what the sliders, the matrix and the galleries work on."""

    labels: list[str]
    probs: np.ndarray            # N×L
    targets: np.ndarray          # N×L bool
    thresholds: np.ndarray       # L, tuned on the run's out-of-fold predictions
    samples: list[dict]          # N: {"path", "text"?} in the rows' order


def label_arrays(result: dict) -> LabelArrays:
    """The arrays of a multi-label evaluation result (``label_set_result``)."""
    labels = [str(x) for x in result["labels"]]
    probs = np.asarray(result["probabilities"], dtype=np.float64).reshape(-1, len(labels))
    targets = np.asarray(result["targets"]).astype(bool).reshape(probs.shape)
    samples = [{k: p[k] for k in ("path", "text") if k in p} for p in result["predictions"]]
    return LabelArrays(labels, probs, targets, np.asarray(result["thresholds"], dtype=np.float64), samples)
