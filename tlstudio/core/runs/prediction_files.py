"""Prediction files (CSV or JSON Lines): written a batch at a time, resumed, never someone else's file.

One row per input. A single-label model's rows: ``path`` (relative to the
predicted folder), ``label``, ``probability``, ``top_k`` and ``error`` (empty,
or why the input could not be read; then the prediction cells are empty). A
multi-label model's rows add ``labels``, the whole predicted label set (every
label at or above its threshold, most probable first: ``;``-joined in a CSV
cell, a list in JSON Lines), and their ``top_k`` holds each label's own
(sigmoid) probability, every label of the set included; ``label`` /
``probability`` are the set's most probable label ("" / 0 when none passes).
A CSV file's header says which kind it holds, a JSON Lines row by its keys;
a run appends only to a file of its own kind.

Every row is one physical line (a line break inside a cell becomes a space),
so a file cut short by a crash or a kill loses at most its last, partial line,
which ``PredictionFile.open`` removes before appending.

Appending, not write-then-rename, is deliberate: the rows already written are
the resume point. The file is created by the app (CSV: its header written
atomically) and only ever appended to after that; an existing file that is not
a prediction file of the same format and kind is refused, never changed.
``read_predictions`` reads a file's rows back (the GUI shows the rows a resumed
run skips); ``write_predictions`` writes a whole list of rows atomically (the
GUI's "Save as CSV").
"""
from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from tlstudio.core import atomic
from tlstudio.core.errors import ExportError

FORMATS = ("csv", "jsonl")
CSV_COLUMNS = ("path", "label", "probability", "top_k", "error")
MULTILABEL_CSV_COLUMNS = ("path", "labels", "label", "probability", "top_k", "error")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
LABEL_SEPARATOR = ";"
_JSON_KEYS = frozenset(("path", "label", "probability", "top_k", "error"))
_MULTILABEL_JSON_KEYS = _JSON_KEYS | {"labels"}
READ_CHUNK = 500            # rows per list that read_predictions yields


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


def label_names(row: dict) -> list[str]:
    """The names in a multi-label row's ``labels`` (dicts as ``prediction_entry`` makes them, or names)."""
    return [entry["label"] if isinstance(entry, dict) else str(entry) for entry in row.get("labels") or []]


def row_line(row: dict, fmt: str, multilabel: bool = False) -> str:
    """One prediction row as one line of a ``fmt`` file of its kind (newline included)."""
    if fmt == "jsonl":
        if row.get("error"):
            entry = {"path": row["path"], "error": row["error"]}
        else:
            entry = {"path": row["path"], **({"labels": label_names(row)} if multilabel else {}),
                     **{k: row[k] for k in ("label", "probability", "top_k") if k in row}}
        return json.dumps(entry, ensure_ascii=False) + "\n"
    if row.get("error"):
        cells = [row["path"], "", "", "", row["error"]]
    else:
        cells = [row["path"], row["label"], f"{row['probability']:.6f}", top_k_cell(row.get("top_k", [])), ""]
    if multilabel:
        cells.insert(1, "" if row.get("error") else LABEL_SEPARATOR.join(label_names(row)))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([one_line(c) for c in cells])
    return buffer.getvalue()


def header(fmt: str, multilabel: bool = False) -> str:
    return ",".join(MULTILABEL_CSV_COLUMNS if multilabel else CSV_COLUMNS) + "\n" if fmt == "csv" else ""


@dataclass
class Written:
    """What a prediction file already holds: row keys (one-lined paths), label counts (a multi-label
    file: each label of each row's set), error rows."""

    keys: set[str] = field(default_factory=set)
    labels: Counter = field(default_factory=Counter)
    errors: int = 0

    def add(self, row: dict) -> None:
        self.keys.add(one_line(row["path"]))
        if row.get("error"):
            self.errors += 1
        elif "labels" in row:
            self.labels.update(label_names(row))
        elif row.get("label"):
            self.labels[row["label"]] += 1


