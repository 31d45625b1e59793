"""The inputs a trained model predicts below a folder, named relative to it (modality-neutral parts).

``Modality.folder_inputs(folder, ...)`` yields one ``FolderInput`` per input in
a stable order; the walk (``walk_files``) is shared: sorted names, hidden files
and folders left out, links to folders not followed, and the files in
``exclude`` (the prediction file being written inside the folder) never listed.
It is a generator, so listing a folder of a million files holds one folder's
names at a time.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Iterator

from tlstudio.core.data.index import Sample
from tlstudio.core.errors import DatasetError


@dataclass(frozen=True)
class FolderInput:
    key: str                    # POSIX path relative to the folder ("sub/a.png", "notes/data.csv:12")
    sample: Sample | None       # what the modality's input_reader reads; None when ``error`` says why not
    error: str | None = None


def checked_folder(folder: str | os.PathLike) -> Path:
    """``folder`` as an absolute path; ``DatasetError`` when it is not a folder."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise DatasetError(f"'{folder}' is not a folder.")
    return Path(os.path.abspath(path))


def _same_file(path: str, excluded: Collection[str]) -> bool:
    return os.path.abspath(path) in excluded or os.path.realpath(path) in excluded


def walk_files(folder: str | os.PathLike, suffixes: Collection[str],
               exclude: Collection[str | os.PathLike] = ()) -> Iterator[tuple[str, str]]:
    """(absolute path, key) of every file below ``folder`` whose lower-case suffix is in ``suffixes``,
    ordered by key (a folder's files and sub-folders by name, depth first); hidden names and
    ``exclude`` left out; links to folders are not followed."""
    root = checked_folder(folder)
    excluded = {os.path.abspath(p) for p in exclude} | {os.path.realpath(p) for p in exclude}
    excluded_names = {os.path.basename(p) for p in excluded}

    def walk(path: str, prefix: str) -> Iterator[tuple[str, str]]:
        try:
            with os.scandir(path) as it:
                entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
        except OSError:
            return                                   # an unreadable sub-folder lists nothing
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield from walk(entry.path, f"{prefix}{entry.name}/")
            elif os.path.splitext(entry.name)[1].lower() in suffixes and \
                    not (entry.name in excluded_names and _same_file(entry.path, excluded)):
                yield entry.path, prefix + entry.name

    yield from walk(str(root), "")
