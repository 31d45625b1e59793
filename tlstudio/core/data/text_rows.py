"""The texts of a table file to classify: CSV/TSV or JSON Lines, no labels needed.

``read_text_rows`` returns one ``TextRow`` per data row, in file order, each
with its locator (``"<file name>:<line>"``). A row that cannot give a text
(bytes that are not UTF-8, too few fields, a JSON line that is not an object
with the text field, a CSV quote never closed) keeps its place with an
``error`` instead of a text, so the caller reports it beside the others.
Only a problem with the whole file raises ``DatasetError``: it is missing, has
no rows, or no column can be told to hold the text.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tlstudio.core.data.folder_inputs import FolderInput, walk_files
from tlstudio.core.data.index import Sample
from tlstudio.core.data.table_read import iter_records, physical_lines, read_decoded, read_table
from tlstudio.core.data.text_files import (TEXT_COLUMN_NAMES, bad_bytes, column_key, has_undecodable,
                                           names_known_column, pick_column)
from tlstudio.core.errors import DatasetError

TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".jsonl", ".ndjson")


@dataclass(frozen=True)
class TextRow:
    where: str                 # "data.csv:12"
    text: str | None           # None when the row has an error
    error: str | None = None


@dataclass
class TextRows:
    column: str                # the text column (or JSON field) read
    rows: list[TextRow]


def is_table_file(path: str | os.PathLike) -> bool:
    """A CSV/TSV/JSON Lines file by its name (anything else is read as one text per line)."""
    return Path(path).suffix.lower() in TABLE_SUFFIXES


def _column_choice(header: list[str], wanted: str | None) -> str | int | None:
    """A column name, or a number from 0 when the file has no column of that name."""
    if wanted is None or not str(wanted).strip():
        return None
    wanted = str(wanted).strip()
    if wanted.isdigit() and column_key(wanted) not in {column_key(h) for h in header}:
        return int(wanted)
    return wanted


def _undecodable(where: str, value: str) -> TextRow | None:
    if has_undecodable(value):
        return TextRow(where, None, f"bytes that are not UTF-8 ({bad_bytes(value)})")
    return None


def _read_delimited(path: Path, text_column: str | None, encoding: str | None) -> TextRows:
    _, delimiter, lines = read_table(path, encoding=encoding, preferred="\t" if path.suffix.lower() == ".tsv" else ",",
                                     header_hint=names_known_column)
    rows: list[TextRow] = []

    def unclosed(line: int, last: int) -> None:
        rows.append(TextRow(f"{path.name}:{line}", None, f"a quote opened on this line is never properly closed "
                                                         f"(read to line {last}); only this line is left out"))

    records = list(iter_records(lines, delimiter, unclosed))
    if not records:
        raise DatasetError(f"The file '{path.name}' has no rows.")
    header = records[0][1]
    choice = _column_choice(header, text_column)
    column = pick_column(header, choice, TEXT_COLUMN_NAMES, "text")
    has_header = isinstance(choice, str) or names_known_column(header)
    if column is None:
        if len(header) != 1:
            raise DatasetError(f"Cannot tell which column of '{path.name}' holds the text; its columns are "
                               f"{', '.join(header)}. Name it with --text-column.")
        column = 0          # one column: the texts (a header row only when it is a known column name)
    for line, fields in records[1:] if has_header else records:
        where = f"{path.name}:{line}"
        if len(fields) <= column:
            rows.append(TextRow(where, None, f"the row has {len(fields)} field(s), no text"))
            continue
        rows.append(_undecodable(where, fields[column]) or TextRow(where, fields[column]))
    rows.sort(key=lambda r: int(r.where.rsplit(":", 1)[1]))
    return TextRows(header[column] if has_header else str(column), rows)


def _read_jsonl(path: Path, text_column: str | None, encoding: str | None) -> TextRows:
    key: str | None = text_column.strip() if text_column and text_column.strip() else None
    rows: list[TextRow] = []
    for number, line in enumerate(read_decoded(path, encoding).text.splitlines(), start=1):
        where = f"{path.name}:{number}"
        if not line.strip():
            continue
        bad = _undecodable(where, line)
        if bad is not None:
            rows.append(bad)
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            rows.append(TextRow(where, None, f"not valid JSON ({exc})"))
            continue
        if not isinstance(obj, dict):
            rows.append(TextRow(where, None, "not a JSON object"))
            continue
        if key is None:
            fields = [str(k) for k in obj]
            found = pick_column(fields, None, TEXT_COLUMN_NAMES, "text")
            if found is None:
                raise DatasetError(f"Cannot tell which field of '{path.name}' holds the text; line {number} "
                                   f"has {', '.join(fields)}. Name it with --text-column.")
            key = fields[found]
        value = obj.get(key)
        if not isinstance(value, str):
            rows.append(TextRow(where, None, f"no text in '{key}'" if value is None else f"'{key}' is not a string"))
            continue
        rows.append(TextRow(where, value))
    if key is None:
        raise DatasetError(f"The file '{path.name}' has no rows.")
    return TextRows(key, rows)


def read_text_rows(path: str | os.PathLike, text_column: str | None = None, encoding: str | None = None) -> TextRows:
    """The text of every row of a CSV/TSV/JSONL file (``text_column``: a name, or a number from 0;
    None: detected from the header, as for training; ``encoding`` as ``table_read.decode_bytes``)."""
    source = Path(path).expanduser()
    if not source.is_file():
        raise DatasetError(f"Text file not found: {path}.")
    if source.suffix.lower() in (".jsonl", ".ndjson"):
        return _read_jsonl(source, text_column, encoding)
    return _read_delimited(source, text_column, encoding)


def read_text_lines(path: str | os.PathLike, encoding: str | None = None) -> list[str]:
    """The non-blank lines of a text file (one text per line; UTF-8, UTF-16/32 by BOM, or ``encoding``)."""
    if not Path(path).is_file():
        raise DatasetError(f"Text file not found: {path}.")
    text = read_decoded(path, encoding).text
    bad = next((i for i, line in enumerate(physical_lines(text), 1) if has_undecodable(line)), None)
    if bad is not None:
        raise DatasetError(f"{path} is not UTF-8 text (line {bad}); save it as UTF-8 or name its encoding "
                           "with --encoding.")
    return [line.rstrip("\r\n") for line in physical_lines(text) if line.strip()]



FOLDER_TEXT_SUFFIXES = frozenset((".txt",) + TABLE_SUFFIXES)


def _file_text(path: str, key: str, encoding: str | None) -> FolderInput:
    try:
        text = read_decoded(path, encoding).text
    except DatasetError as exc:
        return FolderInput(key, None, str(exc))
    if has_undecodable(text):
        return FolderInput(key, None, f"bytes that are not UTF-8 ({bad_bytes(text)}); name the encoding")
    if not text.strip():
        return FolderInput(key, None, "The text is empty.")
    return FolderInput(key, Sample(key, -1, text))


def folder_texts(folder: str | os.PathLike, text_column: str | None = None, encoding: str | None = None,
                 exclude=()) -> Iterator[FolderInput]:
    """``FolderInput``s below ``folder``: one per .txt file (its whole text) and one per row of each
    CSV/TSV/JSONL file (key ``"sub/data.csv:12"``); a table that cannot be read is one error input."""
    for path, key in walk_files(folder, FOLDER_TEXT_SUFFIXES, exclude):
        if not is_table_file(path):
            yield _file_text(path, key, encoding)
            continue
        try:
            rows = read_text_rows(path, text_column, encoding).rows
        except DatasetError as exc:
            yield FolderInput(key, None, str(exc))
            continue
        for row in rows:
            where = f"{key}:{row.where.rsplit(':', 1)[1]}"
            if row.error is not None or not (row.text or "").strip():
                yield FolderInput(where, None, row.error or "The text is empty.")
            else:
                yield FolderInput(where, Sample(where, -1, row.text))
