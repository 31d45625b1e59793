"""What a dataset path looks like to each modality: the evidence ``modality.detect`` weighs.

Each modality's ``claim(path, encoding=None)`` returns a ``Claim``: how sure it is
that the path is its kind of data (``NOT``, ``MAYBE``, ``SURE``) and what it saw,
in words. ``modality.detect`` takes the one strongest claim and, when none is
stronger than the rest, raises ``UndecidedDataError`` whose message says what
was found. The evidence comes from a quick look (a table's first rows, a
folder's class folders), never a full scan. Torch-free.
"""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

from tlstudio.core.data.table_read import DELIMITER_NAMES, decode_bytes, iter_records, physical_lines, sniff_delimiter

NOT, MAYBE, SURE = 0, 1, 2
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".tab")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
_PEEK_BYTES = 256 * 1024
_PEEK_ROWS = 60


@dataclass(frozen=True)
class Claim:
    strength: int       # NOT, MAYBE or SURE
    reason: str         # what was seen, in words ("column 'path' names 12 image files that exist")


@dataclass(frozen=True)
class TablePeek:
    """The first rows of a table file, as ``table_read`` splits them."""

    delimiter: str
    rows: list[list[str]]        # the first row (header or not) first
    encoding: str

    @property
    def width(self) -> int:
        return len(self.rows[0]) if self.rows else 0

    def column(self, c: int, skip_first: bool = True) -> list[str]:
        return [r[c].strip() for r in self.rows[1 if skip_first else 0:] if len(r) > c and r[c].strip()]

    def describe(self, name: str) -> str:
        header = ", ".join(self.rows[0][:8]) + (", ..." if self.width > 8 else "") if self.rows else ""
        return (f"'{name}' is a {DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))}-separated table "
                f"with {self.width} column(s) ({header})")


def peek_table(path: str | os.PathLike, encoding: str | None = None) -> TablePeek | None:
    """The first rows of a table file (CSV/TSV/TXT), or None for anything else or an unreadable file;
    raises DatasetError when the bytes cannot be decoded (saying which encoding was tried)."""
    from tlstudio.core.data.text_files import names_known_column

    path = Path(path)
    if not path.is_file() or path.suffix.lower() not in TABLE_SUFFIXES:
        return None
    try:
        with open(path, "rb") as fh:
            data = fh.read(_PEEK_BYTES)
        if len(data) == _PEEK_BYTES:      # cut at a line end, so a cut character is not "undecodable"
            data = data[:data.rfind(b"\n") + 1] or data
    except OSError:
        return None
    decoded = decode_bytes(data, path.name, encoding)
    lines = physical_lines(decoded.text)
    preferred = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    delimiter = sniff_delimiter(lines, preferred, names_known_column)
    rows = [fields for _, fields in itertools.islice(iter_records(lines, delimiter), _PEEK_ROWS)]
    return TablePeek(delimiter, rows, decoded.encoding)


def claim_for_table_or_folder(path, encoding, folder, table, otherwise: Claim) -> Claim:
    """``folder(path)`` for a folder, ``table(path, peek)`` for a table file, else ``otherwise``."""
    path = Path(path).expanduser()
    if path.is_dir():
        return folder(path)
    peek = peek_table(path, encoding)
    return table(path, peek) if peek is not None else otherwise


def _names_image(value: str) -> bool:
    return Path(value).suffix.lower() in IMAGE_EXTENSIONS


def image_table_claim(path: Path, peek: TablePeek) -> Claim:
    """A table is an image manifest when a column holds paths of image files that exist."""
    base = path.parent
    named = 0
    for c in range(peek.width):
        values = [v for v in peek.column(c, skip_first=False) if _names_image(v)]
        existing = [v for v in values if (base / Path(v).expanduser()).is_file()]
        if existing:
            return Claim(SURE, f"column {c + 1} names {len(existing)} image file(s) that exist")
        named = max(named, len(values))
    if named:
        return Claim(MAYBE, f"it names {named} image file(s), none of which exist beside it")
    return Claim(NOT, "no column holds paths of existing image files")


def image_folder_claim(path: Path) -> Claim:
    for class_dir in sorted(path.iterdir()):
        if class_dir.is_dir() and not class_dir.name.startswith("."):
            for dirpath, _, files in os.walk(class_dir):
                if any(Path(f).suffix.lower() in IMAGE_EXTENSIONS for f in files):
                    return Claim(SURE, f"class folder '{class_dir.name}' holds images")
    # A folder is read as class folders of images unless something says otherwise: the image scan
    # then says what is missing.
    return Claim(MAYBE, "a folder without class folders of images")


def _prose(values: list[str]) -> bool:
    """Values that read like sentences or words: letters, not file names or numbers."""
    if len(values) < 2:
        return False
    wordy = sum(any(ch.isalpha() for ch in v) and not _names_image(v) for v in values)
    return wordy >= 0.8 * len(values)


def text_table_claim(path: Path, peek: TablePeek) -> Claim:
    """A table is text data when its header names a text column, or when one column reads like
    prose and another, with fewer distinct values, like labels."""
    from tlstudio.core.data.text_files import is_text_column_name

    if peek.width < 2:
        return Claim(NOT, "it has fewer than two columns (a text and a label)")
    header = peek.rows[0]
    named = [h for h in header if is_text_column_name(h)]
    if named:
        return Claim(SURE, f"column '{named[0]}' is named as text")
    for skip in (True, False):
        columns = [peek.column(c, skip) for c in range(peek.width)]
        texts = [c for c in range(peek.width) if _prose(columns[c])]
        for t in texts:
            for lab in range(peek.width):
                if lab != t and columns[lab] and len(set(columns[lab])) < len(set(columns[t])):
                    return Claim(MAYBE, f"column {t + 1} reads like text and column {lab + 1} like labels")
    return Claim(NOT, "no column is named or reads like text beside a column of labels")


def text_folder_claim(path: Path) -> Claim:
    seen_txt = False
    for class_dir in path.iterdir():
        if class_dir.is_dir() and not class_dir.name.startswith("."):
            for file in class_dir.iterdir():
                ext = file.suffix.lower()
                if ext in IMAGE_EXTENSIONS:
                    return Claim(NOT, "its class folders hold images")
                seen_txt = seen_txt or ext == ".txt"
    if seen_txt:
        return Claim(SURE, "its class folders hold .txt files")
    return Claim(NOT, "no class folder holds .txt files")
