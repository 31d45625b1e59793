"""The Project: a versioned JSON document, the single source of truth of a session.

GUI panels edit parts of it; the CLI runs a saved project headless. Loading is
strict about types (a wrong type is named) and lenient about unknown keys (a
file written by a slightly different build still opens).

What the project derives it derives here, once: the class count (from the
dataset's classes, ``adopt_classes``), a frozen set that fits the chosen model
(``choose_model`` starts a new model from its frozen base; ``adopt_frozen``
records what the loaded model really froze), the weights source as a typed
value parsed once, and the runs as typed records. The JSON is unchanged.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from tlstudio.core import atomic
from tlstudio.core.errors import HeadSpecError, ProjectError, TLStudioError
from tlstudio.core.model.head import MAX_CLASSES, HeadSpec
from tlstudio.core.data.transforms import AUGMENT_PRESETS
from tlstudio.core.train.choices import OPTIMIZERS, SCHEDULES
from tlstudio.core.zoo.cards import DEFAULT_MODEL
from tlstudio.core.zoo.sources import AUTO_SOURCE, WeightsSource

# The frozen set of a model nobody has edited yet: the whole pretrained base.
FROZEN_BASE = ("base",)

SCHEMA_VERSION = 1
MAX_JSON_DEPTH = 64          # a project file is about 4 levels deep; far deeper is damaged or hostile
MAX_SEED = 2 ** 63 - 1       # what torch, numpy (mod 2**32) and Python's random all accept
EARLY_STOPPING_METRICS = ("val_acc", "val_loss")
# Every number a user can set: (setting, low, high, whole number?, low excluded?, high excluded?).
# Project.validate checks them all, for the CLI, the GUI and project files alike.
NUMBER_LIMITS = (
    ("data.val_fraction", 0.0, 1.0, False, True, True),
    ("data.test_fraction", 0.0, 1.0, False, False, True),
    ("data.seed", 0, MAX_SEED, True, False, False),
    ("model.image_size", 16, 1024, True, False, False),
    ("training.epochs", 1, 100_000, True, False, False),
    ("training.batch_size", 1, 65_536, True, False, False),
    ("training.lr", 0.0, 10.0, False, True, False),
    ("training.weight_decay", 0.0, 10.0, False, False, False),
    ("training.label_smoothing", 0.0, 1.0, False, False, True),
    ("training.early_stopping_patience", 0, 100_000, True, False, False),
    ("training.seed", 0, MAX_SEED, True, False, False),
    ("training.cache_views", 1, 64, True, False, False),
    ("finetune.epochs", 0, 100_000, True, False, False),
    ("finetune.unfreeze_last", 0, 10_000, True, False, False),
    ("finetune.lr_multiplier", 0.0, 100.0, False, True, False),
)


def _check_number(label: str, value: Any, low, high, whole: bool, low_open: bool, high_open: bool) -> None:
    lo, hi = ("(" if low_open else "[") + f"{low}", f"{high}" + (")" if high_open else "]")
    kind = "a whole number" if whole else "a number"
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and whole:
        ok = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if ok:
        ok = math.isfinite(value) and (value > low if low_open else value >= low) \
            and (value < high if high_open else value <= high)
    if not ok:
        raise ProjectError(f"{label} must be {kind} in {lo}, {hi}; got {value!r}.")
AUTO_FIELDS = ("lr", "weight_decay", "epochs", "head")     # what the head search may choose
HEAD_FITS = ("search", "epochs")
# The values files written before ``training.auto`` existed had for each field by default.
_OLD_DEFAULTS = {"lr": 1e-3, "weight_decay": 1e-4, "epochs": 10}
TASKS = ("image", "text")     # what a Project classifies; core/data/modality.py maps each to its Modality


@dataclass
class DataSettings:
    path: str = ""
    val_fraction: float = 0.2
    test_fraction: float = 0.0
    seed: int = 0
    augment: str = "none"
    text_column: str | None = None     # text CSV/TSV/JSONL: the user's column choice (None: detected)
    label_column: str | None = None
    encoding: str | None = None        # a table's encoding when named (None: UTF-8, or UTF-16/32 by its BOM)
    # Curation (tlstudio.core.data.curation), by sample key (tlstudio.core.data.index.sample_key):
    # samples left out, and samples given another class. Never touches the data's files.
    exclusions: list[str] = field(default_factory=list)
    label_overrides: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        # written only when set or used: older files stay as they were
        for name in ("text_column", "label_column", "encoding", "exclusions", "label_overrides"):
            if not d[name]:
                del d[name]
        return d


@dataclass
class ModelSettings:
    name: str = DEFAULT_MODEL
    weights: WeightsSource = AUTO_SOURCE   # assigning its JSON string parses it, once
    image_size: int | None = None
    max_length: int | None = None          # text: tokens per text (None: the model's default)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "weights":
            try:
                value = WeightsSource.parse(value)
            except (TypeError, ValueError) as exc:
                raise ProjectError(f"Invalid weights source {value!r}: {exc}.") from None
        object.__setattr__(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "weights": self.weights.to_json(), "image_size": self.image_size}
        if self.max_length is not None:     # written only when set: image projects stay as they were
            d["max_length"] = self.max_length
        return d


@dataclass
class RunRecord:
    """One training run the project remembers (its folder holds everything else)."""

    run_dir: str
    name: str = ""
    finished: str = ""
    model: str = ""
    val_accuracy: float | None = None
    epochs_run: int | None = None
    cancelled: bool = False
    error: str | None = None                                   # written only for a failed run
    extra: dict[str, Any] = field(default_factory=dict)        # keys a newer build wrote, kept as they were

    @property
    def failed(self) -> bool:
        return bool(self.error)

    def label(self) -> str:
        """"run-3 · accuracy 91.0% (out-of-fold)", marked when the run failed or was stopped. The source is
        the run's ``accuracy_source`` (kept in ``extra``); an older record without one names none."""
        from tlstudio.core.runs.metric_names import accuracy_text

        name = self.name or Path(self.run_dir).name
        acc = self.val_accuracy
        source = self.extra.get("accuracy_source")
        text = f"{name} · accuracy {accuracy_text(acc, source)}" if isinstance(acc, (int, float)) else name
        if self.error:
            text += " (failed)"
        elif self.cancelled:
            text += " (stopped)"
        return text

    def to_dict(self) -> dict[str, Any]:
        d = {"run_dir": self.run_dir, "name": self.name, "finished": self.finished, "model": self.model,
             "val_accuracy": self.val_accuracy, "epochs_run": self.epochs_run, "cancelled": self.cancelled}
        if self.error is not None:
            d["error"] = self.error
        d.update(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: Any, where: str = "runs") -> "RunRecord":
        if not isinstance(d, dict):
            raise ProjectError(f"Invalid project file: '{where}' must be a list of objects.")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        record = _section_from_dict(cls, {k: v for k, v in d.items() if k in known}, where,
                                    defaults={"run_dir": ""})
        if not record.run_dir:
            raise ProjectError(f"Invalid project file: every entry of '{where}' needs a 'run_dir'.")
        record.extra = {k: v for k, v in d.items() if k not in known}
        return record


