"""Reading the rows of a text dataset: delimited tables (CSV/TSV/TXT), JSON Lines, a folder of
``.txt`` files per class.

Tables and JSON Lines are decoded and split by ``core.data.table_read`` (UTF-8
with or without BOM, UTF-16/32 with BOM, another encoding only when named;
RFC 4180 records; the delimiter sniffed). Bytes that are not UTF-8 in a file
read as UTF-8 are kept as surrogates so the row that holds them is reported,
never guessed at. ``RowCollector`` turns (locator, text, label) rows into clean
rows and ``TextIssue`` findings (see ``core.data.text`` for the kinds). A quote
never properly closed loses only its own line. Column names are matched
case- and width-insensitively, in several languages.
"""
from __future__ import annotations

import json
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from tlstudio.core.data.table_read import decode_bytes, iter_records, read_decoded, read_table
from tlstudio.core.errors import DatasetError

# Header names that say which column holds the text and which the label (English first: a header
# naming both an English and another column picks the English one).
TEXT_COLUMN_NAMES = ("text", "sentence", "content", "body", "review", "message", "comment",
                     "document", "utterance", "quote", "question", "tweet", "description",
                     "texto", "frase", "oración", "comentario", "mensaje", "contenido", "reseña", "pregunta",
                     "satz", "inhalt", "kommentar", "nachricht", "bewertung", "frage", "beschreibung",
                     "texte", "phrase", "commentaire", "avis", "testo", "tekst",
                     "テキスト", "文章", "本文", "文", "コメント", "内容", "文本", "句子", "评论")
LABEL_COLUMN_NAMES = ("label", "class", "category", "target", "class_name", "topic", "intent",
                      "sentiment", "labels", "tag",
                      "etiqueta", "categoría", "categoria", "clase", "tema", "sentimiento",
                      "kategorie", "klasse", "etikett", "thema", "stimmung",
                      "étiquette", "catégorie", "classe", "sujet",
                      "ラベル", "カテゴリ", "カテゴリー", "分類", "クラス", "标签", "类别", "類別")
_KNOWN_COLUMNS = frozenset(TEXT_COLUMN_NAMES) | frozenset(LABEL_COLUMN_NAMES)
ISSUE_KINDS = ("empty", "undecodable", "duplicate", "missing_label", "bad_row", "unterminated_quote",
               "small_class")


@dataclass(frozen=True)
class TextIssue:
    kind: str        # one of ISSUE_KINDS
    where: str       # locator ("data.csv:12", a .txt path, or a class name for small_class)
    message: str


def column_key(name: Any) -> str:
    """How a column name is compared: Unicode-normalised (NFKC), trimmed, case-folded."""
    return unicodedata.normalize("NFKC", str(name)).strip().casefold()


def names_known_column(cells: Sequence[str]) -> bool:
    """Whether a header row names a text or label column."""
    return any(column_key(c) in _KNOWN_COLUMNS for c in cells)


def is_text_column_name(name: str) -> bool:
    return column_key(name) in TEXT_COLUMN_NAMES


def pick_column(header: Sequence[str], wanted: str | int | None, names: Sequence[str], what: str,
                taken: int | None = None) -> int | None:
    lowered = [column_key(h) for h in header]
    if isinstance(wanted, int):
        if not 0 <= wanted < len(header):
            raise DatasetError(f"The {what} column {wanted} does not exist (the file has {len(header)} columns).")
        return wanted
    if isinstance(wanted, str) and wanted.strip():
        key = column_key(wanted)
        if key in lowered:
            return lowered.index(key)
        raise DatasetError(f"There is no {what} column '{wanted}'; the columns are {', '.join(header)}.")
    for name in names:
        if name in lowered and lowered.index(name) != taken:
            return lowered.index(name)
    return None


class RowCollector:
    """Turns (locator, text, label) rows into samples, finding empties and duplicates.

    A row with an empty label goes to ``pool`` (the unlabeled pool, as (locator, text)); call
    ``pool_rows()`` once all rows are in: a pool text that repeats a labelled or an earlier pool
    text is reported as a duplicate there (the labelled copy always wins)."""

    def __init__(self) -> None:
        self.encoding = ""      # how the file was decoded, and a table's delimiter: for the report
        self.delimiter = ""
        self.rows: list[tuple[str, str, str]] = []
        self.pool: list[tuple[str, str]] = []
        self.issues: list[TextIssue] = []
        self._seen: dict[str, tuple[str, str]] = {}

    def issue(self, kind: str, where: str, message: str) -> None:
        self.issues.append(TextIssue(kind, where, message))

    def add(self, where: str, text: Any, label: Any) -> None:
        text = "" if text is None else str(text)
        label = "" if label is None else str(label).strip()
        if has_undecodable(text + label):
            self.issue("undecodable", where, f"bytes that are not UTF-8 ({bad_bytes(text + label)})")
            return
        clean = text.strip()
        if not clean:
            self.issue("empty", where, "empty text")
            return
        if not label:
            self.pool.append((where, clean))
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

    def pool_rows(self) -> list[tuple[str, str]]:
        """The pool's (locator, text) rows without duplicates (reported as issues)."""
        kept: list[tuple[str, str]] = []
        for where, clean in self.pool:
            key = " ".join(clean.split())
            if key in self._seen:
                self.issue("duplicate", where, f"unlabeled copy of {self._seen[key][0]}")
                continue
            self._seen[key] = (where, "")
            kept.append((where, clean))
        self.pool = []
        return kept


