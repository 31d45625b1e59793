"""``tlstudio-cli suggest``: which unlabeled samples to label next, with the model's guess.

    tlstudio-cli suggest DATA|--project P.json [--top K] [--model NAME] [--device D] [--json] [-q]

Ranks the data's unlabeled pool (an image folder's ``unlabeled/``, or rows with
an empty label) by how much a label would help: a quick head fitted on the
labelled samples' cached features, its uncertainty (margin) times the distance
to what is already labelled; with no labels yet, typical samples of different
groups (diversity only). ``--json`` prints ``core.active.suggest.suggestions_json``:
``suggestions`` (best first; ``path`` + ``key`` for an image, ``row`` + ``text`` for
a text; ``suggested`` class or null, ``confidence``, ``score``), ``labelled``,
``unlabeled``, ``cold_start``, ``how`` and ``accuracy_estimate``.
"""
from __future__ import annotations

import json
import sys

from tlstudio.cli.insight_project import add_insight_arguments, insight_project
from tlstudio.core.errors import ProjectError

DEFAULT_TOP = 20


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def format_suggestions(out: dict) -> str:
    """A short table for the terminal."""
    estimate = out["accuracy_estimate"]
    lines = [f"{out['labelled']} labelled, {out['unlabeled']} unlabeled"
             + (f"; the quick head's cross-validated accuracy on the labels: {estimate:.0%}" if estimate is not None
                else ""), out["how"]]
    if out["suggestions"]:
        lines.append(f"  {'score':>6}  {'suggested':<14} {'conf.':>5}  sample")
    for s in out["suggestions"]:
        where = f"{s['row']}  {_short(s['text'])}" if "row" in s else s["key"]
        guess = s["suggested"] if s["suggested"] is not None else "-"
        conf = f"{s['confidence']:.0%}" if s["suggested"] is not None else ""
        lines.append(f"  {s['score']:6.3f}  {guess:<14} {conf:>5}  {where}")
    return "\n".join(lines)


def cmd_suggest(args) -> int:
    from tlstudio.cli.progress import TerminalProgress
    from tlstudio.core.active.suggest import suggest, suggestions_json

    if args.top < 1:
        raise ProjectError(f"--top must be a whole number of at least 1; got {args.top}.")
    project = insight_project(args, "CLI suggest", "suggest what to label")
    bar = TerminalProgress(quiet=args.quiet or args.json)
    try:
        data, ranking = suggest(project, args.top, job=bar.scan_job())
    finally:
        bar.close()
    out = suggestions_json(data, ranking)
    if args.json:
        json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(format_suggestions(out))
    return 0


def add_suggest_parser(sub) -> None:
    p = sub.add_parser("suggest", help="which unlabeled samples to label next (active learning), with the "
                                       "model's suggested label")
    add_insight_arguments(p, "a saved project (its model, curation and labels)")
    p.add_argument("--top", type=int, default=DEFAULT_TOP, metavar="K", help=f"how many (default {DEFAULT_TOP})")
    p.set_defaults(func=cmd_suggest)
