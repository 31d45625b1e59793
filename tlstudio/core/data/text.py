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
import json
import math
import os
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from tlstudio.core.data.index import DatasetIndex, Sample, SkippedFile
from tlstudio.core.errors import DatasetError

TEXT_FILE_EXTENSIONS = {".csv", ".tsv", ".jsonl", ".ndjson"}
TEXT_COLUMN_NAMES = ("text", "sentence", "content", "body", "review", "message", "comment",
                     "document", "utterance", "quote", "question", "tweet", "description")
LABEL_COLUMN_NAMES = ("label", "class", "category", "target", "class_name", "topic", "intent",
                      "sentiment", "labels", "tag")
ISSUE_KINDS = ("empty", "undecodable", "duplicate", "missing_label", "bad_row", "unterminated_quote",
               "small_class")
MIN_PER_CLASS = 2


@dataclass(frozen=True)
class TextIssue:
    kind: str        # one of ISSUE_KINDS
    where: str       # locator ("data.csv:12", a .txt path, or a class name for small_class)
    message: str


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


def _pick_column(header: Sequence[str], wanted: str | int | None, names: Sequence[str], what: str,
                 taken: int | None = None) -> int | None:
    lowered = [h.strip().lower() for h in header]
    if isinstance(wanted, int):
        if not 0 <= wanted < len(header):
            raise DatasetError(f"The {what} column {wanted} does not exist (the file has {len(header)} columns).")
        return wanted
    if isinstance(wanted, str) and wanted.strip():
        key = wanted.strip().lower()
        if key in lowered:
            return lowered.index(key)
        raise DatasetError(f"There is no {what} column '{wanted}'; the columns are {', '.join(header)}.")
    for name in names:
        if name in lowered and lowered.index(name) != taken:
            return lowered.index(name)
    return None


# --------------------------------------------------------------------------- reading

class _Collector:
    """Turns (locator, text, label) rows into samples, finding empties and duplicates."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []
        self.issues: list[TextIssue] = []
        self._seen: dict[str, tuple[str, str]] = {}

    def issue(self, kind: str, where: str, message: str) -> None:
        self.issues.append(TextIssue(kind, where, message))

    def add(self, where: str, text: Any, label: Any) -> None:
        text = "" if text is None else str(text)
        label = "" if label is None else str(label).strip()
        if _has_undecodable(text) or _has_undecodable(label):
            self.issue("undecodable", where, f"bytes that are not UTF-8 ({_bad_bytes(text + label)})")
            return
        clean = text.strip()
        if not clean:
            self.issue("empty", where, "empty text")
            return
        if not label:
            self.issue("missing_label", where, "no label")
            return
        key = " ".join(clean.split())
        if key in self._seen:
            first_where, first_label = self._seen[key]
            if first_label == label:
                self.issue("duplicate", where, f"duplicate of {first_where}")
            else:
                self.issue("duplicate", where, f"same text as {first_where}, labelled '{label}' here and "
                                               f"'{first_label}' there; the first is kept")
            return
        self._seen[key] = (where, label)
        self.rows.append((where, clean, label))


def _has_undecodable(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def _bad_bytes(value: str) -> str:
    bad = [ord(ch) - 0xDC00 for ch in value if "\udc80" <= ch <= "\udcff"][:4]
    return " ".join(f"0x{b:02x}" for b in bad)


def _read_text(path: Path) -> str:
    """File text, with bytes that are not UTF-8 kept as surrogates so rows can report them."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"Cannot read '{path}': {exc.strerror or exc}.") from exc
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8", errors="surrogateescape")


def _one_record(lines: list[str], start: int, dialect: Any) -> tuple[list[str] | None, int, bool]:
    """Parse one CSV record from ``lines[start:]``: (fields, lines used, closed properly)."""
    def feed() -> Iterator[str]:
        yield from (lines[i] for i in range(start, len(lines)))

    reader = csv.reader(feed(), dialect, strict=True)
    try:
        fields = next(reader)
    except StopIteration:
        return None, len(lines) - start, True
    except csv.Error:
        return None, max(1, reader.line_num), False
    return fields, max(1, reader.line_num), True


