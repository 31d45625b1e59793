"""Text datasets: delimited tables (CSV/TSV/TXT), JSON Lines, or a folder of ``.txt`` files per class.

Tables are read as spreadsheets write them (``table_read``): UTF-8 with or
without a byte-order mark, UTF-16/32 with one, another encoding only when named
(``encoding=``); RFC 4180 quoting (a cell may hold line breaks); the delimiter
(comma, semicolon, tab, pipe) sniffed with the header row as the hint. The
report says which encoding, delimiter and columns were used. Bytes that are not
UTF-8 in a file read as UTF-8 are never guessed at: the row (or file) is
reported and left out, with a note on how to name the encoding. The other
checks, each reported with where it happened and left out while the good rows
load:

- ``empty``: a text that is empty or only white space;
- ``undecodable``: bytes that are not UTF-8;
- ``duplicate``: a text seen before (the first one is kept; a copy with another
  label is reported as a conflict);
- ``missing_label``: a row too short to have the label column;
- ``bad_row``: a JSON Lines line that is not a JSON object with the columns;
- ``unterminated_quote``: a quote never properly closed (the file ends inside
  it, or text follows the quote that closes it), which would otherwise swallow
  the lines after it (that line is left out and the lines after it are read as
  rows again);
- ``small_class``: a class with fewer than ``min_per_class`` texts.

A row whose label cell is empty (a JSON Lines object without the label, or
with null or "") is no issue: it joins the unlabeled pool (``DatasetIndex.pool``),
and so do the ``.txt`` files of a text folder's ``unlabeled/`` folder.

A row's ``Sample.path`` is a locator, ``"<file name>:<line>"`` (first line 1),
or the path of the ``.txt`` file.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from tlstudio.core.data.index import DEFAULT_UNLABELED_FOLDER, UNLABELED, DatasetIndex, Sample, SkippedFile
from tlstudio.core.data.table_read import DELIMITER_NAMES, NAME_ANOTHER
from tlstudio.core.data.text_files import (ISSUE_KINDS, TEXT_COLUMN_NAMES, RowCollector, TextIssue,
                                           read_delimited, read_jsonl, read_text_folder)
from tlstudio.core.errors import DatasetError

TEXT_FILE_EXTENSIONS = {".csv", ".tsv", ".txt", ".tab", ".jsonl", ".ndjson"}
MIN_PER_CLASS = 2


@dataclass
class TextDatasetIndex(DatasetIndex):
    """A DatasetIndex whose samples carry their text, plus the validation findings."""

    task: str = "text"
    source_format: str = ""          # "csv" | "tsv" | "jsonl" | "folder"
    encoding: str = ""               # how the file was decoded ("UTF-8", "UTF-16 (BOM)", a named one)
    delimiter: str = ""              # a table's delimiter
    text_column: str = ""
    label_column: str = ""
    issues: list[TextIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def issue_counts(self) -> dict[str, int]:
        counts = Counter(i.kind for i in self.issues)
        return {kind: counts[kind] for kind in ISSUE_KINDS if counts[kind]}

    def to_report(self) -> dict[str, Any]:
        report = super().to_report()
        report.update({"task": self.task, "format": self.source_format, "encoding": self.encoding,
                       "delimiter": self.delimiter, "text_column": self.text_column,
                       "label_column": self.label_column, "issue_counts": self.issue_counts(),
                       "issues": [{"kind": i.kind, "where": i.where, "message": i.message}
                                  for i in self.issues], "notes": list(self.notes)})
        return report


def format_text_report(index: TextDatasetIndex, max_issues: int = 20) -> str:
    """A short readable summary: counts per class, then what was left out and why."""
    lines = [f"{len(index.samples)} texts in {len(index.classes)} classes from {index.root}"]
    if index.pool:
        lines.append(f"{len(index.pool)} unlabeled texts (the pool: label them in the app; never trained on)")
    if index.source_format != "folder":
        how = [index.encoding] if index.encoding else []
        if index.delimiter:
            how.append(f"{DELIMITER_NAMES.get(index.delimiter, repr(index.delimiter))}-separated")
        lines.append(f"Read as {', '.join(how + [''])}text column '{index.text_column}', "
                     f"label column '{index.label_column}'")
    lines += [f"  {name}: {count}" for name, count in index.counts().items()]
    lines += [f"Note: {note}" for note in index.notes]
    if index.issues:
        summary = ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in index.issue_counts().items())
        lines.append(f"Left out: {summary}")
        lines += [f"  {i.where}: {i.message}" for i in index.issues[:max_issues]]
        if len(index.issues) > max_issues:
            lines.append(f"  ... and {len(index.issues) - max_issues} more")
    return "\n".join(lines)


def _class_order(labels: Iterable[str]) -> list[str]:
    names = set(labels)
    if all(re.fullmatch(r"-?\d+", n) for n in names):
        return sorted(names, key=int)
    return sorted(names)


def scan_text(path: str | os.PathLike, *, text_column: str | int | None = None,
              label_column: str | int | None = None, min_per_class: int = MIN_PER_CLASS,
              encoding: str | None = None, unlabeled_folder: str = DEFAULT_UNLABELED_FOLDER) -> TextDatasetIndex:
    """Read and validate a text dataset (see the module docstring); raises DatasetError only
    when nothing usable is left (no file, no columns, fewer than two classes and no unlabeled
    pool) or the file cannot be decoded in the ``encoding`` named (None: UTF-8, or UTF-16/32 by
    its byte-order mark). ``unlabeled_folder``: a text folder's pool folder ("" for none)."""
    source = Path(path).expanduser()
    if not source.exists():
        raise DatasetError(f"The text dataset '{path}' does not exist.")
    source = source.resolve()
    collector = RowCollector()
    notes: list[str] = []
    if source.is_dir():
        fmt, t_name, l_name = "folder", "file", "folder"
        read_text_folder(source, collector, encoding, unlabeled_folder)
    else:
        ext = source.suffix.lower()
        if ext in (".jsonl", ".ndjson"):
            fmt = "jsonl"
            t_name, l_name, notes = read_jsonl(source, text_column if isinstance(text_column, str) else None,
                                                label_column if isinstance(label_column, str) else None,
                                                collector, encoding)
        else:
            t_name, l_name, notes = read_delimited(source, text_column, label_column, collector, encoding)
            fmt = "tsv" if collector.delimiter == "\t" else "csv"
    undecodable = sum(i.kind == "undecodable" for i in collector.issues)
    if undecodable:
        notes.append(f"{undecodable} row(s) hold bytes that are not UTF-8: the file was read as UTF-8; "
                     f"{NAME_ANOTHER}.")
    pool = [Sample(where, UNLABELED, text) for where, text in collector.pool_rows()]
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
                             source_format=fmt, encoding=collector.encoding, delimiter=collector.delimiter,
                             text_column=t_name, label_column=l_name,
                             issues=list(collector.issues), notes=notes, pool=pool,
                             empty_classes=[n for n in _class_order(counts) if n not in label_of])
    if len(classes) < 2 and not pool:
        raise DatasetError(f"The text dataset '{source.name}' needs at least two classes with "
                           f"{min_per_class} or more texts each; it has {len(classes)}.\n"
                           + format_text_report(index))
    return index