def _kind(multilabel: bool) -> str:
    return "multi-label" if multilabel else "single-label"


def _foreign(path: Path, fmt: str, why: str) -> ExportError:
    return ExportError(f"'{path}' exists and is not a TL Studio {fmt.upper()} prediction file ({why}); "
                       "TL Studio will not overwrite it: choose another output file.")


def _other_kind(path: Path, multilabel: bool) -> ExportError:
    return ExportError(f"'{path}' holds {_kind(not multilabel)} predictions and this model is {_kind(multilabel)}; "
                       "TL Studio will not mix them: choose another output file.")


def _parse_top_k(cell: str) -> list[dict]:
    top = []
    for part in filter(None, (p.strip() for p in cell.split("; "))):
        name, _, value = part.rpartition("=")
        try:
            top.append({"label": name, "probability": float(value)})
        except ValueError:
            return []
    return top


def _with_label_set(row: dict, names: Sequence[str]) -> dict:
    """``row`` with ``labels`` as ``prediction_entry`` makes them (probabilities from its top_k)."""
    known = {t["label"]: t["probability"] for t in row.get("top_k", [])}
    row["labels"] = [{"label": name, "probability": known.get(name)} for name in names]
    return row


def _parse_line(path: Path, fmt: str, multilabel: bool, number: int, line: str) -> dict | None:
    """The row one complete line of an existing file holds (None for the CSV header); ``ExportError``
    when the line is not one of ours, or of the other kind."""
    if fmt == "csv":
        if number == 1:
            if line == header(fmt, not multilabel):
                raise _other_kind(path, multilabel)
            if line != header(fmt, multilabel):
                raise _foreign(path, fmt, "its first line is not the prediction header")
            return None
        cells = next(csv.reader([line]), [])
        columns = MULTILABEL_CSV_COLUMNS if multilabel else CSV_COLUMNS
        if len(cells) != len(columns):
            raise _foreign(path, fmt, f"line {number} has {len(cells)} cells")
        values = dict(zip(columns, cells))
        if values["error"]:
            return {"path": values["path"], "error": values["error"]}
        try:
            probability = float(values["probability"] or 0.0)
        except ValueError:
            raise _foreign(path, fmt, f"line {number} has no probability") from None
        row = {"path": values["path"], "label": values["label"], "probability": probability,
               "top_k": _parse_top_k(values["top_k"])}
        return _with_label_set(row, [n for n in values["labels"].split(LABEL_SEPARATOR) if n]) if multilabel else row
    try:
        obj = json.loads(line)
    except ValueError:
        raise _foreign(path, fmt, f"line {number} is not JSON") from None
    if not isinstance(obj, dict) or "path" not in obj or not set(obj) <= _MULTILABEL_JSON_KEYS or \
            ("label" not in obj and "error" not in obj):
        raise _foreign(path, fmt, f"line {number} is not a prediction row")
    if obj.get("error"):
        return {"path": str(obj["path"]), "error": str(obj["error"])}
    if ("labels" in obj) != multilabel:
        raise _other_kind(path, multilabel)
    row = {"path": str(obj["path"]), "label": obj.get("label"), "probability": obj.get("probability", 0.0),
           "top_k": obj.get("top_k") or []}
    return _with_label_set(row, [str(n) for n in obj["labels"]]) if multilabel else row


