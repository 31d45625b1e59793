"""What state a run folder is in: complete, cancelled, failed, interrupted, running.

The trainer records its progress in ``run_state.json`` (written atomically):
``running`` when it starts writing the folder, then ``complete``,
``cancelled`` or ``failed`` as its very last write. A process killed before
that leaves ``running`` behind with nobody holding the folder's lock
(``core/runs/lock.py``): that run was *interrupted*. Only ``complete`` means
the folder's files belong to one finished run; a kill between writing
``best.safetensors`` and ``last.pt`` therefore never looks complete.

``describe`` also tells a folder of TL Studio's own from anyone else's files:
``reusable`` is True only for an incomplete run whose every file is one the
trainer writes, so ``--out`` may clear it (those files only) and start over.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tlstudio.core import atomic
from tlstudio.core.runs.lock import LOCK_NAME, is_locked
from tlstudio.core.runs.run_files import FILES as RUN_FILES
from tlstudio.core.runs.run_files import FOLDERS as RUN_FOLDERS
from tlstudio.core.runs.run_files import LAST
from tlstudio.core.runs.run_files import STATE as STATE_NAME

RUNNING, COMPLETE, CANCELLED, FAILED = "running", "complete", "cancelled", "failed"
INTERRUPTED = "interrupted"      # "running" on disk, but no process holds the lock
EMPTY, FOREIGN = "empty", "foreign"
WRITTEN_STATES = (RUNNING, COMPLETE, CANCELLED, FAILED)
_TEMP = re.compile(r"^\.(.+)\.[0-9a-f]{8}\.tmp$")


def write_state(run_dir: str | os.PathLike, status: str, message: str | None = None) -> None:
    if status not in WRITTEN_STATES:
        raise ValueError(f"unknown run status {status!r}")
    data = {"status": status, "updated": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if message:
        data["message"] = message
    atomic.write_json(Path(run_dir) / STATE_NAME, data)


def read_state(run_dir: str | os.PathLike) -> dict | None:
    """run_state.json's contents, or None when it is missing or unreadable."""
    path = Path(run_dir) / STATE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("status") in WRITTEN_STATES else None


def _is_run_file(name: str) -> bool:
    m = _TEMP.match(name)
    return (m.group(1) if m else name) in RUN_FILES


def _is_own_entry(path: Path) -> bool:
    """A file the trainer writes, or its tokenizer folder holding plain files only."""
    if path.is_symlink():
        return False
    if path.name in RUN_FOLDERS and path.is_dir():
        return all(child.is_file() and not child.is_symlink() for child in path.iterdir())
    return _is_run_file(path.name) and path.is_file()


@dataclass(frozen=True)
class RunStatus:
    status: str                  # complete / cancelled / failed / interrupted / running / empty / foreign
    message: str = ""
    resumable: bool = False      # a last.pt to continue from
    reusable: bool = False       # --out may clear it: an incomplete run made only of the trainer's files,
    #                              with no resume point to lose

    @property
    def incomplete(self) -> bool:
        return self.status in (CANCELLED, FAILED, INTERRUPTED)

    def sentence(self, run_dir: str | os.PathLike) -> str:
        name = Path(run_dir)
        return {
            COMPLETE: f"{name} holds a finished run.",
            CANCELLED: f"{name} holds a run that was stopped before it finished.",
            FAILED: f"{name} holds a run that failed" + (f" ({self.message})" if self.message else "") + ".",
            INTERRUPTED: f"{name} holds a run that was interrupted (its process ended before the run finished).",
            RUNNING: f"{name} holds a run that is being trained now.",
            EMPTY: f"{name} is empty.",
            FOREIGN: f"{name} holds files that are not a TL Studio run.",
        }[self.status]


def describe(run_dir: str | os.PathLike, lock_held_here: bool = False) -> RunStatus:
    """The state of ``run_dir`` (which need not exist).

    ``lock_held_here``: the caller holds the folder's lock itself (a trainer
    about to write), so a "running" left on disk is an earlier, interrupted run.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return RunStatus(EMPTY) if not run_dir.exists() else RunStatus(FOREIGN)
    names = [p.name for p in run_dir.iterdir()]
    if not [n for n in names if n != LOCK_NAME]:
        return RunStatus(EMPTY)
    own = all(_is_own_entry(run_dir / n) for n in names)
    state = read_state(run_dir)
    if state is None:
        return RunStatus(FOREIGN)
    status = state["status"]
    if status == RUNNING and (lock_held_here or not is_locked(run_dir)):
        status = INTERRUPTED
    resumable = status in (CANCELLED, FAILED, INTERRUPTED) and (run_dir / LAST).is_file()
    reusable = own and status in (CANCELLED, FAILED, INTERRUPTED) and not resumable
    return RunStatus(status, str(state.get("message") or ""), resumable, reusable)


def clear_run_files(run_dir: str | os.PathLike) -> None:
    """Delete an incomplete run's own files (and nothing else) so the folder can take a new run."""
    run_dir = Path(run_dir)
    for path in run_dir.iterdir():
        if path.name == LOCK_NAME or not _is_own_entry(path):
            continue
        if path.is_dir():
            for child in path.iterdir():
                child.unlink()
            path.rmdir()
        else:
            path.unlink()


def check_target(run_dir: str | os.PathLike, resume: bool, lock_held_here: bool = False,
                 stopped_at: tuple[int, int] | None = None) -> RunStatus:
    """Whether a training may write to ``run_dir``; RunFolderError with the reason when not.

    A new run takes an empty (or missing) folder, or one holding only an
    incomplete run of TL Studio's own (the caller clears it with
    ``clear_run_files``) with no resume point: one with a ``last.pt`` is never
    thrown away by a new run, the message says how to resume it. ``resume``
    takes an incomplete run (cancelled, failed or interrupted); one without a
    ``last.pt`` starts over. ``stopped_at`` (stage, epoch) names where it stopped.
    """
    from tlstudio.core.errors import RunFolderError

    run_dir = Path(run_dir)
    found = describe(run_dir, lock_held_here)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunFolderError(f"The run folder {run_dir} is a file, not a folder; choose another --out.")
    if found.status == RUNNING or (not lock_held_here and found.status == EMPTY and is_locked(run_dir)):
        raise RunFolderError(f"Another training is writing to {run_dir}; wait for it to end or choose another "
                             "run folder.")
    if resume:
        if found.status == EMPTY:
            raise RunFolderError(f"Nothing to resume: {run_dir} holds no run.")
        if found.status == COMPLETE:
            raise RunFolderError(f"Nothing to resume: {found.sentence(run_dir)} Start a new run instead.")
        if found.status == FOREIGN:
            raise RunFolderError(f"Cannot resume: {found.sentence(run_dir)}")
        return found
    if found.status == EMPTY or found.reusable:
        return found
    if found.resumable:
        where = f" at epoch {stopped_at[1]}" + (" of fine-tuning" if stopped_at[0] == 2 else "") if stopped_at else ""
        raise RunFolderError(f"{run_dir} holds a run that stopped{where} before it finished ({found.status}); "
                             "pass --resume to continue it, or choose a new --out.")
    hint = " or pass --resume to continue it" if found.incomplete else ""
    raise RunFolderError(f"The run folder {run_dir} already exists and is not empty: {found.sentence(run_dir)} "
                         f"Choose a new --out{hint}.")
