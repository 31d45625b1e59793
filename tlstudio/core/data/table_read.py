"""Reading a delimited table the way spreadsheet programs write one (torch-free, Qt-free).

- Encodings: UTF-8 with or without a byte-order mark, UTF-16 or UTF-32 with a BOM
  ("Unicode text" exports); a byte-order mark always decides, named encoding or not. Any other encoding (Windows-1252, Shift-JIS, ...) is
  used only when the caller names it, and then strictly: a byte that is not
  valid there is an error naming the encoding, the line, and how to name
  another. Without a name, bytes that are not UTF-8 are kept as surrogates so
  the rows holding them are reported (``text_files.has_undecodable``).
- Records follow RFC 4180: a quoted field may hold the delimiter, doubled
  quotes and line breaks, so a cell with a line break is one value. A quote
  that is never properly closed (the file ends inside it, or text follows the
  quote that would close it) costs only the line it opened on: that line is
  reported and reading starts again on the next line.
- The delimiter (comma, semicolon, tab, pipe) is sniffed with the header row
  as the hint: the delimiter must split the first row into two or more
  columns, and the rows below should have as many.
"""
from __future__ import annotations

import codecs
import csv
import io
import itertools
from pathlib import Path
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from tlstudio.core.errors import DatasetError

DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32", "UTF-32 (BOM)"), (codecs.BOM_UTF32_BE, "utf-32", "UTF-32 (BOM)"),
         (codecs.BOM_UTF8, "utf-8-sig", "UTF-8 (BOM)"), (codecs.BOM_UTF16_LE, "utf-16", "UTF-16 (BOM)"),
         (codecs.BOM_UTF16_BE, "utf-16", "UTF-16 (BOM)"))
NAME_ANOTHER = ("if it was saved in another encoding (Excel on Windows often uses cp1252, on a Japanese "
                "system shift_jis), name it: --encoding NAME on the command line, or Encoding in the Data tab")


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str        # how the bytes were read, for the report: "UTF-8", "UTF-16 (BOM)", "cp1252"


def _line_of(data: bytes, position: int, encoding: str) -> int:
    try:
        return data[:position].decode(encoding, errors="replace").count("\n") + 1
    except LookupError:
        return data[:position].count(b"\n") + 1


def decode_bytes(data: bytes, file_name: str, encoding: str | None = None) -> Decoded:
    """The text of a file's bytes (see the module docstring for which encodings and when)."""
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            try:
                return Decoded(data.decode(codec), label)
            except UnicodeDecodeError as exc:
                raise DatasetError(f"'{file_name}' starts with a {label.split()[0]} byte-order mark but byte "
                                   f"{exc.start} is not valid {label.split()[0]}; {NAME_ANOTHER}.") from None
    if encoding and encoding.strip():
        name = encoding.strip()
        try:
            codecs.lookup(name)
        except LookupError:
            raise DatasetError(f"'{name}' is not an encoding Python knows; try utf-8, utf-16, cp1252, "
                               "latin-1 or shift_jis.") from None
        try:
            return Decoded(data.decode(name).removeprefix("\ufeff"), name)    # a BOM is no text
        except UnicodeDecodeError as exc:
            raise DatasetError(
                f"'{file_name}' cannot be read as {name}: byte 0x{data[exc.start]:02x} on line "
                f"{_line_of(data, exc.start, name)} is not valid in it; name the encoding it was saved in "
                "(--encoding NAME, or Encoding in the Data tab).") from None
    if b"\x00" in data[:4096]:
        raise DatasetError(f"'{file_name}' holds zero bytes, as UTF-16 text without a byte-order mark does; "
                           "it was read as UTF-8. Name its encoding: --encoding utf-16-le (or utf-16-be) on "
                           "the command line, or Encoding in the Data tab.")
    return Decoded(data.decode("utf-8", errors="surrogateescape"), "UTF-8")


def read_decoded(path, encoding: str | None = None) -> Decoded:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise DatasetError(f"Cannot read '{path}': {exc.strerror or exc}.") from exc
    return decode_bytes(data, Path(path).name, encoding)


def physical_lines(text: str) -> list[str]:
    """The lines of ``text`` with their endings (\\n, \\r\\n, \\r only; never U+2028 and kin)."""
    return list(io.StringIO(text, newline=""))


def _reader(lines: Iterator[str], delimiter: str):
    return csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True, strict=True)


def iter_records(lines: Sequence[str], delimiter: str,
                 on_unclosed: Callable[[int, int], None] | None = None) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) of each RFC 4180 record; blank lines give no record.

    A quote never properly closed: ``on_unclosed(line, last line read)`` is told, that line is
    left out and reading starts again on the next line."""
    start = 0
    while start < len(lines):
        reader = _reader(itertools.islice(lines, start, None), delimiter)
        consumed = 0
        try:
            for fields in reader:
                first = start + consumed + 1
                consumed = reader.line_num
                if fields:
                    yield first, fields
            return
        except csv.Error:
            bad = start + consumed
            if on_unclosed is not None:
                on_unclosed(bad + 1, start + reader.line_num)
            start = bad + 1


def _sample_rows(lines: Sequence[str], delimiter: str, limit: int = 60) -> list[list[str]]:
    return [fields for _, fields in itertools.islice(iter_records(lines[:400], delimiter), limit)]


def sniff_delimiter(lines: Sequence[str], preferred: str = ",",
                    header_hint: Callable[[Sequence[str]], bool] | None = None) -> str:
    """The delimiter among DELIMITERS that splits the first row into 2+ columns and keeps the rows
    below as wide; ``header_hint(cells)`` says a split header names known columns (a strong hint).
    ``preferred`` wins ties (and is returned when none splits the first row)."""
    best, best_key = preferred, None
    for delimiter in DELIMITERS:
        rows = _sample_rows(lines, delimiter)
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        body = rows[1:]
        consistent = sum(len(r) == width for r in body) / len(body) if body else 1.0
        named = bool(header_hint and header_hint(rows[0]))
        key = (consistent >= 0.8, named, round(consistent, 2), delimiter == preferred, width)
        if best_key is None or key > best_key:
            best, best_key = delimiter, key
    return best


def read_table(path, *, encoding: str | None = None, preferred: str = ",",
               header_hint: Callable[[Sequence[str]], bool] | None = None) -> tuple[Decoded, str, list[str]]:
    """(decoded text, sniffed delimiter, physical lines) of a table file."""
    decoded = read_decoded(path, encoding)
    lines = physical_lines(decoded.text)
    return decoded, sniff_delimiter(lines, preferred, header_hint), lines


def empty_table_error(name) -> DatasetError:
    """The one message for a data table with no cell filled (scan of a manifest, detection of a table)."""
    return DatasetError(f"The data file '{name}' is empty: it needs one 'path,label' row per image "
                        "(or a text column and a label column for a text dataset).")
