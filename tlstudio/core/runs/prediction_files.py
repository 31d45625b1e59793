"""Prediction files (CSV or JSON Lines): written a batch at a time, resumed, never someone else's file.

One row per input: ``path`` (relative to the predicted folder), ``label``,
``probability``, ``top_k`` and ``error`` (empty, or why the input could not be
read; then the prediction cells are empty). Every row is one physical line (a
line break inside a cell becomes a space), so a file cut short by a crash or a
kill loses at most its last, partial line, which ``PredictionFile.open``
removes before appending.

Appending, not write-then-rename, is deliberate: the rows already written are
the resume point. The file is created by the app (CSV: its header written
atomically) and only ever appended to after that; an existing file that is not
a prediction file of the same format is refused, never changed.
``write_predictions`` writes a whole list of rows atomically (the GUI's "Save
as CSV").
"""
from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from tlstudio.core import atomic
from tlstudio.core.errors import ExportError

FORMATS = ("csv", "jsonl")
CSV_COLUMNS = ("path", "label", "probability", "top_k", "error")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
_JSON_KEYS = frozenset(("path", "label", "probability", "top_k", "error"))
_CSV_HEADER = ",".join(CSV_COLUMNS) + "\n"


def output_format(path: str | os.PathLike, fmt: str | None = None) -> str:
    """``fmt`` when given ("csv" or "jsonl"), else from the file name (.jsonl/.ndjson: jsonl; else csv)."""
    if fmt:
        if fmt not in FORMATS:
            raise ExportError(f"Unknown prediction file format {fmt!r}; use csv or jsonl.")
        return fmt
    return "jsonl" if Path(path).suffix.lower() in JSONL_SUFFIXES else "csv"


def one_line(value: object) -> str:
    """``value`` as text with its line breaks turned into spaces (a row stays one line)."""
    return str(value).replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def top_k_cell(top: Sequence[dict]) -> str:
    """The top-k of a row as one CSV cell: ``label=0.9123; other=0.0500``."""
    return "; ".join(f"{t['label']}={t['probability']:.4f}" for t in top)


def row_line(row: dict, fmt: str) -> str:
    """One prediction row as one line of a ``fmt`` file (newline included)."""
    if fmt == "jsonl":
        entry = {"path": row["path"], "error": row["error"]} if row.get("error") else \
            {k: row[k] for k in ("path", "label", "probability", "top_k") if k in row}
        return json.dumps(entry, ensure_ascii=False) + "\n"
    if row.get("error"):
        cells = [row["path"], "", "", "", row["error"]]
    else:
        cells = [row["path"], row["label"], f"{row['probability']:.6f}", top_k_cell(row.get("top_k", [])), ""]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([one_line(c) for c in cells])
    return buffer.getvalue()


def header(fmt: str) -> str:
    return _CSV_HEADER if fmt == "csv" else ""


@dataclass
class Written:
    """What a prediction file already holds: row keys (one-lined paths), label counts, error rows."""

    keys: set[str] = field(default_factory=set)
    labels: Counter = field(default_factory=Counter)
    errors: int = 0

    def add(self, path: str, label: str | None, error: str | None) -> None:
        self.keys.add(one_line(path))
        if error:
            self.errors += 1
        elif label is not None:
            self.labels[label] += 1


def _foreign(path: Path, fmt: str, why: str) -> ExportError:
    return ExportError(f"'{path}' exists and is not a TL Studio {fmt.upper()} prediction file ({why}); "
                       "TL Studio will not overwrite it: choose another output file.")


def _check_line(path: Path, fmt: str, number: int, line: str, written: Written) -> None:
    """Count one complete line of an existing file in ``written``; ``ExportError`` when it is not ours."""
    if fmt == "csv":
        if number == 1:
            if line != _CSV_HEADER:
                raise _foreign(path, fmt, "its first line is not the prediction header")
            return
        cells = next(csv.reader([line]), [])
        if len(cells) != len(CSV_COLUMNS):
            raise _foreign(path, fmt, f"line {number} has {len(cells)} cells")
        written.add(cells[0], cells[1] or None, cells[4] or None)
        return
    try:
        obj = json.loads(line)
    except ValueError:
        raise _foreign(path, fmt, f"line {number} is not JSON") from None
    if not isinstance(obj, dict) or "path" not in obj or not set(obj) <= _JSON_KEYS or \
            ("label" not in obj and "error" not in obj):
        raise _foreign(path, fmt, f"line {number} is not a prediction row")
    written.add(str(obj["path"]), obj.get("label"), obj.get("error"))


def _looks_like_a_cut_row(tail: bytes, fmt: str, after_header: bool) -> bool:
    """Whether ``tail`` (bytes after the last line break) can be the start of one of our rows."""
    return after_header if fmt == "csv" else tail.startswith(b'{"path": ')


class PredictionFile:
    """An output file being appended to: ``open`` it (created, or checked and repaired), then ``append``."""

    def __init__(self, path: Path, fmt: str, written: Written) -> None:
        self.path, self.format, self.written = path, fmt, written
        self._fh = None

    @classmethod
    def open(cls, path: str | os.PathLike, fmt: str | None = None) -> "PredictionFile":
        """Create ``path`` (with its header) or take an existing prediction file of the same format,
        dropping a partial last line a crash left; ``ExportError`` for any other existing file."""
        path = Path(path).expanduser()
        fmt = output_format(path, fmt)
        written = Written()
        if path.is_dir():
            raise ExportError(f"'{path}' is a folder; name the prediction file to write.")
        if not path.exists() or (path.is_file() and path.stat().st_size == 0):    # an empty file loses nothing
            atomic.write_text(path, header(fmt))
            return cls(path, fmt, written)
        if not path.is_file():
            raise ExportError(f"'{path}' is not a regular file; TL Studio will not write to it.")
        kept, tail = 0, b""                         # bytes of checked, complete lines; a cut last line
        with open(path, "rb") as fh:                # line by line: a large file is never held whole
            for number, raw in enumerate(fh, start=1):
                if not raw.endswith(b"\n"):
                    tail = raw
                    break
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise _foreign(path, fmt, f"line {number} is not UTF-8 text") from None
                _check_line(path, fmt, number, line, written)
                kept += len(raw)
        if tail:                                    # the partial last line of an interrupted write
            if not _looks_like_a_cut_row(tail, fmt, kept > 0):
                raise _foreign(path, fmt, "its last line is not a prediction row")
            with open(path, "r+b") as fh:
                fh.truncate(kept)
        return cls(path, fmt, written)

    def append(self, rows: Iterable[dict]) -> None:
        """Append ``rows`` in one write, flushed, and count them in ``written``."""
        rows = list(rows)
        if not rows:
            return
        if self._fh is None:
            self._fh = open(self.path, "a", encoding="utf-8", newline="")
        self._fh.write("".join(row_line(r, self.format) for r in rows))
        self._fh.flush()
        for r in rows:
            self.written.add(r["path"], r.get("label"), r.get("error"))

    def close(self) -> None:
        if self._fh is not None:
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "PredictionFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_predictions(rows: Iterable[dict], path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Write ``rows`` as a whole new prediction file, atomically. An existing file is replaced only
    when it is a prediction file of the same format (``ExportError`` otherwise)."""
    path = Path(path).expanduser()
    fmt = output_format(path, fmt)
    if path.exists():
        PredictionFile.open(path, fmt)          # refuses anything else, changes nothing it accepts but a cut line
    atomic.write_text(path, header(fmt) + "".join(row_line(r, fmt) for r in rows))
    return path
