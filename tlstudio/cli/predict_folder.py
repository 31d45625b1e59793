"""``tlstudio-cli predict RUN FOLDER [--out FILE] [--format csv|jsonl] [--top-k K]``: a whole folder.

Every input below FOLDER (images, or .txt files and CSV/TSV/JSONL rows for a
text run) is predicted into a CSV or JSON Lines file, with a progress bar on
stderr and a summary (count, per-label counts, errors, time, inputs/s) on
stdout (``--json``: the summary as JSON). Running the same command again after
an interrupt appends only the rows the file lacks; an existing file that is
not a prediction file is refused in one line (exit 2).
"""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

from tlstudio.cli.models import print_json
from tlstudio.cli.progress import format_seconds
from tlstudio.core.errors import DatasetError

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
SHOWN_LABELS = 20


def folder_request(args) -> bool:
    """Whether ``predict`` was given one folder (and no --text/--file) rather than files."""
    folders = [p for p in args.images or [] if Path(p).is_dir()]
    if not folders:
        return False
    if len(args.images) > 1 or args.text or args.file:
        raise DatasetError(f"'{folders[0]}' is a folder: give one FOLDER alone, or image files, not both.")
    return True


def default_out(fmt: str | None) -> str:
    return "predictions.jsonl" if fmt == "jsonl" else "predictions.csv"


def imagenet_model():
    """The bundled image model as it ships, with its ImageNet class names (``predict imagenet FOLDER``)."""
    from tlstudio.core.runs.folder import LoadedModel
    from tlstudio.core.zoo.bundled import imagenet_class_names
    from tlstudio.core.zoo.cards import DEFAULT_MODEL, get_card
    from tlstudio.core.zoo.weights import create_pretrained

    card = get_card(DEFAULT_MODEL)
    return LoadedModel(create_pretrained(card, "auto"), imagenet_class_names(), card.preprocessing,
                       {"task": "image", "model_name": card.name})


def print_summary(summary: dict) -> None:
    noun, new = summary["noun"], summary["new"]
    print(f"Predicted {new} {noun} in {format_seconds(summary['seconds'])} ({summary['per_second']:.1f} {noun}/s)"
          f" -> {summary['out']} ({summary['rows']} rows, {summary['format']})")
    if summary["already"]:
        print(f"Already in the file, skipped: {summary['already']}")
    labels = list(summary["per_label"].items())
    shown = ", ".join(f"{label} {n}" for label, n in labels[:SHOWN_LABELS])
    more = f", ... ({len(labels) - SHOWN_LABELS} more labels)" if len(labels) > SHOWN_LABELS else ""
    print(f"Per label: {shown}{more}" if labels else "Per label: none")
    print(f"Errors: {summary['errors']}" + (" (rows with an error cell)" if summary["errors"] else ""))


def predict_folder_command(args, loaded) -> int:
    """Predict every input below ``args.images[0]`` into ``args.out``; print the summary."""
    from tlstudio.cli.progress import TerminalProgress
    from tlstudio.core.data.modality import modality_for
    from tlstudio.core.runs.predict_folder import predict_folder

    folder = args.images[0]
    out = args.out or default_out(args.format)
    noun = modality_for(loaded.task).noun
    data = SimpleNamespace(text_column=getattr(args, "text_column", None), encoding=getattr(args, "encoding", None))
    bar = TerminalProgress(quiet=args.quiet or args.json)
    job = bar.scan_job()
    job.phase = f"predicting {noun}"
    try:
        summary = predict_folder(loaded, folder, out, fmt=args.format, top_k=args.top_k, data=data, job=job)
    except KeyboardInterrupt:
        bar.close()
        print(f"Interrupted: the rows predicted so far are in {out}; run the same command again to add the rest.",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        bar.close()
    if args.json:
        print_json(summary)
    else:
        print_summary(summary)
    if summary["rows"] and summary["errors"] == summary["rows"]:
        print(f"error: none of the {summary['rows']} {noun} below {folder} could be read.", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0
