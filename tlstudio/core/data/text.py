"""Text datasets: CSV/TSV, JSON Lines, or a folder of ``.txt`` files per class.

Every source is read as UTF-8 (a byte-order mark is allowed). Bytes that are not
UTF-8 are never guessed at: the row (or file) is reported and left out. The
other checks, each reported with where it happened and left out while the good
rows load:

- ``empty``: a text that is empty or only white space;
- ``undecodable``: bytes that are not UTF-8;
- ``duplicate``: a text seen before (the first one is kept; a copy with another
  label is reported as a conflict);
- ``missing_label``: no label, or a row too short to have the label column;
- ``bad_row``: a JSON Lines line that is not a JSON object with the columns;
- ``unterminated_quote``: a CSV quote opened and never closed, which would
  otherwise swallow the lines after it into one text (that line is left out
  and the lines after it are read as rows again);
- ``small_class``: a class with fewer than ``min_per_class`` texts.

A row's ``Sample.path`` is a locator, ``"<file name>:<line>"`` (first line 1),
or the path of the ``.txt`` file.
"""
from __future__ import annotations

import csv
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from tlstudio.core.data.index import DatasetIndex, Sample, SkippedFile
from tlstudio.core.data.text_files import (ISSUE_KINDS, TEXT_COLUMN_NAMES, RowCollector, TextIssue,
                                           read_delimited, read_jsonl, read_text_folder)
from tlstudio.core.errors import DatasetError

TEXT_FILE_EXTENSIONS = {".csv", ".tsv", ".jsonl", ".ndjson"}
MIN_PER_CLASS = 2


@dataclass
class TextDatasetIndex(DatasetIndex):
    """A DatasetIndex whose samples carry their text, plus the validation findings."""

    task: str = "text"
    source_format: str = ""          # "csv" | "tsv" | "jsonl" | "folder"
    text_column: str = ""
    label_column: str = ""
    issues: list[TextIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def issue_counts(self) -> dict[str, int]:
        counts = Counter(i.kind for i in self.issues)
        return {kind: counts[kind] for kind in ISSUE_KINDS if counts[kind]}

    def to_report(self) -> dict[str, Any]:
        report = super().to_report()
        report.update({"task": self.task, "format": self.source_format, "text_column": self.text_column,
                       "label_column": self.label_column, "issue_counts": self.issue_counts(),
                       "issues": [{"kind": i.kind, "where": i.where, "message": i.message}
                                  for i in self.issues], "notes": list(self.notes)})
        return report


def format_text_report(index: TextDatasetIndex, max_issues: int = 20) -> str:
    """A short readable summary: counts per class, then what was left out and why."""
    lines = [f"{len(index.samples)} texts in {len(index.classes)} classes from {index.root}"]
    lines += [f"  {name}: {count}" for name, count in index.counts().items()]
    lines += [f"Note: {note}" for note in index.notes]
    if index.issues:
        summary = ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in index.issue_counts().items())
        lines.append(f"Left out: {summary}")
        lines += [f"  {i.where}: {i.message}" for i in index.issues[:max_issues]]
        if len(index.issues) > max_issues:
            lines.append(f"  ... and {len(index.issues) - max_issues} more")
    return "\n".join(lines)


# --------------------------------------------------------------------------- detection

def is_text_dataset(path: str | os.PathLike) -> bool:
    """True for a .jsonl/.tsv file, a CSV whose header names a text column, or a folder of
    class folders holding .txt files (and no images)."""
    path = Path(path).expanduser()
    if path.is_file():
        ext = path.suffix.lower()
        if ext in (".jsonl", ".ndjson", ".tsv"):
            return True
        if ext == ".csv":
            try:
                with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
                    header = next(csv.reader([fh.readline()]), [])
            except OSError:
                return False
            names = {h.strip().lower() for h in header}
            return bool(names & set(TEXT_COLUMN_NAMES))
        return False
    if path.is_dir():
        from tlstudio.core.data.images import IMAGE_EXTENSIONS

        seen_txt = False
        for class_dir in path.iterdir():
            if class_dir.is_dir() and not class_dir.name.startswith("."):
                for file in class_dir.iterdir():
                    ext = file.suffix.lower()
                    if ext in IMAGE_EXTENSIONS:
                        return False
                    seen_txt = seen_txt or ext == ".txt"
        return seen_txt
    return False

def _class_order(labels: Iterable[str]) -> list[str]:
    names = set(labels)
    if all(re.fullmatch(r"-?\d+", n) for n in names):
        return sorted(names, key=int)
    return sorted(names)


def scan_text(path: str | os.PathLike, *, text_column: str | int | None = None,
              label_column: str | int | None = None, min_per_class: int = MIN_PER_CLASS) -> TextDatasetIndex:
    """Read and validate a text dataset (see the module docstring); raises DatasetError only
    when nothing usable is left (no file, no columns, fewer than two classes)."""
    source = Path(path).expanduser()
    if not source.exists():
        raise DatasetError(f"The text dataset '{path}' does not exist.")
    source = source.resolve()
    collector = RowCollector()
    notes: list[str] = []
    if source.is_dir():
        fmt, t_name, l_name = "folder", "file", "folder"
        read_text_folder(source, collector)
    else:
        ext = source.suffix.lower()
        if ext in (".jsonl", ".ndjson"):
            fmt = "jsonl"
            t_name, l_name, notes = read_jsonl(source, text_column if isinstance(text_column, str) else None,
                                                label_column if isinstance(label_column, str) else None,
                                                collector)
        else:
            fmt = "tsv" if ext == ".tsv" else "csv"
            t_name, l_name, notes = read_delimited(source, text_column, label_column, collector)
    counts = Counter(label for _, _, label in collector.rows)
    for name in _class_order(counts):
        if counts[name] < min_per_class:
            collector.issue("small_class", name, f"class '{name}' has {counts[name]} text(s), fewer than "
                                                 f"{min_per_class}; it was left out")
    classes = [n for n in _class_order(counts) if counts[n] >= min_per_class]
    label_of = {name: i for i, name in enumerate(classes)}
    samples = [Sample(where, label_of[label], text) for where, text, label in collector.rows if label in label_of]
    index = TextDatasetIndex(str(source), classes, samples,
                             [SkippedFile(i.where, i.message) for i in collector.issues],
                             source_format=fmt, text_column=t_name, label_column=l_name,
                             issues=list(collector.issues), notes=notes)
    if len(classes) < 2:
        raise DatasetError(f"The text dataset '{source.name}' needs at least two classes with "
                           f"{min_per_class} or more texts each; it has {len(classes)}.\n"
                           + format_text_report(index))
    return index