_SURROGATE = re.compile("[\udc80-\udcff]")     # how undecodable bytes are kept (surrogateescape)


def has_undecodable(value: str) -> bool:
    return _SURROGATE.search(value) is not None


def bad_bytes(value: str) -> str:
    return " ".join(f"0x{ord(ch) - 0xDC00:02x}" for ch in _SURROGATE.findall(value)[:4])


def read_text_file(path: Path, encoding: str | None = None, collector: "RowCollector | None" = None) -> str:
    """File text (see ``table_read.decode_bytes``): UTF-8 bytes that do not decode are kept as
    surrogates so rows can report them."""
    decoded = read_decoded(path, encoding)
    if collector is not None:
        collector.encoding = decoded.encoding
    return decoded.text


def _unclosed(collector: RowCollector, file_name: str) -> Callable[[int, int], None]:
    def report(line: int, last: int) -> None:
        collector.issue("unterminated_quote", f"{file_name}:{line}",
                        f"a quote opened on this line is never properly closed (read to line {last}: the file "
                        f"ends, or text follows the closing quote); only line {line} is left out")
    return report


def _looks_like_header(records: list[tuple[int, list[str]]], t_col: int, l_col: int) -> bool:
    """Two unnamed columns: the first row is a header when its label appears nowhere below while
    the labels below repeat (a column of classes)."""
    body = [f for _, f in records[1:] if len(f) > max(t_col, l_col)]
    labels = [f[l_col].strip() for f in body]
    first = records[0][1]
    return (len(body) >= 2 and first[l_col].strip() not in labels and len(set(labels)) <= len(labels) / 2
            and first[t_col].strip() not in {f[t_col].strip() for f in body})


def _check_duplicates(header: Sequence[str], chosen: Sequence[tuple[int, str | int | None]], file_name: str,
                      notes: list[str]) -> None:
    """A column picked by its name must be the only one of that name; picked by number, say which."""
    for col, wanted in chosen:
        same = [i for i, h in enumerate(header) if column_key(h) == column_key(header[col])]
        if len(same) < 2:
            continue
        where = ", ".join(str(i) for i in same)
        if isinstance(wanted, int):
            notes.append(f"Several columns are named '{header[col]}' (numbers {where}); column {col} was used.")
        else:
            raise DatasetError(f"'{file_name}' has {len(same)} columns named '{header[col]}' (numbers {where}, "
                               "counted from 0); rename them in the file, or choose one by its number "
                               "(--text-column/--label-column N, or the column lists in the Data tab).")


def read_delimited(path: Path, text_column: str | int | None, label_column: str | int | None,
                   collector: RowCollector, encoding: str | None = None) -> tuple[str, str, list[str]]:
    preferred = "\t" if path.suffix.lower() == ".tsv" else ","
    decoded, delimiter, lines = read_table(path, encoding=encoding, preferred=preferred,
                                           header_hint=names_known_column)
    collector.encoding, collector.delimiter = decoded.encoding, delimiter
    records = list(iter_records(lines, delimiter, _unclosed(collector, path.name)))
    if not records:
        raise DatasetError(f"The file '{path.name}' has no rows.")
    header = records[0][1]
    notes: list[str] = []
    t_col = pick_column(header, text_column, TEXT_COLUMN_NAMES, "text")
    l_col = pick_column(header, label_column, LABEL_COLUMN_NAMES, "label", taken=t_col)
    has_header = isinstance(text_column, str) or isinstance(label_column, str) or names_known_column(header)
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
        has_header = _looks_like_header(records, t_col, l_col)
        if has_header:
            notes.append(f"The first row was taken as the header: column '{header[t_col]}' as the text and "
                         f"'{header[l_col]}' as the label.")
        else:
            notes.append(f"No header row: column {t_col + 1} was taken as the text and column "
                         f"{l_col + 1} as the label.")
    if has_header:
        _check_duplicates(header, [(t_col, text_column), (l_col, label_column)], path.name, notes)
    body = records[1:] if has_header else records
    file_name = path.name
    for line, fields in body:
        where = f"{file_name}:{line}"
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
               collector: RowCollector, encoding: str | None = None) -> tuple[str, str, list[str]]:
    text = read_text_file(path, encoding, collector)
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


def read_text_folder(root: Path, collector: RowCollector, encoding: str | None = None,
                     unlabeled_folder: str = "") -> None:
    """The ``.txt`` files of each class folder; those of ``unlabeled_folder`` (when named) get no label."""
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
                    text = decode_bytes(path.read_bytes(), name, encoding).text
                except OSError as exc:
                    collector.issue("bad_row", str(path), f"cannot read file: {exc.strerror or exc}")
                    continue
                except DatasetError as exc:      # not in the encoding named, or UTF-16 without a BOM
                    collector.issue("undecodable", str(path), str(exc))
                    continue
                collector.add(str(path), text, "" if unlabeled_folder and class_dir.name == unlabeled_folder
                              else class_dir.name)
