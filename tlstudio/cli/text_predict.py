"""The text side of the command line: column options and ``predict`` for a text model.

``tlstudio-cli predict RUN --text "..." --file X``: a ``--file`` that is a
CSV/TSV/JSONL is read as a table (the text column detected as for training, or
``--text-column``) and every row gets its prediction, named by its row
(``data.csv:12``); any other file is read as one text per line. A row with no
usable text is reported in its place; a file that cannot be read at all is one
error line and exit 2 (raised as ``DatasetError`` to ``commands.main``).
"""
from __future__ import annotations

import argparse
import json
import sys

from tlstudio.core.errors import DatasetError

EXIT_BAD_INPUT = 2
SHOWN_CHARS = 60


def add_column_options(parser: argparse.ArgumentParser, *, numbers: bool = True, label: bool = True) -> None:
    """--text-column (and --label-column) for a text CSV/TSV/JSONL; ``numbers``: a column may be
    given by its number from 0 (a file without a header)."""
    how = " (default: detected; or its number from 0)" if numbers else " (default: detected)"
    parser.add_argument("--text-column", metavar="NAME", help="text CSV/TSV/JSONL: the column holding the text" + how)
    if label:
        parser.add_argument("--label-column", metavar="NAME",
                            help="text CSV/TSV/JSONL: the column holding the label" + how)


def column_value(value: str | None) -> str | int | None:
    """A --text-column/--label-column value for ``scan_text``: a number from 0 stays a number."""
    if value is None or not value.strip():
        return None
    return int(value) if value.strip().isdigit() else value.strip()


def gather_texts(args) -> list[tuple[str | None, str | None, str | None]]:
    """(row, text, error) per text to classify: --text values, then each --file in turn."""
    from tlstudio.core.data.text_rows import is_table_file, read_text_lines, read_text_rows

    out: list[tuple[str | None, str | None, str | None]] = [(None, t, None) for t in args.text or []]
    for path in args.file or []:
        if is_table_file(path):
            table = read_text_rows(path, getattr(args, "text_column", None), getattr(args, "encoding", None))
            out += [(row.where, row.text, row.error) for row in table.rows]
        else:
            out += [(None, line, None) for line in read_text_lines(path, getattr(args, "encoding", None))]
    return out


def prediction_text(r: dict) -> str:
    """One prediction for a terminal: "label 0.912  (other 0.050, ...)"; a multi-label model's
    label set: "labels: a 0.91 (>= 0.42), b 0.64 (>= 0.35)" ("no label above its threshold")."""
    if "labels" in r:
        chosen = ", ".join(f"{t['label']} {t['probability']:.3f} (>= {t['threshold']:.2f})" for t in r["labels"])
        return f"labels: {chosen}" if chosen else "labels: none above its threshold"
    others = ", ".join(f"{t['label']} {t['probability']:.3f}" for t in r["top_k"][1:])
    return f"{r['label']} {r['probability']:.3f}" + (f"  ({others})" if others else "")


def _shown(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 3] + "..."


def predict_text_command(args, loaded) -> int:
    """Classify the texts of ``args`` with a loaded text model; print lines or JSON."""
    from tlstudio.core.runs.predict import predict_texts

    if args.images:
        raise DatasetError("This is a text model; give texts with --text or --file, not image files.")
    items = gather_texts(args)
    if not items:
        raise DatasetError("No texts to classify; give --text \"...\" or --file FILE (lines, CSV, TSV or JSONL).")
    readable = [i for i, (_, text, error) in enumerate(items) if error is None]
    predicted = dict(zip(readable, predict_texts(loaded, [items[i][1] for i in readable], top_k=args.top_k)))
    results = []
    for i, (row, _, error) in enumerate(items):
        entry = predicted[i] if i in predicted else {"error": error}
        results.append({"row": row, **entry} if row is not None else entry)
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        for r in results:
            where = f"{r['row']}: " if "row" in r else ""
            source = f"  <- {_shown(r['text'])!r}" if r.get("text") is not None else ""
            if "error" in r:
                print(f"{where}ERROR {r['error']}{source}")
            else:
                print(f"{where}{prediction_text(r)}{source}")
    if all("error" in r for r in results):
        print(f"error: none of the {len(results)} text(s) could be classified.", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0
