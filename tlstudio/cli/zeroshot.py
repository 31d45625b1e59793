"""``tlstudio-cli zeroshot``: classify a dataset from its class names alone (no training).

    tlstudio-cli zeroshot DATA|--project P.json [--encoder FOLDER] [--save-suggestions] [--json] [-q]

Prints the zero-shot baseline (accuracy on the labelled samples, with chance beside it),
the temperature that calibrates its probabilities, and a suggested class with its
probability for each unlabeled (pool) sample. Class descriptions come from the project's
``data.class_descriptions``. ``--save-suggestions`` (with ``--project``) stores the pool
suggestions in the project file as suggestions (``data.suggestions``), never as labels.
Images need a CLIP-style model (``--encoder`` or the Hugging Face cache); without one
the command says so and exits 2.
"""
from __future__ import annotations

import json
import sys

from tlstudio.cli.data_options import add_data_options
from tlstudio.cli.insight_project import insight_project
from tlstudio.core.errors import ProjectError

SHOWN_POOL = 20


def format_zero_shot(result, noun: str) -> str:
    lines = [result.baseline_line(noun), f"  classifier: {result.method}"]
    cal = result.calibration
    lines.append(f"  probabilities: softmax(cosine / {cal['temperature']:.4f}), temperature from {cal['fitted_on']}")
    if result.per_class_recall:
        lines.append("  recall per class: " + ", ".join(f"{k} {v * 100:.0f} %" for k, v in
                                                        result.per_class_recall.items()))
    if result.pool:
        lines.append(f"Suggestions for {len(result.pool)} unlabeled {noun}:")
        lines += [f"  {p['key']}: {p['label']} ({p['confidence'] * 100:.0f} %)" for p in result.pool[:SHOWN_POOL]]
        if len(result.pool) > SHOWN_POOL:
            lines.append(f"  ... and {len(result.pool) - SHOWN_POOL} more (--json lists all)")
    return "\n".join(lines)


def cmd_zeroshot(args) -> int:
    from tlstudio.cli.progress import TerminalProgress
    from tlstudio.core.data.curation import apply_curation
    from tlstudio.core.data.modality import modality_for
    from tlstudio.core.zeroshot.run import suggestions_for_project, zero_shot, zero_shot_encoder

    if args.save_suggestions and not args.project:
        raise ProjectError("--save-suggestions stores the pool's suggestions in a project: pass --project FILE.json.")
    project = insight_project(args, "CLI zero-shot", "classify it zero-shot")
    modality = modality_for(project.task)
    encoder = zero_shot_encoder(modality, args.encoder)      # no model (images without CLIP): say so first
    bar = TerminalProgress(quiet=args.quiet or args.json)
    try:
        index = apply_curation(modality.scan(project.data.path, job=bar.scan_job(), data=project.data),
                               project.data)
        result = zero_shot(index, modality, descriptions=project.data.class_descriptions, encoder=encoder,
                           job=bar.scan_job())
    finally:
        bar.close()
    if args.save_suggestions:
        project.data.suggestions = suggestions_for_project(result)
        project.save(args.project)
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_zero_shot(result, modality.noun))
        if args.save_suggestions:
            print(f"Stored {len(result.pool)} suggestion(s) in {args.project} (suggestions, not labels).")
    return 0


def add_zeroshot_parser(sub) -> None:
    p = sub.add_parser("zeroshot", help="classify a dataset from its class names alone: the zero-shot baseline "
                                        "and suggestions for unlabeled samples")
    p.add_argument("data", metavar="DATA", nargs="?", help="dataset folder or file (default: the project's)")
    p.add_argument("--project", metavar="FILE.json", help="a saved project (its class descriptions and curation)")
    p.add_argument("--encoder", metavar="FOLDER", help="images: a CLIP-style Hugging Face model folder (default: one "
                                                       "in the Hugging Face cache); texts: a sentence-transformers "
                                                       "folder (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--save-suggestions", action="store_true",
                   help="store the pool's suggested labels in --project (as suggestions, not labels)")
    add_data_options(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_zeroshot, model=None, device=None)
