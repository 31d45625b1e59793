"""Reading the rows of a text dataset: CSV/TSV, JSON Lines, a folder of ``.txt`` files per class.

Every source is read as UTF-8 (a byte-order mark is allowed); bytes that are
not UTF-8 are kept as surrogates so the row that holds them is reported, never
guessed at. ``RowCollector`` turns (locator, text, label) rows into clean rows
and ``TextIssue`` findings (see ``core.data.text`` for the kinds). A CSV quote
opened and never closed loses only its own line.
"""
from __future__ import annotations

import csv
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from tlstudio.core.errors import DatasetError

TEXT_COLUMN_NAMES = ("text", "sentence", "content", "body", "review", "message", "comment",
                     "document", "utterance", "quote", "question", "tweet", "description")
LABEL_COLUMN_NAMES = ("label", "class", "category", "target", "class_name", "topic", "intent",
                      "sentiment", "labels", "tag")
ISSUE_KINDS = ("empty", "undecodable", "duplicate", "missing_label", "bad_row", "unterminated_quote",
               "small_class")


@dataclass(frozen=True)
class TextIssue:
    kind: str        # one of ISSUE_KINDS
    where: str       # locator ("data.csv:12", a .txt path, or a class name for small_class)
    message: str


def pick_column(header: Sequence[str], wanted: str | int | None, names: Sequence[str], what: str,
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


class RowCollector:
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
        if has_undecodable(text) or has_undecodable(label):
            self.issue("undecodable", where, f"bytes that are not UTF-8 ({bad_bytes(text + label)})")
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


def has_undecodable(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def bad_bytes(value: str) -> str:
    bad = [ord(ch) - 0xDC00 for ch in value if "\udc80" <= ch <= "\udcff"][:4]
    return " ".join(f"0x{b:02x}" for b in bad)


def read_text_file(path: Path) -> str:
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


def csv_records(text: str, delimiter: str, collector: RowCollector, file_name: str
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


def read_delimited(path: Path, text_column: str | int | None, label_column: str | int | None,
                   collector: RowCollector) -> tuple[str, str, list[str]]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    text = read_text_file(path)
    if delimiter == "," and path.suffix.lower() != ".csv":
        try:
            delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",\t;|").delimiter
        except csv.Error:
            pass
    records = list(csv_records(text, delimiter, collector, path.name))
    if not records:
        raise DatasetError(f"The file '{path.name}' has no rows.")
    header = records[0][1]
    notes: list[str] = []
    t_col = pick_column(header, text_column, TEXT_COLUMN_NAMES, "text")
    l_col = pick_column(header, label_column, LABEL_COLUMN_NAMES, "label", taken=t_col)
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


def read_jsonl(path: Path, text_column: str | None, label_column: str | None,
               collector: RowCollector) -> tuple[str, str, list[str]]:
    text = read_text_file(path)
    keys: tuple[str, str] | None = None
    if isinstance(text_column, str) and isinstance(label_column, str):
        keys = (text_column, label_column)
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{path.name}:{number}"
        if not line.strip():
            continue
        if has_undecodable(line):
            collector.issue("undecodable", where, f"bytes that are not UTF-8 ({bad_bytes(line)})")
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
            t = pick_column(fields, text_column, TEXT_COLUMN_NAMES, "text")
            l_ = pick_column(fields, label_column, LABEL_COLUMN_NAMES, "label", taken=t)
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


def read_text_folder(root: Path, collector: RowCollector) -> None:
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
