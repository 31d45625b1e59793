"""Evaluation of a trained model: accuracy, per-class metrics, confusion matrix.

Works on the val/test split a run recorded (split.json) or on any labelled
folder/CSV; a folder's classes are matched to the model's by name, so a test
folder may hold a subset of the classes, in any order. Samples are scanned
and read through the modality of the model's task (``model.json``'s
``task``, "image" when absent). When the folder is the run's project's own
dataset, the project's exclusions and label overrides apply, as in training.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Sequence

import torch

from tlstudio.core.data.curation import apply_curation
from tlstudio.core.data.index import Sample, sample_from_row
from tlstudio.core.data.label_sets import sample_labels
from tlstudio.core.runs.label_set_evaluation import evaluate_label_sets, heldout_label_sets
from tlstudio.core.data.modality import Modality, modality_for
from tlstudio.core.errors import DatasetError, RunFolderError
from tlstudio.core.progress import JobState
from tlstudio.core.runs.predict import iter_sample_probabilities
from tlstudio.core.runs.folder import LoadedModel
from tlstudio.core.runs.run_folder import HELDOUT, SPLIT, RunFolder

SPLITS = ("train", "val", "test")
HELDOUT_SPLIT = "heldout"      # a refit run's out-of-fold (held-out) predictions, evaluated as they were stored


def map_classes(samples: Sequence[Sample], classes: Sequence[str], model_classes: Sequence[str]) -> list[Sample]:
    """Relabel samples from their dataset's class list onto the model's class indices (a multi-label
    sample: each label of its set)."""
    index = {name: i for i, name in enumerate(model_classes)}
    unknown = sorted({classes[i] for s in samples for i in sample_labels(s) if classes[i] not in index})
    if unknown:
        raise DatasetError(f"The model does not know the class(es) {', '.join(unknown)}; "
                           f"it was trained on {', '.join(model_classes)}.")
    out = []
    for s in samples:
        labels = None if s.labels is None else tuple(sorted(index[classes[i]] for i in s.labels))
        out.append(dataclasses.replace(s, label=labels[0] if labels else index[classes[s.label]], labels=labels))
    return out


def split_samples(run_dir: str | os.PathLike, split: str = "val") -> list[Sample]:
    """The samples of one split a run recorded in split.json (labels index the run's classes)."""
    if split not in SPLITS:
        raise DatasetError(f"Unknown split {split!r}; use one of {', '.join(SPLITS)}.")
    data = RunFolder(run_dir).split_rows()
    if not isinstance(data, dict):
        raise RunFolderError(f"The run {run_dir} has no split.json; give a data folder to evaluate on.")
    rows = data.get(split) or []
    try:
        samples = [sample_from_row(row) for row in rows]
    except (TypeError, ValueError):
        raise RunFolderError(f"Invalid split.json in {run_dir}.") from None
    if not samples:
        raise DatasetError(f"The run's {split} split is empty; evaluate on another split or a data folder.")
    return samples


def evaluation_samples(loaded: LoadedModel, run_dir: str | os.PathLike, data_dir: str | os.PathLike | None = None,
                       split: str = "val", job: JobState | None = None) -> list[Sample]:
    """Samples labelled with the model's class indices, from a data folder or the run's split."""
    if data_dir is None:
        samples = split_samples(run_dir, split)
        bad = [s for s in samples if not all(0 <= i < len(loaded.classes) for i in sample_labels(s))]
        if bad:
            raise RunFolderError(f"split.json in {run_dir} does not match the model's {len(loaded.classes)} classes.")
        return samples
    data = project_data_for(run_dir, data_dir)
    if data is None:
        index = model_modality(loaded).scan(data_dir, job=job)
    else:
        index = apply_curation(model_modality(loaded).scan(data_dir, job=job, data=data), data)
    return map_classes(index.samples, index.classes, loaded.classes)


def project_data_for(run_dir: str | os.PathLike, data_dir: str | os.PathLike):
    """The run's project ``data`` settings (exclusions, label overrides, text columns) when ``data_dir`` is
    that project's dataset, so evaluating on it leaves out and relabels what the project does; else None."""
    from tlstudio.core.project import Project, ProjectError

    snap = RunFolder(run_dir).project_dict()
    path = snap.get("data", {}).get("path") if isinstance(snap, dict) and isinstance(snap.get("data"), dict) else None
    if not path or Path(path).absolute().resolve() != Path(data_dir).absolute().resolve():
        return None
    try:
        return Project.from_dict(snap).data
    except ProjectError:        # an unreadable snapshot: evaluate the folder as it is, like any other
        return None


def model_modality(loaded: LoadedModel) -> Modality:
    """The modality a loaded model reads (its model.json's task; "image" for older files)."""
    return modality_for(str((loaded.info or {}).get("task", "image")))


def _safe_div(a: float, b: float) -> float:
    return float(a) / float(b) if b else 0.0


def evaluate(loaded: LoadedModel, samples: Sequence[Sample], classes: Sequence[str] | None = None,
             batch_size: int = 32, top_k: int = 5, job: JobState | None = None) -> dict:
    """Metrics of ``loaded`` on ``samples`` whose labels index ``classes`` (default: the model's).

    Returns accuracy, top_k_accuracy, per_class {precision, recall, f1, support},
    confusion_matrix (rows = true class, columns = predicted), misclassified and
    predictions [{path, true, predicted, confidence}], plus skipped unreadable files.
    """
    model_classes = list(loaded.classes)
    samples = list(samples)
    if classes is not None and list(classes) != model_classes:
        samples = map_classes(samples, list(classes), model_classes)
    if not samples:
        raise DatasetError("There are no images to evaluate on.")
    n = len(model_classes)
    k = max(1, min(int(top_k), n))
    cm = torch.zeros((n, n), dtype=torch.long)
    top_k_hits = 0
    predictions, skipped = [], []
    for sample, probs, error in iter_sample_probabilities(loaded.model, model_modality(loaded), loaded.preprocessing,
                                                          samples, batch_size, job):
        if probs is None:
            skipped.append({"path": sample.path, "error": error})
            continue
        predicted = int(torch.argmax(probs))
        cm[sample.label, predicted] += 1
        top_k_hits += int(sample.label in torch.topk(probs, k).indices.tolist())
        entry = {"path": sample.path, "true": model_classes[sample.label],
                 "predicted": model_classes[predicted], "confidence": float(probs[predicted])}
        if sample.text is not None:
            entry["text"] = sample.text
        predictions.append(entry)
    result = _metrics(cm, model_classes, top_k_hits, k, predictions)
    result["skipped"] = skipped
    return result


def _metrics(cm: torch.Tensor, model_classes: list[str], top_k_hits: int, k: int, predictions: list[dict]) -> dict:
    total = int(cm.sum())
    if total == 0:
        raise DatasetError("None of the images could be read, so nothing was evaluated.")
    per_class = {}
    for c, name in enumerate(model_classes):
        tp, support, predicted_as = int(cm[c, c]), int(cm[c, :].sum()), int(cm[:, c].sum())
        precision, recall = _safe_div(tp, predicted_as), _safe_div(tp, support)
        per_class[name] = {"precision": precision, "recall": recall,
                           "f1": _safe_div(2 * precision * recall, precision + recall), "support": support}
    present = [m for m in per_class.values() if m["support"] > 0]
    return {
        "accuracy": _safe_div(int(cm.trace()), total),
        "top_k": k,
        "top_k_accuracy": _safe_div(top_k_hits, total),
        "macro_f1": _safe_div(sum(m["f1"] for m in present), len(present)),
        "samples": total,
        "classes": model_classes,
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "misclassified": [p for p in predictions if p["true"] != p["predicted"]],
        "predictions": predictions,
        "skipped": [],
    }


def heldout_report(run_dir: str | os.PathLike) -> dict | None:
    """The metrics of a searched head's held-out (out-of-fold) predictions, or None for other runs.

    The shape of ``evaluate``'s result, with ``source`` saying how they were measured and
    ``top_k`` 1 (only the predicted class is stored).
    """
    data = RunFolder(run_dir).read(HELDOUT)
    if not isinstance(data, dict) or not data.get("predictions"):
        return None
    if "thresholds" in data:       # a multi-label run: probabilities per label, not one class
        return heldout_label_sets(data, run_dir)
    try:
        classes = [str(c) for c in data["classes"]]
        rows = list(data["predictions"])
        n = len(classes)
        cm = torch.zeros((n, n), dtype=torch.long)
        predictions = []
        for row in rows:
            cm[int(row["true"]), int(row["predicted"])] += 1
            predictions.append({"path": str(row["path"]), "true": classes[int(row["true"])],
                                "predicted": classes[int(row["predicted"])],
                                "confidence": float(row["confidence"])})
        source = str(data["source"])
    except (KeyError, TypeError, ValueError, IndexError):
        raise RunFolderError(f"Invalid {HELDOUT} in {run_dir}.") from None
    result = _metrics(cm, classes, int(cm.trace()), 1, predictions)
    result["source"] = source
    result["heldout"] = True
    return result


def trained_on_validation(run_dir: str | os.PathLike) -> bool:
    """Whether the run's final head trained on its validation split (a refit after the head search)."""
    return RunFolder(run_dir).head_trained_on_val()


def evaluate_run(loaded: LoadedModel, run_dir: str | os.PathLike, data_dir: str | os.PathLike | None = None,
                 split: str = "val", batch_size: int = 32, top_k: int = 5, job: JobState | None = None) -> dict:
    """Evaluate on a data folder, or on the run's recorded split when none is given.

    A run whose final head was refit on its validation split has no untouched validation data:
    its "val" evaluation is the out-of-fold report (``source`` says so), never the final
    model's predictions on samples it trained on. ``split="heldout"`` asks for that report
    (``evaluation_choices`` lists what a run has).
    """
    if data_dir is None and (split == HELDOUT_SPLIT or split == "val" and trained_on_validation(run_dir)):
        report = heldout_report(run_dir)
        if report is None:
            raise RunFolderError(f"The final head of {run_dir} trained on its validation split and the run's "
                                 f"out-of-fold figures ({HELDOUT}) are missing or empty, so the val split "
                                 "cannot score it; evaluate on --split test or on a data folder it never saw.")
        return report
    samples = evaluation_samples(loaded, run_dir, data_dir, split, job)
    if loaded.thresholds is not None:      # a multi-label model (model.json's task_type and thresholds)
        result = evaluate_label_sets(loaded, samples, batch_size, job)
    else:
        result = evaluate(loaded, samples, None, batch_size, top_k, job)
    result["source"] = str(data_dir) if data_dir is not None else f"{split} split"
    return result


def evaluation_choices(run_dir: str | os.PathLike) -> list[tuple[str, str]]:
    """[(key, label)] of what exists for this run: its held-out (out-of-fold) predictions when its
    final head was refit on the validation data, else its validation split; its test split when it
    has one. Labels name the source and count the samples ("Out-of-fold (300)")."""
    from tlstudio.core.runs.metric_names import source_name

    choices = []
    folder = RunFolder(run_dir)
    heldout = folder.read(HELDOUT)
    split = folder.read(SPLIT)
    split = split if isinstance(split, dict) else {}
    if trained_on_validation(run_dir) and isinstance(heldout, dict):
        where = source_name(str(heldout.get("source", ""))) or "held-out predictions"
        choices.append((HELDOUT_SPLIT, f"{where[0].upper()}{where[1:]} ({len(heldout.get('predictions') or [])})"))
    elif split.get("val"):
        choices.append(("val", f"Validation split ({len(split['val'])})"))
    if split.get("test"):
        choices.append(("test", f"Test split ({len(split['test'])})"))
    return choices
