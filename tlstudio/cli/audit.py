"""``tlstudio-cli audit``: likely label errors, duplicates and outliers of a dataset or project.

    tlstudio-cli audit DATA|--project P.json [--model NAME] [--device D] [--json] [--top K] [--curves] [--similar]

The features come from the feature cache when a run (or an earlier audit)
already extracted them. ``--json`` prints ``AuditReport.to_json``: ``label_issues``
(most suspicious first, each with ``path`` -- for text ``row`` and ``text`` --,
``given``, ``suggested``, ``score``), ``duplicates`` (verified groups with ``paths``,
``kind`` exact|near, ``reason``, ``closeness``, ``why``, ``straddles_split``, ``labels_differ``) and
``outliers``; with ``--similar`` also ``similar`` (groups only near in feature space, the lower tier; always
counted in ``counts.similar``); with ``--curves`` also
``learning_curves`` (``core.insight.curves.LearningCurves.to_dict``: table, fits, ``texts``).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from tlstudio.core.errors import DatasetError, ProjectError

HUMAN_TOP = 10


def insight_project(args, name: str, verb: str):
    """The Project to look into (``audit``, ``curves``): --project (a DATA given overrides its data) or DATA
    with the defaults (the text default model for text data); --model / --device applied."""
    from tlstudio.core.project import Project, detect_task
    from tlstudio.core.zoo.cards import DEFAULT_MODEL
    from tlstudio.core.zoo.text_cards import DEFAULT_TEXT_MODEL

    if args.project is None and args.data is None:
        raise DatasetError(f"Give a DATA folder or file, or --project FILE.json, to {verb}.")
    project = Project.load(args.project) if args.project else Project(name=name)
    if args.data is not None:
        if not Path(args.data).exists():
            raise DatasetError(f"The dataset '{args.data}' does not exist.")
        project.data.path = str(Path(args.data).absolute())
        if not args.project:
            project.task = detect_task(project.data.path)
    if not project.data.path:
        raise DatasetError("The project has no dataset; pass DATA or set data.path in the project.")
    if project.task == "text" and project.model.name == DEFAULT_MODEL and args.model is None:
        project.model.name = DEFAULT_TEXT_MODEL
    if args.model is not None:
        project.choose_model(args.model)
    if args.device is not None:
        project.training.device = args.device
    return project


def audit_project(args):
    """The Project to audit (see ``insight_project``), with --top range-checked."""
    if args.top is not None and args.top < 1:
        raise ProjectError(f"--top must be a whole number of at least 1; got {args.top}.")
    return insight_project(args, "CLI audit", "audit")


def cmd_audit(args) -> int:
    from tlstudio.cli.curves import add_curves, curves_for
    from tlstudio.cli.progress import TerminalProgress
    from tlstudio.core.insight.curves import format_curves
    from tlstudio.core.insight.report import format_report, run_audit

    project = audit_project(args)
    bar = TerminalProgress(quiet=args.quiet or args.json)
    try:
        report = run_audit(project, task=bar.scan_task())
        curves = curves_for(project, task=bar.scan_task(), features=report.data) if args.curves else None
    finally:
        bar.close()
    if args.json:
        out = report.to_json(args.top, similar=args.similar)
        if curves is not None:
            add_curves(out, curves)
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_report(report, args.top or HUMAN_TOP, similar=args.similar))
        if curves is not None:
            print("\n" + format_curves(curves))
    return 0


def add_audit_parser(sub) -> None:
    from tlstudio.cli.curves import add_curves_option

    p = sub.add_parser("audit", help="find likely label errors, duplicates (and leaks across the split) and "
                                     "outliers in a dataset")
    p.add_argument("data", metavar="DATA", nargs="?", help="dataset folder or file (default: the project's)")
    p.add_argument("--project", metavar="FILE.json", help="audit a saved project (its model, split and curation)")
    p.add_argument("--model", metavar="NAME|FOLDER", help="model whose features are compared (default: the "
                                                           "project's, or the bundled one)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--top", type=int, metavar="K", help=f"list at most K of each finding (tables: {HUMAN_TOP})")
    add_curves_option(p)
    p.add_argument("--similar", action="store_true", help="also list samples only similar in feature space "
                                                          "(not verified as the same picture or text)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_audit)
