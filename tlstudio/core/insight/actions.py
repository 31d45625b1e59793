"""Acting on the audit: curation in the Project, and (only when asked) moving files on disk.

``exclude`` and ``relabel`` change only the Project (``data.exclusions`` and
``data.label_overrides``, applied by ``core.data.curation``); the data's files
are never touched. ``apply_to_disk`` is the explicit exception for a folder of
class folders of images: it moves each relabelled image into its new class's
folder, writes an undo record (JSON in the project's folder) and drops the
overrides that the folders now say. ``undo_apply`` moves the files back and
returns the overrides. Nothing is ever overwritten: a name already taken in
the new folder gets a suffix ("001.png" -> "001-1.png"). A labelled image of
the unlabeled pool moves from ``unlabeled/`` the same way; a class named only
in the project gets its folder (noted in the undo record, removed by undo
when empty). Both refuse, before
moving anything, when a path would leave the dataset folder or a file is
missing; undo also when a moved file changed since or its old place is
taken. Text datasets are never
rewritten: their corrections live in the project.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from tlstudio.core import atomic
from tlstudio.core.errors import DatasetError

UNDO_PREFIX = "audit-undo-"


def exclude(data, keys) -> int:
    """Add ``keys`` to the exclusions (kept in order, no repeats); returns how many were new."""
    added = [k for k in dict.fromkeys(keys) if k not in set(data.exclusions)]
    data.exclusions = list(data.exclusions) + added
    return len(added)


def include(data, keys) -> int:
    """Take ``keys`` out of the exclusions; returns how many were removed."""
    drop = set(keys)
    before = len(data.exclusions)
    data.exclusions = [k for k in data.exclusions if k not in drop]
    return before - len(data.exclusions)


def relabel(data, key: str, class_name: str | None, scanned: str | None = None) -> None:
    """Give sample ``key`` the class ``class_name``; None, or the class it was scanned with
    (``scanned``), removes the override."""
    overrides = dict(data.label_overrides)
    if class_name is None or class_name == scanned:
        overrides.pop(key, None)
    else:
        overrides[key] = str(class_name)
    data.label_overrides = overrides


@dataclass(frozen=True)
class Move:
    source: Path
    target: Path
    sha256: str
    key: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _inside(path: Path, root: Path) -> Path:
    resolved = path.resolve()
    try:
        resolved.relative_to(root)
    except ValueError:
        raise DatasetError(f"'{path}' is outside the dataset folder {root}; nothing was moved.") from None
    return resolved


def planned_moves(project) -> list[Move]:
    """The moves ``apply_to_disk`` would make (checked, nothing touched)."""
    from tlstudio.core.data.modality import modality_for

    if not modality_for(project.task).curation_on_disk:
        raise DatasetError("Text datasets are never changed on disk: the exclusions and label overrides stay "
                           "in the project and apply to every training and audit.")
    root = Path(project.data.path).expanduser()
    if not root.is_dir():
        raise DatasetError("Only a folder of class folders can be changed on disk; for a CSV dataset edit the CSV "
                           "(the overrides in the project already apply).")
    root = root.resolve()
    moves, targets = [], set()
    for key, class_name in project.data.label_overrides.items():
        source = _inside(root / key, root)
        class_dir = _inside(root / class_name, root)
        # A class named only in the project (a pool sample labelled with a new class) gets its folder.
        if class_dir.parent != root or (class_dir.exists() and not class_dir.is_dir()):
            raise DatasetError(f"'{class_name}' cannot be a class folder in {root}; nothing was moved.")
        if source.parent == class_dir:
            continue                      # already there
        if not source.is_file():
            raise DatasetError(f"'{key}' is not in the dataset folder any more; nothing was moved.")
        target = class_dir / source.name
        n = 1
        while target.exists() or target in targets:       # never overwrite: "001.png" -> "001-1.png"
            target = class_dir / f"{source.stem}-{n}{source.suffix}"
            n += 1
        targets.add(target)
        moves.append(Move(source, target, _sha256(source), key))
    return moves


def _undo_dir(project_path) -> Path:
    if project_path is None:
        raise DatasetError("Save the project first: the undo record of a change on disk is kept beside it.")
    return Path(project_path).absolute().parent


def apply_to_disk(project, project_path) -> Path:
    """Move the relabelled images into their new class folders; returns the undo record's path.

    The moved samples' overrides are removed from ``project`` (their folder now gives the class);
    the caller saves the project.
    """
    moves = planned_moves(project)
    if not moves:
        raise DatasetError("No relabelled image needs moving.")
    folder = _undo_dir(project_path)
    record = folder / f"{UNDO_PREFIX}{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.json"
    root = Path(project.data.path).resolve()
    new_dirs = sorted({m.target.parent for m in moves if not m.target.parent.is_dir()})
    entry = {"dataset": str(root), "created": time.time(),
             "moves": [{"from": m.source.relative_to(root).as_posix(), "to": m.target.relative_to(root).as_posix(),
                        "sha256": m.sha256} for m in moves],
             "overrides": {m.key: project.data.label_overrides[m.key] for m in moves},
             "new_folders": [d.relative_to(root).as_posix() for d in new_dirs]}
    atomic.write_json(record, entry)          # first: a crash mid-way still leaves the record to undo with
    done = []
    try:
        for folder_path in new_dirs:
            folder_path.mkdir()
        for m in moves:
            if m.target.exists():
                raise DatasetError(f"'{m.target}' appeared meanwhile; TL Studio never overwrites a file.")
            os.rename(m.source, m.target)
            done.append(m)
    except (OSError, DatasetError):
        for m in reversed(done):              # put back what was moved, then report
            os.rename(m.target, m.source)
        _remove_empty(new_dirs)
        record.unlink(missing_ok=True)
        raise
    overrides = dict(project.data.label_overrides)
    for m in moves:
        overrides.pop(m.key, None)
    project.data.label_overrides = overrides
    return record


def latest_undo_record(project_path) -> Path | None:
    """The newest undo record beside the project, or None."""
    if project_path is None:
        return None
    records = sorted(_undo_dir(project_path).glob(f"{UNDO_PREFIX}*.json"), key=lambda p: p.stat().st_mtime)
    return records[-1] if records else None


def undo_apply(record_path) -> dict[str, str]:
    """Move the files of an undo record back; returns the label overrides to restore.

    Refuses (moving nothing) when a moved file changed or is gone, or its old place is taken.
    The record is deleted once everything is back.
    """
    record_path = Path(record_path)
    try:
        entry = json.loads(record_path.read_text(encoding="utf-8"))
        root = Path(entry["dataset"]).resolve()
        moves = [(root / m["from"], root / m["to"], str(m["sha256"])) for m in entry["moves"]]
        overrides = {str(k): str(v) for k, v in entry.get("overrides", {}).items()}
        new_dirs = [_inside(root / d, root) for d in entry.get("new_folders", [])]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"Cannot read the undo record {record_path.name}: {exc}.") from None
    for source, target, digest in moves:
        _inside(source, root)
        _inside(target, root)
        if not target.is_file() or _sha256(target) != digest:
            raise DatasetError(f"'{target}' is gone or changed since it was moved; nothing was undone.")
        if source.exists():
            raise DatasetError(f"'{source}' exists again; TL Studio never overwrites a file, nothing was undone.")
    for source, target, _ in moves:
        os.rename(target, source)
    _remove_empty(new_dirs)
    record_path.unlink()
    return overrides


def _remove_empty(folders) -> None:
    """Remove the class folders an apply created, when nothing else was put in them meanwhile."""
    for folder_path in folders:
        try:
            folder_path.rmdir()
        except OSError:
            pass                              # not empty (or gone): the user's files stay
