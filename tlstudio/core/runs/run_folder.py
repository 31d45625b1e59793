"""RunFolder: the one owner of a run folder's layout (torch-free).

Every file a training writes into a run folder is named here, and only here:
the trainer, checkpoints, evaluation, export, the CLI and the GUI ask a
``RunFolder`` for a file's path or contents instead of spelling its name.
Whether a folder may take a run (``claim``, under its lock), what state it is
in (``status``), where an unfinished run stopped (``interruption``), whether
its final head trained on the validation split (``head_trained_on_val``) and
which settings a resume must use (``resume_project``) are answered here too.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from tlstudio.core import atomic
from tlstudio.core.errors import RunFolderError, TLStudioError, TrainingError
from tlstudio.core.headsearch.curves import SearchCurves
from tlstudio.core.runs.lock import LOCK_NAME, RunLock

from tlstudio.core.runs.run_files import (BEST, FILES, FOLDERS, HELDOUT, HISTORY, LAST, METRICS, MODEL,  # noqa: F401
                                         PROJECT, SEARCH, SEARCH_CURVES, SPLIT, STATE, TEXT_MODEL)


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    """An optional JSON file of a run or bundle; ``default`` when absent, RunFolderError when unreadable."""
    path = Path(path)
    if not path.is_file():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFolderError(f"Cannot read {path.name} in {path.parent}: {exc}.") from None


class RunFolder:
    """One run folder (which need not exist yet)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __fspath__(self) -> str:
        return str(self.path)

    def file(self, name: str) -> Path:
        return self.path / name

    # -- state and claims -------------------------------------------------------------
    def lock(self) -> RunLock:
        return RunLock(self.path)

    def status(self, lock_held_here: bool = False):
        from tlstudio.core.runs import status

        return status.describe(self.path, lock_held_here)

    def write_state(self, state: str, message: str | None = None) -> None:
        from tlstudio.core.runs import status

        status.write_state(self.path, state, message)

    def check_target(self, resume: bool, lock_held_here: bool = False):
        """Whether a training may write here; RunFolderError with the reason (and the way on) when not."""
        from tlstudio.core.runs import status

        return status.check_target(self.path, resume, lock_held_here, stopped_at=self.stopped_at())

    def claim(self, resume: bool) -> bool:
        """Under the lock (held by the caller): check the folder; True when a resume point is to be used.

        A new run clears an incomplete run's own files (and nothing else) first.
        """
        from tlstudio.core.runs import status

        found = self.check_target(resume, lock_held_here=True)
        if resume and self.file(LAST).is_file():
            return True
        if found.incomplete and not found.reusable:
            raise TrainingError(f"Cannot start over in {self.path}: it also holds files that are not "
                                "TL Studio's; choose a new run folder.")
        status.clear_run_files(self.path)
        return False

    # -- reads ----------------------------------------------------------------------------
    def read(self, name: str, default: Any = None) -> Any:
        return read_json(self.file(name), default)

    def project_dict(self) -> dict | None:
        data = self.read(PROJECT)
        return data if isinstance(data, dict) else None

    def metrics(self) -> dict:
        data = self.read(METRICS, {})
        return data if isinstance(data, dict) else {}

    def history(self) -> list:
        data = self.read(HISTORY, [])
        return data if isinstance(data, list) else []

    def split_rows(self) -> dict | None:
        data = self.read(SPLIT)
        return data if isinstance(data, dict) else None

    def has_checkpoint(self) -> bool:
        """Weights to load: best.safetensors with its model.json."""
        return self.file(BEST).is_file() and self.file(MODEL).is_file()

    def stopped_at(self) -> tuple[int, int] | None:
        """(stage, epoch) of the last epoch recorded in history.json, or None."""
        try:
            history = self.history()
        except RunFolderError:
            return None
        last = history[-1] if history and isinstance(history[-1], dict) else None
        if not last or not isinstance(last.get("epoch"), int):
            return None
        return int(last.get("stage") or 1), int(last["epoch"])

    def interruption(self) -> str | None:
        """"run interrupted at epoch N" (or stopped, failed, still training) for an unfinished run; None
        for a finished run or a folder without a run state (an exported bundle)."""
        from tlstudio.core.runs import status as st

        if not self.file(STATE).is_file():
            return None
        found = self.status()
        if found.status == st.COMPLETE:
            return None
        at = self.stopped_at()
        where = "before its first epoch ended" if at is None else \
            f"at epoch {at[1]}" + (" of fine-tuning" if at[0] == 2 else "")
        word = {st.INTERRUPTED: "interrupted", st.CANCELLED: "stopped", st.FAILED: "failed",
                st.RUNNING: "still training, last saved"}.get(found.status, found.status)
        return f"run {word} {where}"

    def head_trained_on_val(self) -> bool:
        """Whether the final head trained on the validation split (refit after the head search).

        Asked of every record that says so, so one deleted or emptied file does not turn the
        validation split into "untouched" data.
        """
        for name in (SEARCH, METRICS):
            try:
                data = self.read(name)
            except RunFolderError:
                data = None
            if isinstance(data, dict) and data.get("refit"):
                return True
        try:
            info = self.read(MODEL)
        except RunFolderError:
            info = None
        return isinstance(info, dict) and "val" in (info.get("trained_on") or [])

    # -- writes -----------------------------------------------------------------------------
    def write(self, name: str, data: Any) -> None:
        atomic.write_json(self.file(name), data)

    # -- resume -------------------------------------------------------------------------------
    def resume_project(self, project):
        """The Project a resume runs: ``project`` with the run's own head when the search chose it.

        The training numbers given now (more epochs, another device) apply; another model, image
        size, weights, task, frozen set or (for a head not chosen by the search) head is refused,
        files untouched.
        """
        import copy

        from tlstudio.core.errors import ProjectError
        from tlstudio.core.project import Project

        snap = self.project_dict() if self.file(LAST).is_file() else None
        if snap is None:
            return project
        try:
            saved = Project.from_dict(snap)
        except ProjectError as exc:
            raise RunFolderError(f"Cannot resume: the run's {PROJECT} in {self.path} is invalid ({exc}).") from None
        changes = [what for what, was, now in (
            ("model", saved.model.name, project.model.name),
            ("image size", saved.model.image_size, project.model.image_size),
            ("weights", saved.model.weights, project.model.weights),
            ("task", saved.task, project.task), ("frozen layers", saved.frozen, project.frozen)) if was != now]
        searched = "search_chose" in snap
        if not searched and saved.head.to_dict() != project.head.to_dict():
            changes.append("head")
        if changes:
            raise TrainingError(f"Cannot resume: the {', '.join(changes)} differ from the run in {self.path}; "
                                "resume with the run's own settings or start a new run.")
        if not searched:
            return project
        resumed = copy.deepcopy(project)
        resumed.head = saved.head            # the head the run's search chose, not today's default
        return resumed

    def check_model_info(self, info: dict) -> None:
        """The model a resume builds must be the one model.json describes."""
        old = self.read(MODEL)
        if not isinstance(old, dict):
            return
        changes = [what for key, what in (("model_name", "model"), ("preprocessing", "image size / preprocessing"),
                                          ("head", "head"), ("classes", "classes"), ("task", "task"))
                   if key in old and old[key] != info[key]]
        if changes:
            raise TrainingError(f"Cannot resume: the {', '.join(changes)} differ from the run in {self.path}; "
                                "resume with the run's own settings or start a new run.")


def check_temperature(value: Any) -> bool:
    """A usable calibration temperature: a finite number above zero."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def read_run_curves(run_dir) -> SearchCurves | list[dict] | None:
    """What a run folder's charts show: its epoch history (epoch loop, fine-tuning) when it has one,
    else its head search's curves; None when it has neither."""
    folder = RunFolder(run_dir)
    try:
        history = folder.read(HISTORY, [])
        saved = folder.read(SEARCH_CURVES, None)
    except TLStudioError:
        return None
    if isinstance(history, list) and history and all(isinstance(h, dict) for h in history):
        return history
    curves = SearchCurves.from_dict(saved) if saved is not None else None
    return curves if curves is not None and not curves.is_empty() else None
