"""The task type of a dataset -- one label per sample, or a set of labels -- decided in one place.

The task type is orthogonal to the modality: an image manifest and a text table read their label
cell the same way, through ``split_labels``, and ``decide_task_type`` picks the type from those
cells and the Project's choice (``DataSettings.task_type``: "auto", "single" or "multilabel").

A label cell of a multi-label dataset holds several labels separated by ``;`` or ``|``, or a JSON
list (``["billing", "login"]``; a JSON Lines field may hold the list itself). "auto" means
multi-label as soon as one row carries more than one label. An empty cell is "no label": the row is
left out of the samples (an unlabeled pool row) and counted by the scan report.

A multi-label ``Sample`` carries ``labels`` (sorted class indices, at least one) and ``label`` =
``labels[0]``, so code that needs one class per sample (counting, sorting) keeps working; the
training, metrics and prediction code read ``labels`` through the task type's objects.
"""
from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any, Callable, Iterable, Sequence

from tlstudio.core.data.index import TASK_TYPE_HANDLERS, DatasetIndex, Sample, Split, printable

AUTO, SINGLE, MULTILABEL = "auto", "single", "multilabel"
TASK_TYPES = (AUTO, SINGLE, MULTILABEL)
SEPARATORS = (";", "|")
NO_LABEL = "no label"             # a skipped row's reason when its label cell is empty


def split_labels(cell: Any) -> tuple[str, ...]:
    """The labels of one cell, in order, without blanks or repeats: a JSON list (or a list value),
    else the text split at ``;`` or ``|`` (the first of them that occurs)."""
    if isinstance(cell, (list, tuple)):
        parts = [str(x) for x in cell]
    else:
        text = "" if cell is None else str(cell).strip()
        value = None
        if text.startswith("[") and text.endswith("]"):
            try:
                value = json.loads(text)
            except ValueError:
                pass
        if isinstance(value, list):
            parts = [str(x) for x in value]
        else:
            sep = next((s for s in SEPARATORS if s in text), None)
            parts = text.split(sep) if sep else [text]
    out: list[str] = []
    for part in (p.strip() for p in parts):
        if part and part not in out:
            out.append(part)
    return tuple(out)


def cell_text(value: Any) -> str:
    """A label value as one cell: a list (JSON Lines) becomes its JSON text, read back by ``split_labels``."""
    if isinstance(value, (list, tuple)):
        return json.dumps([str(x) for x in value], ensure_ascii=False)
    return "" if value is None else str(value)


def check_task_type(requested: str | None) -> str:
    value = (requested or AUTO).strip().lower()
    if value not in TASK_TYPES:
        raise ValueError(f"task type must be one of {', '.join(TASK_TYPES)}, not {requested!r}")
    return value


def decide_task_type(cells: Iterable[Any], requested: str | None = AUTO) -> str:
    """SINGLE or MULTILABEL: the ``requested`` type, or for "auto" multi-label when any cell holds
    more than one label."""
    requested = check_task_type(requested)
    if requested != AUTO:
        return requested
    return MULTILABEL if any(len(split_labels(c)) > 1 for c in cells) else SINGLE


def label_set_samples(entries: Sequence[tuple[str, Any, str | None]],
                      order: Callable[[Iterable[str]], list[str]] = sorted,
                      min_per_label: int = 1) -> tuple[list[str], list[Sample], list[str]]:
    """(classes, samples, dropped label names) of ``(path, label cell, text)`` entries read as label
    sets. A label on fewer than ``min_per_label`` samples is dropped from every set; a sample whose
    set becomes empty is dropped too (the caller reports both)."""
    sets = [(path, split_labels(cell), text) for path, cell, text in entries]
    counts = Counter(name for _, names, _ in sets for name in names)
    classes = [n for n in order(counts) if counts[n] >= min_per_label]
    dropped = [n for n in order(counts) if counts[n] < min_per_label]
    index_of = {name: i for i, name in enumerate(classes)}
    samples = []
    for path, names, text in sets:
        labels = tuple(sorted(index_of[n] for n in names if n in index_of))
        if labels:
            samples.append(Sample(path, labels[0], text, labels))
    return classes, samples, dropped


def sample_labels(sample: Sample) -> tuple[int, ...]:
    """A sample's labels: its set, or its one label."""
    return sample.labels if sample.labels is not None else (sample.label,)


def relabel(sample: Sample, value: str, label_of: dict[str, int]) -> Sample:
    """``sample`` with the class (single) or label set (multi-label, ``value`` a label cell) named."""
    import dataclasses

    if sample.labels is None:
        return dataclasses.replace(sample, label=label_of[value])
    labels = tuple(sorted(label_of[n] for n in split_labels(value)))
    return dataclasses.replace(sample, label=labels[0], labels=labels)


def override_names(value: str, multilabel: bool) -> tuple[str, ...]:
    return split_labels(value) if multilabel else (value,)


# --------------------------------------------------------------------------- the scan report

def unlabeled_count(index: DatasetIndex) -> int:
    """Rows without any label: the unlabeled pool when the index has one, else the rows skipped
    for "no label"."""
    pool = getattr(index, "pool", None)
    if pool:
        return len(pool)
    return sum(1 for s in index.skipped if s.reason.endswith(NO_LABEL))