@dataclass
class TrainingSettings:
    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    label_smoothing: float = 0.0
    class_weighted: bool = False
    early_stopping_patience: int = 0        # 0 = off
    early_stopping_metric: str = "val_acc"
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True
    use_cache: bool = True
    cache_views: int = 1
    # How stage 1 fits the head on cached features (core/train/head_search.py): "search" fits it
    # automatically (k-fold CV, refit, temperature); "epochs" runs the plain epoch loop with the
    # values above. ``auto`` names the fields the search chooses (of lr, weight_decay, epochs,
    # head); a field not named is an explicit user value the search keeps. ``refit``: the final
    # head trains on train + validation (False keeps the validation split out of it).
    head_fit: str = "search"
    auto: list[str] = field(default_factory=lambda: list(AUTO_FIELDS))
    refit: bool = True

    def set_explicit(self, name: str) -> None:
        """The user chose ``name`` (lr, weight_decay, epochs or head): the search keeps it."""
        if name in self.auto:
            self.auto = [a for a in self.auto if a != name]

    def set_auto(self, name: str) -> None:
        """Leave ``name`` to the search again (undoes ``set_explicit``)."""
        if name in AUTO_FIELDS and name not in self.auto:
            self.auto = [a for a in AUTO_FIELDS if a in self.auto or a == name]


@dataclass
class FinetuneSettings:
    enabled: bool = False
    epochs: int = 5
    unfreeze_last: int = 2
    lr_multiplier: float = 0.1
    train_batchnorm: bool = False   # False: unfrozen BatchNorm keeps its running statistics


