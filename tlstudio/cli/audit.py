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

from tlstudio.cli.data_options import add_data_options
from tlstudio.cli.insight_project import insight_project
from tlstudio.core.device import DEVICE_CHOICES
from tlstudio.core.errors import ProjectError

HUMAN_TOP = 10


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
        report = run_audit(project, job=bar.scan_job())
        curves = curves_for(project, job=bar.scan_job(), features=report.data) if args.curves else None
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
    p.add_argument("--device", choices=DEVICE_CHOICES)
    p.add_argument("--top", type=int, metavar="K", help=f"list at most K of each finding (tables: {HUMAN_TOP})")
    add_curves_option(p)
    add_data_options(p)
    p.add_argument("--similar", action="store_true", help="also list samples only similar in feature space "
                                                          "(not verified as the same picture or text)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_audit)
