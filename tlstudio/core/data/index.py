"""What a dataset is once scanned, whatever its modality: samples, classes, the split.

A ``DatasetIndex`` lists labelled ``Sample``s and the ``SkippedFile``s that
could not be used. A sample is located by ``path`` (an image file, or a row
such as ``"reviews.csv:12"``) and, for text, carries its ``text``. The
stratified split, class weights and the command-line report work on any
index; reading the data itself is the modality's business
(``tlstudio.core.data.modality``).

``sample_key(sample, root)`` names a sample the same way across scans (the
key the Project's exclusions and label overrides are stored under, see
``tlstudio.core.data.curation``).

Samples serialise as ``[path, label]`` rows (``[path, label, text]`` when
they carry a text; ``[path, label, text or null, [labels]]`` for a multi-label
sample): the layout of a run's ``split.json``.

``DatasetIndex.task_type`` says whether a sample has one label ("single") or a
set of them ("multilabel", ``Sample.labels``); ``core.data.label_sets`` decides it.
"""
from __future__ import annotations

import dataclasses
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from tlstudio.core.errors import DatasetError


@dataclass(frozen=True)
class Sample:
    path: str                  # absolute path of a file, or a locator such as "file.csv:12"
    label: int                 # index into DatasetIndex.classes
    text: str | None = None    # the text itself, for text datasets
    labels: tuple[int, ...] | None = None    # a multi-label sample's label set (sorted; label == labels[0])


# The task types other than "single" (one label per sample), by name: an object with ``split(index,
# val_fraction, test_fraction, seed) -> Split``, ``report(index) -> dict`` (added to ``to_report``) and
# ``report_text(index) -> str``. ``core.data.label_sets`` registers "multilabel" (its scanners import it).
TASK_TYPE_HANDLERS: dict[str, Any] = {}


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass
class DatasetIndex:
    root: str
    classes: list[str]
    samples: list[Sample]
    skipped: list[SkippedFile] = field(default_factory=list)
    task_type: str = "single"          # "single" | "multilabel" (core.data.label_sets)

    def counts(self) -> dict[str, int]:
        """Samples per class (multi-label: samples carrying each label)."""
        per_label = Counter(i for s in self.samples for i in (s.labels if s.labels is not None else (s.label,)))
        return {name: per_label.get(i, 0) for i, name in enumerate(self.classes)}

    def to_report(self) -> dict[str, Any]:
        report = {"root": self.root, "classes": list(self.classes), "counts": self.counts(),
                  "total": len(self.samples),
                  "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped]}
        if self.task_type != "single":
            report.update(TASK_TYPE_HANDLERS[self.task_type].report(self))
        return report


@dataclass
class Split:
    train: list[Sample]
    val: list[Sample]
    test: list[Sample]
    warnings: list[str] = field(default_factory=list)


def sample_row(sample: Sample) -> list:
    """``[path, label]``, or ``[path, label, text]`` for a sample that carries a text; a multi-label
    sample adds its label set: ``[path, label, text or None, [labels]]``."""
    row: list = [sample.path, sample.label]
    if sample.text is not None or sample.labels is not None:
        row.append(sample.text)
    if sample.labels is not None:
        row.append(list(sample.labels))
    return row


def sample_from_row(row: Sequence) -> Sample:
    """The inverse of ``sample_row``; raises TypeError/ValueError on a malformed row."""
    if isinstance(row, (str, bytes)) or len(row) not in (2, 3, 4):
        raise ValueError(f"a sample row has 2 to 4 items, not {row!r}")
    text = row[2] if len(row) >= 3 else None
    if text is not None and not isinstance(text, str):
        raise TypeError(f"a sample's text must be a string, not {type(text).__name__}")
    labels = None
    if len(row) == 4:
        if isinstance(row[3], (str, bytes)) or not row[3]:
            raise ValueError(f"a multi-label row needs a non-empty list of labels, not {row[3]!r}")
        labels = tuple(sorted(int(i) for i in row[3]))
    return Sample(str(row[0]), int(row[1]), text, labels)


def key_base(root: str) -> str:
    """The folder sample keys are relative to: ``root`` itself, or the folder of a data file
    (a CSV of image paths, a text CSV/TSV/JSONL)."""
    return root if os.path.isdir(root) else os.path.dirname(root)


def sample_key(sample: Sample, root: str) -> str:
    """A stable key for ``sample`` of the dataset scanned from ``root`` (``DatasetIndex.root``).

    Images: the file's path relative to the dataset root as a POSIX path ("cat/001.png"); for a
    CSV dataset the root is the CSV's folder. Text: the relative file plus the row/line locator
    that ``Sample.path`` holds ("reviews.csv:12"; a ``.txt`` file of a text folder:
    "positive/a.txt"). The label is not part of the key, so a relabelled sample keeps its key.
    A path outside the root stays relative ("../x.png"), so the key is still stable. The key
    depends on nothing but the path and the root, never on the disk; it is computed per call,
    so for many samples pass the same ``root`` (``index.root``) each time.
    """
    return _key(sample.path, key_base(root))


def sample_keys(index: DatasetIndex) -> list[str]:
    """``sample_key`` of every sample of ``index``, in order (the root is looked at once)."""
    base = key_base(index.root)
    return [_key(s.path, base) for s in index.samples]


def _key(path: str, base: str) -> str:
    if os.path.isabs(path):
        path = os.path.relpath(path, base)
    return path.replace(os.sep, "/")       # a relative path already: a text locator such as "file.csv:12"


def drop_empty_classes(classes: list[str], samples: list[Sample], skipped: list[SkippedFile],
                       where: Callable[[str], str], noun: str = "images") -> tuple[list[str], list[Sample]]:
    """Remove classes left without usable samples (reported in ``skipped``) and renumber labels densely."""
    present = sorted({s.label for s in samples})
    present_set = set(present)
    for label, name in enumerate(classes):
        if label not in present_set:
            skipped.append(SkippedFile(where(name), f"class '{name}' has no usable {noun} and was left out"))
    remap = {old: new for new, old in enumerate(present)}
    return [classes[i] for i in present], [dataclasses.replace(s, label=remap[s.label]) for s in samples]


_UNSAFE = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}     # bidi controls


