"""The Project that ``tlstudio-cli audit`` and ``curves`` look into (shared by both commands)."""
from __future__ import annotations

from pathlib import Path

from tlstudio.core.errors import DatasetError


def insight_project(args, name: str, verb: str):
    """The Project to look into (``audit``, ``curves``): --project (a DATA given overrides its data) or DATA
    with the defaults (the modality's default model); --task / --encoding / --model / --device applied."""
    from tlstudio.cli.data_options import apply_data_options, detected_task
    from tlstudio.core.data.modality import task_default_model
    from tlstudio.core.project import Project

    if args.project is None and args.data is None:
        raise DatasetError(f"Give a DATA folder or file, or --project FILE.json, to {verb}.")
    project = Project.load(args.project) if args.project else Project(name=name)
    if args.data is not None:
        if not Path(args.data).exists():
            raise DatasetError(f"The dataset '{args.data}' does not exist.")
        project.data.path = str(Path(args.data).absolute())
    if getattr(args, "encoding", None) is not None:
        project.data.encoding = args.encoding or None
    apply_data_options(args, project.data)
    if getattr(args, "task", None) is not None:
        project.task = args.task
    elif args.data is not None and not args.project:
        project.task = detected_task(project.data.path, project.data.encoding)
    if not project.data.path:
        raise DatasetError("The project has no dataset; pass DATA or set data.path in the project.")
    if args.model is not None:
        project.choose_model(args.model)
    else:
        project.model.name = task_default_model(project.task, project.model.name)
    if args.device is not None:
        project.training.device = args.device
    return project


def add_insight_arguments(parser, project_help: str) -> None:
    """DATA, --project, --model, --device, the data options, --json and --quiet: what ``insight_project`` reads."""
    from tlstudio.cli.data_options import add_data_options
    from tlstudio.core.device import DEVICE_CHOICES

    parser.add_argument("data", metavar="DATA", nargs="?", help="dataset folder or file (default: the project's)")
    parser.add_argument("--project", metavar="FILE.json", help=project_help)
    parser.add_argument("--model", metavar="NAME|FOLDER", help="model whose features are used (default: the "
                                                                "project's, or the bundled one)")
    parser.add_argument("--device", choices=DEVICE_CHOICES)
    add_data_options(parser)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress output")
