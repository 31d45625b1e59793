"""``tlstudio-cli compare``: which pretrained model suits this data best, and what it costs to run.

    tlstudio-cli compare DATA|--project P.json [--models a,b] [--add c,d] [--full-search] [--out FILE] [--device D]
                         [--json] [-q]

Candidates: ``--models`` (exactly these), else the project's model and every
model whose weights are on this computer, plus ``--add``. Each candidate's
features come from the feature cache when they were extracted before; the
leaderboard (best first, '*' on the Pareto front of accuracy vs latency) is
printed, or its JSON with ``--json``, and saved beside the project file
(``<name>.compare.json``), at ``--out``, or in the app's data folder for a bare
DATA. Progress (one bar, the candidate and its step) goes to stderr.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from tlstudio.cli.data_options import add_data_options
from tlstudio.cli.insight_project import insight_project
from tlstudio.core.device import DEVICE_CHOICES
from tlstudio.core.errors import ModelError


def compare_candidates(args, project) -> list[tuple[str, str]]:
    """(model, weights) pairs from --models / --add; a name that is no model is an error now, not a row."""
    from tlstudio.core.compare.compare import default_candidates, parse_model_list, unique
    from tlstudio.core.data.modality import modality_for
    from tlstudio.core.project_sections import ModelSettings

    named = parse_model_list(args.models) if args.models is not None else []
    if args.models is not None and not named:
        raise ModelError("--models names no model; give names separated by commas.")
    added = parse_model_list(args.add or "")
    modality = modality_for(project.task)
    for name in named + added:
        modality.model_card(ModelSettings(name=name))       # ModelError: unknown model (with suggestions)
    own = (project.model.name, project.model.weights.to_json())
    pairs = [own if name == own[0] else (name, "auto") for name in named] if named else default_candidates(project)
    return unique(pairs + [(name, "auto") for name in added])


def cmd_compare(args) -> int:
    from tlstudio.cli.progress import TerminalProgress
    from tlstudio.core.compare.compare import compare_models
    from tlstudio.core.compare.leaderboard import format_leaderboard, leaderboard_path, load_leaderboard
    from tlstudio.core.errors import TLStudioError

    project = insight_project(args, "CLI compare", "compare models on it")
    pairs = compare_candidates(args, project)
    out = Path(args.out) if args.out else leaderboard_path(args.project, project.data.path)
    bar = TerminalProgress(quiet=args.quiet or args.json)
    bar.line(f"Comparing {len(pairs)} models: {', '.join(name for name, _ in pairs)}")

    def on_row(row) -> None:
        if row.error:
            bar.line(f"  {row.model}: {row.error}")
        else:
            cached = ", features from the cache" if row.from_cache else ""
            bar.line(f"  {row.model}: accuracy {row.accuracy:.3f}, {row.latency_ms:.1f} ms{cached}")

    try:
        board = compare_models(project, pairs, job=bar.scan_job(), previous=load_leaderboard(out), save_to=out,
                               full_search=args.full_search, on_row=on_row)
    finally:
        bar.close()
    if not any(row.ok for row in board.candidates):
        raise TLStudioError(f"No model could be compared: {board.candidates[0].error}")
    if args.json:
        json.dump({**board.to_dict(), "saved_to": str(out)}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_leaderboard(board))
        print(f"Saved to {out}")
    return 0


def add_compare_parser(sub) -> None:
    p = sub.add_parser("compare", help="compare pretrained models on a dataset: accuracy, speed, size")
    p.add_argument("data", metavar="DATA", nargs="?", help="dataset folder or file (default: the project's)")
    p.add_argument("--project", metavar="FILE.json", help="a saved project (its model, split and curation)")
    p.add_argument("--models", metavar="A,B", help="compare exactly these models (default: every model whose "
                                                    "weights are on this computer)")
    p.add_argument("--add", metavar="A,B", help="models to compare besides the default ones")
    p.add_argument("--full-search", action="store_true", help="search hidden-layer heads too, as training does "
                                                                "(default: linear heads, ~4x faster)")
    p.add_argument("--out", metavar="FILE.json", help="where to save the leaderboard (default: beside the "
                                                       "project file, or in the app's data folder)")
    p.add_argument("--device", choices=DEVICE_CHOICES)
    add_data_options(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_compare, model=None)     # insight_project's --model: the project's own here