def printable(name: str) -> str:
    """``name`` for a terminal table: control and text-direction characters escaped (\\n, \\u202e)."""
    if name.isprintable() and not any(ord(c) in _UNSAFE for c in name):
        return name
    return "".join(c.encode("unicode_escape").decode("ascii") if not c.isprintable() or ord(c) in _UNSAFE
                   else c for c in name)


def case_twins(classes: Sequence[str]) -> list[str]:
    """Warnings for class names that differ only in letter case ('animal' and 'ANIMAL')."""
    groups: dict[str, list[str]] = {}
    for name in classes:
        groups.setdefault(name.casefold(), []).append(name)
    return [f"Classes {' and '.join(repr(printable(n)) for n in names)} differ only in letter case; they are "
            "trained as separate classes (rename one to merge them)." for names in groups.values() if len(names) > 1]


# A validation split this small gives figures such as 1.000 that say little.
FEW_VALIDATION = 5


def format_report(index: DatasetIndex, max_skipped: int = 20, noun: str = "images") -> str:
    """A short human-readable summary for the command line."""
    counts = index.counts()
    width = max((len(c) for c in counts), default=5)
    lines = [f"Dataset: {index.root}",
             f"{len(index.classes)} classes, {len(index.samples)} {noun}"]
    names = {name: printable(name) for name in counts}
    width = max((len(n) for n in names.values()), default=5)
    lines += [f"  {names[name]:<{width}}  {n:>6}" for name, n in counts.items()]
    if index.task_type != "single":
        lines.append(TASK_TYPE_HANDLERS[index.task_type].report_text(index))
    if index.skipped:
        lines.append(f"Skipped {len(index.skipped)} file(s):")
        lines += [f"  {s.path}: {s.reason}" for s in index.skipped[:max_skipped]]
        if len(index.skipped) > max_skipped:
            lines.append(f"  ... and {len(index.skipped) - max_skipped} more")
    return "\n".join(lines)


def split_dataset(index: DatasetIndex, val_fraction: float = 0.2, test_fraction: float = 0.0,
                  seed: int = 0) -> Split:
    """Stratified, deterministic train/val/test split; each class is split on its own (a multi-label
    index: ``label_sets.iterative_split``)."""
    if not (0.0 <= val_fraction < 1.0 and 0.0 <= test_fraction < 1.0 and val_fraction + test_fraction < 1.0):
        raise DatasetError("The validation and test fractions must each be between 0 and 1 "
                           "and leave some images for training.")
    if index.task_type != "single":
        split = TASK_TYPE_HANDLERS[index.task_type].split(index, val_fraction, test_fraction, seed)
        if val_fraction > 0 and 0 < len(split.val) < FEW_VALIDATION:
            split.warnings.append(f"The validation split has only {len(split.val)} sample(s): its figures say "
                                  "little; add data or raise the validation fraction.")
        return split
    by_label: dict[int, list[Sample]] = {}
    for s in index.samples:
        by_label.setdefault(s.label, []).append(s)
    want_val, want_test = val_fraction > 0, test_fraction > 0
    needed = 1 + int(want_val) + int(want_test)
    split = Split([], [], [], [])
    for label in sorted(by_label):
        items = sorted(by_label[label], key=lambda s: s.path)
        # A per-class generator keeps one class's split independent of the others.
        random.Random(f"{seed}:{label}").shuffle(items)
        n = len(items)
        n_val = max(1, round(n * val_fraction)) if want_val else 0
        n_test = max(1, round(n * test_fraction)) if want_test else 0
        if n < needed:
            n_val = 1 if want_val and n >= 2 else 0
            n_test = 1 if want_test and n - 1 - n_val >= 1 else 0
            name = index.classes[label] if label < len(index.classes) else str(label)
            missing = [part for part, got, want in (("validation", n_val, want_val), ("test", n_test, want_test))
                       if want and not got]
            split.warnings.append(f"Class '{printable(name)}' has only {n} image(s), too few to split; "
                                  f"it has no {' or '.join(missing)} images.")
        while n_val + n_test > n - 1:   # keep at least one training image
            if n_test >= n_val and n_test > 0:
                n_test -= 1
            else:
                n_val -= 1
        split.val += items[:n_val]
        split.test += items[n_val:n_val + n_test]
        split.train += items[n_val + n_test:]
    for part in (split.train, split.val, split.test):
        part.sort(key=lambda s: (s.label, s.path))
    if want_val and 0 < len(split.val) < FEW_VALIDATION:
        split.warnings.append(f"The validation split has only {len(split.val)} sample(s): its accuracy says "
                              "little; add data or raise the validation fraction.")
    split.warnings += case_twins(index.classes)
    return split


def class_weights(samples: Sequence[Sample], num_classes: int) -> list[float]:
    """Inverse-frequency weights, normalised to mean 1 over the classes present (absent: 0)."""
    counts = Counter(s.label for s in samples)
    if any(not 0 <= label < num_classes for label in counts):
        raise DatasetError("A sample's label is outside the list of classes.")
    raw = [1.0 / counts[c] if counts.get(c) else 0.0 for c in range(num_classes)]
    present = sum(1 for w in raw if w > 0)
    if present == 0:
        return [1.0] * num_classes
    scale = present / sum(raw)
    return [w * scale for w in raw]
