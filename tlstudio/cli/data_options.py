"""What a dataset is, on the command line: ``--task``, ``--encoding`` and ``--unlabeled-folder`` (scan, train,
audit, curves).

Without ``--task`` the kind of data is detected (``core.data.modality.detect``); when it cannot be
told, the one error line says what was found and how to choose.
"""
from __future__ import annotations

import argparse

from tlstudio.core.errors import DatasetError, UndecidedDataError

ENCODING_HELP = ("the encoding of a text table or file when it is not UTF-8 or UTF-16 with a byte-order mark "
                 "(e.g. cp1252, latin-1, shift_jis); never guessed")


def add_data_options(parser: argparse.ArgumentParser, what: str = "DATA") -> None:
    parser.add_argument("--task", choices=("image", "text"),
                        help=f"what {what} holds (default: detected; asked for when it cannot be told)")
    parser.add_argument("--encoding", metavar="NAME", help=ENCODING_HELP)
    parser.add_argument("--unlabeled-folder", metavar="NAME",
                        help="the folder beside the class folders whose images (or .txt files) are unlabeled: "
                             "the pool, never trained on (default: unlabeled; \"\" for none)")


def apply_data_options(args, data) -> None:
    """Put the options given (``--unlabeled-folder``) into the Project's ``data`` section."""
    if getattr(args, "unlabeled_folder", None) is not None:
        data.unlabeled_folder = args.unlabeled_folder.strip()


def detected_task(path, encoding: str | None = None) -> str:
    """The task of the data at ``path``; an undecidable one is an error naming ``--task``."""
    from tlstudio.core.project import detect_task

    try:
        return detect_task(path, encoding)
    except UndecidedDataError as exc:
        raise DatasetError(f"{exc.found}; say which with " + " or ".join(f"--task {c}" for c in exc.choices)
                           + ".") from None