def _csv_records(text: str, delimiter: str, collector: _Collector, file_name: str
                 ) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) of each record; an unterminated quote loses only its own line."""
    lines = text.splitlines(keepends=True)
    dialect = csv.excel_tab if delimiter == "\t" else csv.excel
    # Single-line parses of every line: a quoted "text" swallowing whole lines that are
    # rows themselves is an unterminated quote, not a multi-line text.
    widths = Counter()
    single: list[list[str] | None] = []
    for line in lines:
        try:
            row = next(csv.reader([line], dialect, strict=True), None)
        except csv.Error:
            row = None
        single.append(row)
        if row:
            widths[len(row)] += 1
    width = widths.most_common(1)[0][0] if widths else 0
    i = 0
    while i < len(lines):
        fields, used, closed = _one_record(lines, i, dialect)
        swallowed = used > 1 and width > 1 and any(
            single[j] is not None and len(single[j]) == width and single[j][-1].strip()
            for j in range(i + 1, i + used))
        if not closed or swallowed:
            end = i + used if closed else len(lines)
            collector.issue("unterminated_quote", f"{file_name}:{i + 1}",
                            f"a quote opened on this line is not closed; it would swallow lines "
                            f"{i + 1}-{end} into one text, so only line {i + 1} is left out")
            i += 1
            continue
        if fields is not None and any(f.strip() for f in fields):
            yield i + 1, fields
        i += used


def _scan_delimited(path: Path, text_column: str | int | None, label_column: str | int | None,
                    collector: _Collector) -> tuple[str, str, list[str]]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    text = _read_text(path)
    if delimiter == "," and path.suffix.lower() != ".csv":
        try:
            delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",\t;|").delimiter
        except csv.Error:
            pass
    records = list(_csv_records(text, delimiter, collector, path.name))
    if not records:
        raise DatasetError(f"The file '{path.name}' has no rows.")
    header = records[0][1]
    notes: list[str] = []
    t_col = _pick_column(header, text_column, TEXT_COLUMN_NAMES, "text")
    l_col = _pick_column(header, label_column, LABEL_COLUMN_NAMES, "label", taken=t_col)
    known = set(TEXT_COLUMN_NAMES) | set(LABEL_COLUMN_NAMES)
    has_header = isinstance(text_column, str) or isinstance(label_column, str) or any(
        h.strip().lower() in known for h in header)
    if len(header) == 2 and (t_col is None) != (l_col is None):
        # A two-column header that names one of them: the other column is the other role.
        t_col, l_col = (t_col, 1 - t_col) if t_col is not None else (1 - l_col, l_col)
    if t_col is None or l_col is None:
        if len(header) != 2 or text_column is not None or label_column is not None:
            raise DatasetError(f"Cannot tell which columns of '{path.name}' hold the text and the label; "
                               f"the first row is {', '.join(header)}. Name a 'text' and a 'label' column.")
        # Two unnamed columns: the label is the one with fewer distinct, shorter values.
        rows = [f for _, f in records if len(f) == 2]
        spread = [len({r[c] for r in rows}) * (1 + sum(len(r[c]) for r in rows) / max(1, len(rows)))
                  for c in (0, 1)]
        t_col, l_col = (0, 1) if spread[0] >= spread[1] else (1, 0)
        has_header = False
        notes.append(f"No header row: column {t_col + 1} was taken as the text and column "
                     f"{l_col + 1} as the label.")
    body = records[1:] if has_header else records
    for line, fields in body:
        where = f"{path.name}:{line}"
        if len(fields) <= max(t_col, l_col):
            short_of = "label" if len(fields) <= l_col else "text"
            if short_of == "label":
                collector.issue("missing_label", where, f"the row has {len(fields)} field(s), no label")
            else:
                collector.issue("empty", where, f"the row has {len(fields)} field(s), no text")
            continue
        collector.add(where, fields[t_col], fields[l_col])
    name = (lambda c: header[c] if has_header else str(c))
    return name(t_col), name(l_col), notes


def _scan_jsonl(path: Path, text_column: str | None, label_column: str | None,
                collector: _Collector) -> tuple[str, str, list[str]]:
    text = _read_text(path)
    keys: tuple[str, str] | None = None
    if isinstance(text_column, str) and isinstance(label_column, str):
        keys = (text_column, label_column)
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{path.name}:{number}"
        if not line.strip():
            continue
        if _has_undecodable(line):
            collector.issue("undecodable", where, f"bytes that are not UTF-8 ({_bad_bytes(line)})")
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            collector.issue("bad_row", where, f"not valid JSON ({exc})")
            continue
        if not isinstance(obj, dict):
            collector.issue("bad_row", where, "not a JSON object")
            continue
        if keys is None:
            fields = list(obj)
            t = _pick_column(fields, text_column, TEXT_COLUMN_NAMES, "text")
            l_ = _pick_column(fields, label_column, LABEL_COLUMN_NAMES, "label", taken=t)
            if t is None or l_ is None:
                raise DatasetError(f"Cannot tell which fields of '{path.name}' hold the text and the label; "
                                   f"line {number} has {', '.join(fields)}. Name a 'text' and a 'label' field.")
            keys = (fields[t], fields[l_])
        value = obj.get(keys[0])
        if value is not None and not isinstance(value, str):
            collector.issue("bad_row", where, f"'{keys[0]}' is not a string")
            continue
        label = obj.get(keys[1])
        if isinstance(label, (list, dict)):
            collector.issue("bad_row", where, f"'{keys[1]}' is not a single label")
            continue
        collector.add(where, value, label)
    if keys is None:
        raise DatasetError(f"The file '{path.name}' has no rows.")
    return keys[0], keys[1], []


def _scan_text_folder(root: Path, collector: _Collector) -> None:
    class_dirs = sorted((d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")),
                        key=lambda d: d.name)
    for class_dir in class_dirs:
        for dirpath, dirnames, filenames in os.walk(class_dir):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if name.startswith(".") or path.suffix.lower() != ".txt":
                    continue
                try:
                    text = path.read_bytes().removeprefix(b"\xef\xbb\xbf").decode("utf-8", "surrogateescape")
                except OSError as exc:
                    collector.issue("bad_row", str(path), f"cannot read file: {exc.strerror or exc}")
                    continue
                collector.add(str(path), text, class_dir.name)


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
    collector = _Collector()
    notes: list[str] = []
    if source.is_dir():
        fmt, t_name, l_name = "folder", "file", "folder"
        _scan_text_folder(source, collector)
    else:
        ext = source.suffix.lower()
        if ext in (".jsonl", ".ndjson"):
            fmt = "jsonl"
            t_name, l_name, notes = _scan_jsonl(source, text_column if isinstance(text_column, str) else None,
                                                label_column if isinstance(label_column, str) else None,
                                                collector)
        else:
            fmt = "tsv" if ext == ".tsv" else "csv"
            t_name, l_name, notes = _scan_delimited(source, text_column, label_column, collector)
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


# --------------------------------------------------------------------------- token lengths

@dataclass
class ClassLengths:
    name: str
    count: int
    min: int
    median: float
    mean: float
    p95: float
    max: int
    truncated: int            # texts longer than max_length tokens
    histogram: list[int]      # counts per bin of TokenLengthStats.bin_edges


@dataclass
class TokenLengthStats:
    max_length: int
    bin_edges: list[int]
    per_class: list[ClassLengths]
    lengths: list[int]        # per sample, in the order given

    @property
    def truncated(self) -> int:
        return sum(c.truncated for c in self.per_class)

    def to_dict(self) -> dict[str, Any]:
        return {"max_length": self.max_length, "bin_edges": self.bin_edges, "truncated": self.truncated,
                "per_class": [vars(c) for c in self.per_class]}


def token_lengths(texts: Sequence[str], tokenizer: Any, batch_size: int = 256) -> list[int]:
    """Tokens per text including the special tokens the model adds, without truncation."""
    out: list[int] = []
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(list(texts[start:start + batch_size]), add_special_tokens=True, truncation=False,
                        padding=False, verbose=False)
        out += [len(ids) for ids in enc["input_ids"]]
    return out


def _quantile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return 0.0
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo))


def token_length_stats(samples: Sequence[Sample], classes: Sequence[str], tokenizer: Any, max_length: int,
                       bins: int = 20, lengths: Sequence[int] | None = None) -> TokenLengthStats:
    """Per-class token-length statistics, a shared histogram and how many texts ``max_length``
    would truncate. Pass ``lengths`` to reuse earlier tokenisation."""
    if lengths is None:
        lengths = token_lengths([s.text or "" for s in samples], tokenizer)
    lengths = list(lengths)
    top = max(lengths + [max_length, 1])
    width = max(1, math.ceil(top / bins))
    edges = [i * width for i in range(bins + 1)]
    per_class = []
    for label, name in enumerate(classes):
        values = sorted(n for s, n in zip(samples, lengths) if s.label == label)
        hist = [0] * bins
        for n in values:
            hist[min(bins - 1, n // width)] += 1
        per_class.append(ClassLengths(name, len(values), values[0] if values else 0, _quantile(values, 0.5),
                                      sum(values) / len(values) if values else 0.0, _quantile(values, 0.95),
                                      values[-1] if values else 0, sum(n > max_length for n in values), hist))
    return TokenLengthStats(max_length, edges, per_class, lengths)


# --------------------------------------------------------------------------- batching

def length_batches(lengths: Sequence[int], batch_size: int, *, shuffle: bool = False,
                   seed: int = 0) -> list[list[int]]:
    """Indices grouped into batches of similar length, so each batch pads only to its own longest.

    Without shuffling the batches go from short to long. With shuffling the order
    of the texts within a length and the order of the batches change per seed.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    order = list(range(len(lengths)))
    rng = random.Random(seed)
    if shuffle:
        rng.shuffle(order)   # ties in length end up in a random order
    order.sort(key=lambda i: lengths[i])
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle:
        rng.shuffle(batches)
    return batches


class TextCollator:
    """Tokenises a list of (text, label) pairs, padding to the longest text in the batch."""

    def __init__(self, tokenizer: Any, max_length: int):
        self.tokenizer = tokenizer
        self.max_length = int(max_length)

    def __call__(self, batch: Sequence[tuple[str, int]]) -> dict[str, Any]:
        import torch

        texts = [t for t, _ in batch]
        enc = self.tokenizer(texts, padding="longest", truncation=True, max_length=self.max_length,
                             return_tensors="pt", return_attention_mask=True)
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                "labels": torch.tensor([int(y) for _, y in batch], dtype=torch.long)}


class TextDataset:
    """(text, label) pairs of samples, for a torch DataLoader with a ``TextCollator``."""

    def __init__(self, samples: Sequence[Sample]):
        self.samples = list(samples)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[str, int]:
        s = self.samples[i]
        return s.text or "", s.label


def padded_fraction(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> float:
    """Share of token slots that are padding when each batch pads to its own longest."""
    total = real = 0
    for batch in batches:
        if batch:
            longest = max(lengths[i] for i in batch)
            total += longest * len(batch)
            real += sum(lengths[i] for i in batch)
    return 0.0 if total == 0 else 1.0 - real / total