def _lines(path: Path, fmt: str) -> Iterator[tuple[int, str | None, bytes]]:
    """(number, text, raw bytes) of each complete line, then (number, None, the cut tail) when the file
    ends in a partial line. Line by line: a large file is never held whole."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.endswith(b"\n"):
                yield number, None, raw
                return
            try:
                yield number, raw.decode("utf-8"), raw
            except UnicodeDecodeError:
                raise _foreign(path, fmt, f"line {number} is not UTF-8 text") from None


def _looks_like_a_cut_row(tail: bytes, fmt: str, after_header: bool) -> bool:
    """Whether ``tail`` (bytes after the last line break) can be the start of one of our rows."""
    return after_header if fmt == "csv" else tail.startswith(b'{"path": ')


def _existing(path: Path, fmt: str) -> bool:
    """Whether ``path`` holds something to check (a missing or empty file is created fresh)."""
    if path.is_dir():
        raise ExportError(f"'{path}' is a folder; name the prediction file to write.")
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):      # an empty file loses nothing
        return False
    if not path.is_file():
        raise ExportError(f"'{path}' is not a regular file; TL Studio will not write to it.")
    return True


def read_predictions(path: str | os.PathLike, fmt: str | None = None, *, multilabel: bool = False,
                     chunk: int = READ_CHUNK) -> Iterator[list[dict]]:
    """The rows of an existing prediction file, ``chunk`` at a time, in file order, as ``prediction_entry``
    makes them (a cut last line left out; the file is not changed). Nothing for a missing or empty
    file; ``ExportError`` for a file that is not a prediction file of this format and kind."""
    path = Path(path).expanduser()
    fmt = output_format(path, fmt)
    if not _existing(path, fmt):
        return
    rows: list[dict] = []
    for number, line, _raw in _lines(path, fmt):
        row = None if line is None else _parse_line(path, fmt, multilabel, number, line)
        if row is not None:
            rows.append(row)
            if len(rows) >= chunk:
                yield rows
                rows = []
    if rows:
        yield rows


class PredictionFile:
    """An output file being appended to: ``open`` it (created, or checked and repaired), then ``append``."""

    def __init__(self, path: Path, fmt: str, written: Written, multilabel: bool = False) -> None:
        self.path, self.format, self.written, self.multilabel = path, fmt, written, multilabel
        self._fh = None

    @classmethod
    def open(cls, path: str | os.PathLike, fmt: str | None = None, multilabel: bool = False) -> "PredictionFile":
        """Create ``path`` (with its header) or take an existing prediction file of the same format and
        kind (``multilabel``), dropping a partial last line a crash left; ``ExportError`` for any other
        existing file."""
        path = Path(path).expanduser()
        fmt = output_format(path, fmt)
        written = Written()
        if not _existing(path, fmt):
            atomic.write_text(path, header(fmt, multilabel))
            return cls(path, fmt, written, multilabel)
        kept, tail = 0, b""                         # bytes of checked, complete lines; a cut last line
        for number, line, raw in _lines(path, fmt):
            if line is None:
                tail = raw
                break
            row = _parse_line(path, fmt, multilabel, number, line)
            if row is not None:
                written.add(row)
            kept += len(raw)
        if tail:                                    # the partial last line of an interrupted write
            if not _looks_like_a_cut_row(tail, fmt, kept > 0):
                raise _foreign(path, fmt, "its last line is not a prediction row")
            with open(path, "r+b") as fh:
                fh.truncate(kept)
        return cls(path, fmt, written, multilabel)

    def append(self, rows: Iterable[dict]) -> None:
        """Append ``rows`` in one write, flushed, and count them in ``written``."""
        rows = list(rows)
        if not rows:
            return
        if self._fh is None:
            self._fh = open(self.path, "a", encoding="utf-8", newline="")
        self._fh.write("".join(row_line(r, self.format, self.multilabel) for r in rows))
        self._fh.flush()
        for r in rows:
            self.written.add(r)

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
    """Write ``rows`` as a whole new prediction file, atomically (multi-label when a row has ``labels``).
    An existing file is replaced only when it is a prediction file of the same format and kind
    (``ExportError`` otherwise)."""
    path = Path(path).expanduser()
    fmt = output_format(path, fmt)
    rows = list(rows)
    multilabel = any("labels" in r for r in rows)
    if path.exists():
        PredictionFile.open(path, fmt, multilabel)   # refuses anything else, changes nothing it accepts but a cut line
    atomic.write_text(path, header(fmt, multilabel) + "".join(row_line(r, fmt, multilabel) for r in rows))
    return path