def _type_ok(value: Any, annotation: str) -> bool:
    """Check a JSON value against a field's (string) annotation."""
    optional = annotation.endswith("| None")
    base = annotation.replace("| None", "").strip()
    if value is None:
        return optional
    if base == "bool":
        return isinstance(value, bool)
    if base == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if base == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if base == "str":
        return isinstance(value, str)
    return True


def _section_from_dict(cls, data: Any, section: str, defaults: dict[str, Any] | None = None):
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ProjectError(f"Invalid project file: '{section}' must be an object, not {type(data).__name__}.")
    kwargs = dict(defaults or {})
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if str(f.type) == "WeightsSource":  # stored as its JSON string
            if not isinstance(value, str) or not value.strip():
                raise ProjectError(f"Invalid project file: '{section}.{f.name}' must be \"auto\", \"none\", "
                                   f"\"download\" or a file path, not {json.dumps(value)}.")
        elif not _type_ok(value, str(f.type)):
            raise ProjectError(f"Invalid project file: '{section}.{f.name}' must be {f.type}, "
                               f"not {json.dumps(value)}.")
        if str(f.type).startswith("float") and value is not None:
            value = float(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def _check_curation(data: DataSettings) -> None:
    """Exclusions must be a list of sample keys, label overrides an object of key -> class name."""
    if not isinstance(data.exclusions, list) or not all(isinstance(k, str) for k in data.exclusions):
        raise ProjectError("Invalid project file: 'data.exclusions' must be a list of sample keys (strings).")
    overrides = data.label_overrides
    if not isinstance(overrides, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                                  for k, v in overrides.items()):
        raise ProjectError("Invalid project file: 'data.label_overrides' must map sample keys to class names "
                           "(non-empty strings).")
    data.exclusions = list(data.exclusions)
    data.label_overrides = dict(overrides)


def _check_auto(training: TrainingSettings, data: Any, head_data: Any) -> None:
    """Validate ``auto``/``head_fit``; a file older than them leaves to the search only the fields
    still at the defaults of that time (a value that differs was the user's choice)."""
    if training.head_fit not in HEAD_FITS:
        raise ProjectError(f"Invalid project file: 'training.head_fit' must be one of {', '.join(HEAD_FITS)}, "
                           f"not {json.dumps(training.head_fit)}.")
    if isinstance(data, dict) and "auto" in data:
        auto = data["auto"]
        if not isinstance(auto, list) or not all(isinstance(a, str) and a in AUTO_FIELDS for a in auto):
            raise ProjectError(f"Invalid project file: 'training.auto' must list fields among "
                               f"{', '.join(AUTO_FIELDS)}, not {json.dumps(auto)}.")
        training.auto = list(auto)
        return
    if not isinstance(data, dict):
        return
    auto = [name for name, old in _OLD_DEFAULTS.items() if name not in data or data[name] == old]
    default_layers = HeadSpec.default().to_dict()["layers"]
    if head_data is None or (isinstance(head_data, dict) and head_data.get("layers", []) == default_layers):
        auto.append("head")
    training.auto = [a for a in AUTO_FIELDS if a in auto]

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
            _check_number(labels.get(setting, setting), value, low, high, whole, low_open, high_open)
        d, t = self.data, self.training
        if d.val_fraction + d.test_fraction >= 1:
            raise ProjectError(f"The validation and test fractions must leave training images: "
                               f"val {d.val_fraction} + test {d.test_fraction} is not below 1.")
        choices = (("data.augment", "augmentation", d.augment, AUGMENT_PRESETS),
                   ("training.optimizer", "optimizer", t.optimizer, OPTIMIZERS),
                   ("training.schedule", "schedule", t.schedule, SCHEDULES),
                   ("training.early_stopping_metric", "early-stopping metric", t.early_stopping_metric,
                    EARLY_STOPPING_METRICS))
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
        training = _section_from_dict(TrainingSettings, d.get("training"), "training")
        data = _section_from_dict(DataSettings, d.get("data"), "data")
        _check_curation(data)
        _check_auto(training, d.get("training"), head_data)
        return cls(
            name=name,
            task=task,
            data=data,
            model=_section_from_dict(ModelSettings, d.get("model"), "model"),
            frozen=list(frozen),
            head=head,
            training=training,
            finetune=_section_from_dict(FinetuneSettings, d.get("finetune"), "finetune"),
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