def multilabel_report(index: DatasetIndex) -> dict:
    """Label counts, label cardinality (mean labels per sample), the label sets, the co-occurrence
    matrix (``[i][j]``: samples with labels i and j; the diagonal: each label's count) and the rows
    without any label."""
    n_labels = len(index.classes)
    co = [[0] * n_labels for _ in range(n_labels)]
    sizes = Counter()
    for s in index.samples:
        labels = sample_labels(s)
        sizes[len(labels)] += 1
        for i in labels:
            for j in labels:
                co[i][j] += 1
    n = len(index.samples)
    return {"label_counts": {name: co[i][i] for i, name in enumerate(index.classes)},
            "cardinality": sum(k * v for k, v in sizes.items()) / n if n else 0.0,
            "labels_per_sample": {str(k): sizes[k] for k in sorted(sizes)},
            "distinct_label_sets": len({sample_labels(s) for s in index.samples}),
            "cooccurrence": co, "without_label": unlabeled_count(index)}


def format_multilabel_report(report: dict, classes: Sequence[str], top: int = 8) -> str:
    lines = [f"Multi-label: {report['cardinality']:.2f} labels per sample on average "
             f"({', '.join(f'{v} with {k}' for k, v in report['labels_per_sample'].items())}); "
             f"{report['distinct_label_sets']} distinct label sets; "
             f"{report['without_label']} row(s) without a label"]
    co = report["cooccurrence"]
    pairs = sorted(((co[i][j], i, j) for i in range(len(classes)) for j in range(i + 1, len(classes))
                    if co[i][j]), reverse=True)[:top]
    if pairs:
        lines.append("Most frequent label pairs: " + ", ".join(
            f"{printable(classes[i])} + {printable(classes[j])} ({c})" for c, i, j in pairs))
    return "\n".join(lines)


# --------------------------------------------------------------------------- the split

def iterative_split(index: DatasetIndex, val_fraction: float, test_fraction: float, seed: int) -> Split:
    """A deterministic multi-label stratified split (iterative stratification, Sechidis et al. 2011):
    labels are served rarest first; each sample still unplaced that carries the label goes to the
    part that most lacks that label (then the part that lacks most samples; then by seeded chance).
    Afterwards a label missing from the train part takes one sample back from val/test (a sample
    whose move empties no label there), so every label trains where its count allows."""
    fractions = {"train": 1.0 - val_fraction - test_fraction, "val": val_fraction, "test": test_fraction}
    parts = [p for p in fractions if fractions[p] > 0]
    rng = random.Random(f"{seed}:multilabel")
    samples = sorted(index.samples, key=lambda s: s.path)
    rng.shuffle(samples)
    n_labels = len(index.classes)
    counts = Counter(i for s in samples for i in sample_labels(s))
    want = {p: {i: counts[i] * fractions[p] for i in range(n_labels)} for p in parts}
    want_total = {p: len(samples) * fractions[p] for p in parts}
    placed: dict[str, list[Sample]] = {p: [] for p in ("train", "val", "test")}
    left = list(samples)
    for label in sorted(range(n_labels), key=lambda i: (counts[i], i)):
        carrying = [s for s in left if label in sample_labels(s)]
        if not carrying:
            continue
        for s in carrying:
            part = max(parts, key=lambda p: (want[p][label], want_total[p], rng.random()))
            placed[part].append(s)
            want_total[part] -= 1
            for i in sample_labels(s):
                want[part][i] -= 1
        taken = {id(s) for s in carrying}
        left = [s for s in left if id(s) not in taken]
    _every_label_in_train(placed, n_labels)
    split = Split(*(sorted(placed[p], key=lambda s: (s.label, s.path)) for p in ("train", "val", "test")))
    in_train = Counter(i for s in split.train for i in sample_labels(s))
    for i, name in enumerate(index.classes):
        if counts[i] and counts[i] < len(parts):
            split.warnings.append(f"Label '{printable(name)}' is on only {counts[i]} sample(s), too few to "
                                  "appear in every part of the split.")
        elif not in_train[i]:
            split.warnings.append(f"Label '{printable(name)}' has no training sample.")
    return split


def _every_label_in_train(placed: dict[str, list[Sample]], n_labels: int) -> None:
    for label in range(n_labels):
        if any(label in sample_labels(s) for s in placed["train"]):
            continue
        for part in ("val", "test"):
            here = Counter(i for s in placed[part] for i in sample_labels(s))
            movable = [s for s in placed[part] if label in sample_labels(s)
                       and all(here[i] > 1 for i in sample_labels(s) if i != label)]
            if movable:
                placed[part].remove(movable[0])
                placed["train"].append(movable[0])
                break


class LabelSetType:
    """What ``core.data.index`` asks of the multi-label task type (registered in ``index.TASK_TYPE_HANDLERS``)."""

    split = staticmethod(iterative_split)

    @staticmethod
    def report(index: DatasetIndex) -> dict:
        return {"task_type": MULTILABEL, "multilabel": multilabel_report(index)}

    @staticmethod
    def report_text(index: DatasetIndex) -> str:
        return format_multilabel_report(multilabel_report(index), index.classes)


TASK_TYPE_HANDLERS[MULTILABEL] = LabelSetType
