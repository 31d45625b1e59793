"""The Project: a versioned JSON document, the single source of truth of a session.

GUI panels edit parts of it; the CLI runs a saved project headless. Loading is
strict about types (a wrong type is named) and lenient about unknown keys (a
file written by a slightly different build still opens).

What the project derives it derives here, once: the class count (from the
dataset's classes, ``adopt_classes``), a frozen set that fits the chosen model
(``choose_model`` starts a new model from its frozen base; ``adopt_frozen``
records what the loaded model really froze), the weights source as a typed
value parsed once, and the runs as typed records. The JSON is unchanged.

The sections (settings dataclasses, number limits, reading a section) are in ``project_sections.py``.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from tlstudio.core import atomic
from tlstudio.core.errors import HeadSpecError, ProjectError, TLStudioError
from tlstudio.core.model.head import MAX_CLASSES, HeadSpec
from tlstudio.core.data.transforms import AUGMENT_PRESETS
from tlstudio.core.train.choices import OPTIMIZERS, SCHEDULES
from tlstudio.core.zoo.sources import AUTO_SOURCE, WeightsSource
from tlstudio.core.data.label_sets import TASK_TYPES
from tlstudio.core.project_sections import (EARLY_STOPPING_METRICS, FEW_SHOT_MODES, FROZEN_BASE, MAX_JSON_DEPTH,
                                            NUMBER_LIMITS,
                                            SCHEMA_VERSION, TASKS, DataSettings, FinetuneSettings, ModelSettings,
                                            RunRecord, TrainingSettings, check_auto, check_curation,
                                            check_number, section_from_dict)


def detect_task(data_path: str | os.PathLike | None, encoding: str | None = None) -> str:
    """The task of the data at ``data_path`` (``core.data.modality.detect``); "image" when none is set.
    Raises DatasetError when it is missing or cannot be told (``UndecidedDataError``)."""
    if not data_path:
        return "image"
    from tlstudio.core.data.modality import detect

    return detect(data_path, encoding=encoding)


def _data_path(d: dict) -> str | None:
    data = d.get("data")
    path = data.get("path") if isinstance(data, dict) else None
    return path if isinstance(path, str) else None


@dataclass
class Project:
    name: str = "Untitled"
    task: str = "image"
    data: DataSettings = field(default_factory=DataSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    frozen: list[str] = field(default_factory=lambda: list(FROZEN_BASE))
    head: HeadSpec = field(default_factory=HeadSpec.default)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    finetune: FinetuneSettings = field(default_factory=FinetuneSettings)
    runs: list[RunRecord] = field(default_factory=list)

    # -- derived state ----------------------------------------------------------
    @property
    def num_classes(self) -> int:
        """The class count the head is built for (kept in the head spec, set from the data)."""
        return self.head.num_classes

    def adopt_classes(self, classes: Sequence[str]) -> bool:
        """Take the class count from a dataset's classes; True when it changed.

        Fewer than two classes cannot train a classifier, so they leave the count alone.
        """
        n = len(classes)
        if n < 2 or n == self.head.num_classes:
            return False
        self.head.num_classes = n
        return True

    def choose_model(self, name: str, weights: WeightsSource | str = AUTO_SOURCE) -> bool:
        """Switch to another network or weights source; True when anything changed.

        The frozen set names layers of one network, so a different network
        starts from its frozen base instead of keeping names it does not have.
        """
        source = WeightsSource.parse(weights)
        if name == self.model.name and source == self.model.weights:
            return False
        if name != self.model.name:
            self.frozen = list(FROZEN_BASE)
        self.model.name = name
        self.model.weights = source
        return True

    def adopt_frozen(self, frozen: Iterable[str]) -> bool:
        """Record the frozen set the loaded model really has; True when it differs from the saved one."""
        frozen = list(frozen)
        if frozen == self.frozen:
            return False
        self.frozen = frozen
        return True

    def epoch_lr(self) -> float:
        """The head's learning rate in the epoch loop: ``training.lr``, except that an lr left to the
        defaults (in ``training.auto``, still the stored default) is the modality's ``default_lr``
        (text heads learn faster). The head search chooses its own lr when lr is left to it."""
        from tlstudio.core.data.modality import modality_for

        t = self.training
        if "lr" in t.auto and t.lr == TrainingSettings.lr:
            return modality_for(self.task).default_lr
        return t.lr

    def detect_task(self) -> str:
        """Set the task from the data (text or image) and return it (DatasetError when it cannot be told)."""
        self.task = detect_task(self.data.path, self.data.encoding)
        return self.task

    def add_run(self, run_dir: str, info: dict[str, Any] | None = None) -> RunRecord:
        """Remember a run; ``info`` holds the record's other fields (unknown keys are kept)."""
        record = RunRecord.from_dict({**(info or {}), "run_dir": str(run_dir)})
        self.runs.append(record)
        return record

    # -- validation ---------------------------------------------------------
    def validate(self, labels: dict[str, str] | None = None) -> None:
        """Check every user-given setting against its sane range; ProjectError names the first bad one.

        ``labels`` maps a setting ("training.lr") to the name the user typed it
        under (the CLI passes "--lr"); by default the setting's own name is used.
        """
        labels = labels or {}
        for setting, low, high, whole, low_open, high_open in NUMBER_LIMITS:
            section, key = setting.split(".")
            value = getattr(getattr(self, section), key)
            if value is None and setting == "model.image_size":
                continue        # the model's own input size
            check_number(labels.get(setting, setting), value, low, high, whole, low_open, high_open)
        d, t = self.data, self.training
        if d.val_fraction + d.test_fraction >= 1:
            raise ProjectError(f"The validation and test fractions must leave training images: "
                               f"val {d.val_fraction} + test {d.test_fraction} is not below 1.")
        choices = (("data.augment", "augmentation", d.augment, AUGMENT_PRESETS),
                   ("training.optimizer", "optimizer", t.optimizer, OPTIMIZERS),
                   ("training.schedule", "schedule", t.schedule, SCHEDULES),
                   ("training.early_stopping_metric", "early-stopping metric", t.early_stopping_metric,
                    EARLY_STOPPING_METRICS), ("data.task_type", "task type", d.task_type, TASK_TYPES),
                   ("training.few_shot", "few-label mode", t.few_shot, FEW_SHOT_MODES))
        for setting, what, value, allowed in choices:
            if value not in allowed:
                raise ProjectError(f"Unknown {what} {value!r} ({labels.get(setting, setting)}); "
                                   f"use one of {', '.join(allowed)}.")
        if not 2 <= self.head.num_classes <= MAX_CLASSES:
            raise ProjectError(f"head.num_classes must be a whole number in [2, {MAX_CLASSES}]; "
                               f"got {self.head.num_classes}.")
        try:
            self.head.validate()
        except HeadSpecError as exc:
            raise ProjectError(f"Invalid head: {exc}") from None

    # -- serialisation ------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "version": SCHEMA_VERSION,
            "name": self.name,
            "task": self.task,
            "data": self.data.to_dict(),
            "model": self.model.to_dict(),
            "frozen": list(self.frozen),
            "head": self.head.to_dict(),
            "training": dataclasses.asdict(self.training),
            "finetune": dataclasses.asdict(self.finetune),
            "runs": [r.to_dict() for r in self.runs],
        }

    @classmethod
    def from_dict(cls, d: Any) -> "Project":
        if not isinstance(d, dict):
            raise ProjectError("Invalid project file: the top level must be a JSON object.")
        version = d.get("version", SCHEMA_VERSION)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ProjectError(f"Invalid project file: 'version' must be a positive whole number, "
                               f"not {json.dumps(version)}.")
        if version > SCHEMA_VERSION:
            raise ProjectError(f"This project was saved by a newer TL Studio (schema {version}); "
                               f"this version reads schema {SCHEMA_VERSION}.")
        name = d.get("name", "Untitled")
        if not isinstance(name, str):
            raise ProjectError(f"Invalid project file: 'name' must be a string, not {json.dumps(name)}.")
        task = d.get("task")
        if task is None:        # not set: what the data is (older files, all image projects, keep "image")
            try:
                task = detect_task(_data_path(d))
            except TLStudioError:
                task = "image"
        if task not in TASKS:
            raise ProjectError(f"Invalid project file: 'task' must be one of {', '.join(TASKS)}, "
                               f"not {json.dumps(task)}.")
        frozen = d.get("frozen", ["base"])
        if not isinstance(frozen, list) or not all(isinstance(x, str) for x in frozen):
            raise ProjectError("Invalid project file: 'frozen' must be a list of module names.")
        runs = d.get("runs", [])
        if not isinstance(runs, list):
            raise ProjectError("Invalid project file: 'runs' must be a list of objects.")
        head_data = d.get("head")
        try:
            head = HeadSpec.default() if head_data is None else HeadSpec.from_dict(head_data)
            head.validate()
        except (HeadSpecError, TypeError, ValueError) as exc:
            raise ProjectError(f"Invalid project file: bad 'head': {exc}") from exc
        training = section_from_dict(TrainingSettings, d.get("training"), "training")
        data = section_from_dict(DataSettings, d.get("data"), "data", {"task_type": "single"})
        check_curation(data)
        check_auto(training, d.get("training"), head_data)
        return cls(
            name=name,
            task=task,
            data=data,
            model=section_from_dict(ModelSettings, d.get("model"), "model"),
            frozen=list(frozen),
            head=head,
            training=training,
            finetune=section_from_dict(FinetuneSettings, d.get("finetune"), "finetune"),
            runs=[RunRecord.from_dict(r) for r in runs],
        )

    # -- files ----------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write atomically; a data folder inside the project's folder is stored relative."""
        path = Path(path).absolute()
        d = self.to_dict()
        data_path = d["data"]["path"]
        if data_path and os.path.isabs(data_path):
            try:
                rel = Path(data_path).resolve().relative_to(path.parent.resolve())
                d["data"]["path"] = rel.as_posix()
            except ValueError:
                pass  # outside the project folder: keep the absolute path
        atomic.write_json(path, d)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Project":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")     # a byte-order mark (Notepad's UTF-8) is fine
        except FileNotFoundError:
            raise ProjectError(f"Project file not found: {path}.") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ProjectError(f"Cannot read project file {path}: {exc}.") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProjectError(f"Invalid project file {path.name}: not valid JSON "
                               f"({exc.msg} at line {exc.lineno}, column {exc.colno}).") from None
        except RecursionError:
            data = _TOO_DEEP
        if data is _TOO_DEEP or _depth(data) > MAX_JSON_DEPTH:
            raise ProjectError(f"Invalid project file {path.name}: nested more than {MAX_JSON_DEPTH} "
                               "levels deep; this is not a TL Studio project.")
        project = cls.from_dict(data)
        if project.data.path and not os.path.isabs(project.data.path):
            project.data.path = str((path.absolute().parent / project.data.path).resolve())
        return project


_TOO_DEEP = object()


def _depth(value: Any, limit: int = MAX_JSON_DEPTH + 1) -> int:
    """How deeply ``value`` nests lists and objects (counting stops past ``limit``), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if not isinstance(item, (dict, list)):
            continue
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest
