"""The sections of a Project: its settings (data, model, training, fine-tuning), its runs' records,
the limits of every number a user can set, and reading one section from a project file's JSON.

``core/project.py`` holds the Project itself (load, save, validate, what it derives).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tlstudio.core.data.index import DEFAULT_UNLABELED_FOLDER
from tlstudio.core.errors import ProjectError
from tlstudio.core.model.head import HeadSpec
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


def check_number(label: str, value: Any, low, high, whole: bool, low_open: bool, high_open: bool) -> None:
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
# What a run does to the base before the head when labels are few (core/train/few_label_stage.py): "auto"
# asks the modality (text: contrastive tuning with <= 32 labels per class), or the user's choice.
FEW_SHOT_MODES = ("auto", "contrastive", "off")
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
    # One label per sample ("single"), a label set ("multilabel"), or "auto": multi-label when a row
    # carries several (core.data.label_sets). A file without it is "single" (Project.from_dict).
    task_type: str = "auto"
    # Curation (tlstudio.core.data.curation), by sample key (tlstudio.core.data.index.sample_key):
    # samples left out, and samples given another class. Never touches the data's files.
    exclusions: list[str] = field(default_factory=list)
    label_overrides: dict[str, str] = field(default_factory=dict)   # also: labels given to pool samples
    # The folder beside the class folders whose files are the unlabeled pool ("" for none).
    unlabeled_folder: str = DEFAULT_UNLABELED_FOLDER
    # Zero-shot (tlstudio.core.zeroshot): a one-line description per class name, embedded with it;
    # suggested labels for pool samples by key ({label, confidence, source}), stored only after the
    # user confirmed: suggestions, never labels.
    class_descriptions: dict[str, str] = field(default_factory=dict)
    suggestions: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        # written only when set or used: older files stay as they were
        for name in ("text_column", "label_column", "encoding", "exclusions", "label_overrides",
                     "class_descriptions", "suggestions"):
            if not d[name]:
                del d[name]
        if d["task_type"] == "single":      # what a file without the key means
            del d["task_type"]
        if d["unlabeled_folder"] == DEFAULT_UNLABELED_FOLDER:
            del d["unlabeled_folder"]
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
        record = section_from_dict(cls, {k: v for k, v in d.items() if k in known}, where,
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
    # How stage 1 fits the head on cached features (core/headsearch/search.py): "search" fits it
    # automatically (k-fold CV, refit, temperature); "epochs" runs the plain epoch loop with the
    # values above. ``auto`` names the fields the search chooses (of lr, weight_decay, epochs,
    # head); a field not named is an explicit user value the search keeps. ``refit``: the final
    # head trains on train + validation (False keeps the validation split out of it).
    head_fit: str = "search"
    auto: list[str] = field(default_factory=lambda: list(AUTO_FIELDS))
    refit: bool = True
    few_shot: str = "auto"

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


def section_from_dict(cls, data: Any, section: str, defaults: dict[str, Any] | None = None):
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


def check_curation(data: DataSettings) -> None:
    """Exclusions must be a list of sample keys, label overrides an object of key -> class name, the
    unlabeled folder a plain folder name."""
    if not isinstance(data.exclusions, list) or not all(isinstance(k, str) for k in data.exclusions):
        raise ProjectError("Invalid project file: 'data.exclusions' must be a list of sample keys (strings).")
    overrides = data.label_overrides
    if not isinstance(overrides, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                                  for k, v in overrides.items()):
        raise ProjectError("Invalid project file: 'data.label_overrides' must map sample keys to class names "
                           "(non-empty strings).")
    data.exclusions = list(data.exclusions)
    data.label_overrides = dict(overrides)
    folder = data.unlabeled_folder
    if not isinstance(folder, str) or "/" in folder or "\\" in folder or folder.strip() in (".", ".."):
        raise ProjectError("Invalid project file: 'data.unlabeled_folder' must be a folder name (\"\" for none), "
                           f"not {json.dumps(folder)}.")
    descriptions = data.class_descriptions
    if not isinstance(descriptions, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                     for k, v in descriptions.items()):
        raise ProjectError("Invalid project file: 'data.class_descriptions' must map class names to one-line "
                           "descriptions (strings).")
    suggestions = data.suggestions
    if not isinstance(suggestions, dict) or not all(
            isinstance(k, str) and isinstance(v, dict) and isinstance(v.get("label"), str)
            and isinstance(v.get("confidence"), (int, float)) for k, v in suggestions.items()):
        raise ProjectError("Invalid project file: 'data.suggestions' must map sample keys to "
                           "{\"label\": class name, \"confidence\": number}.")
    data.class_descriptions = dict(descriptions)
    data.suggestions = {k: dict(v) for k, v in suggestions.items()}


def check_auto(training: TrainingSettings, data: Any, head_data: Any) -> None:
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
