"""``tlstudio-cli curves``: how much more data, from learning curves on the frozen features.

    tlstudio-cli curves DATA|--project P.json [--model NAME] [--device D] [--json] [-q]

Prints the learning-curve table (accuracy and per-class recall at growing
fractions of the labelled data, out-of-fold) and plain sentences ("about N
more images of class X would raise its recall by ~Y points"). ``--json`` prints
``LearningCurves.to_dict()``. The features come from the feature cache when a
run (or an audit) already extracted them.

The seam for ``tlstudio-cli audit --curves``: ``add_curves_option(parser)``
adds the flag, ``curves_for(project, task)`` computes, and
``add_curves(report_json, curves)`` / ``format_curves`` put the result in the
audit's JSON (key ``learning_curves``) and text.
"""
from __future__ import annotations

import json
import sys

from tlstudio.cli.insight_project import add_insight_arguments, insight_project


def curves_project(args):
    """The Project to measure: --project (a DATA given overrides its data) or DATA with the defaults."""
    return insight_project(args, "CLI curves", "measure its learning curves")


def curves_for(project, job=None, features=None):
    """Learning curves of ``project``'s labelled train + validation samples (``features``: an already
    collected ``DatasetFeatures``, else collected through the cache)."""
    from tlstudio.core.insight.curves import dataset_curves
    from tlstudio.core.insight.features import collect_features

    data = features if features is not None else collect_features(project, job=job)
    return dataset_curves(data, seed=project.data.seed, job=job)


def add_curves(report: dict, curves) -> dict:
    """Put the curves into a JSON report (the audit's) under ``learning_curves``."""
    report["learning_curves"] = curves.to_dict()
    return report


def add_curves_option(parser) -> None:
    parser.add_argument("--curves", action="store_true",
                        help="also fit learning curves: how much more data would help, per class")


def cmd_curves(args) -> int:
    from tlstudio.cli.progress import TerminalProgress
    from tlstudio.core.insight.curves import format_curves

    project = curves_project(args)
    bar = TerminalProgress(quiet=args.quiet or args.json)
    try:
        curves = curves_for(project, job=bar.scan_job())
    finally:
        bar.close()
    if args.json:
        json.dump(curves.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_curves(curves))
    return 0


def add_curves_parser(sub) -> None:
    p = sub.add_parser("curves", help="learning curves: how much more data would help, and for which class")
    add_insight_arguments(p, "a saved project (its model, split and curation)")
    p.set_defaults(func=cmd_curves)
