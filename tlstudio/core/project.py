"""The Project: a versioned JSON document, the single source of truth of a session.

GUI panels edit parts of it; the CLI runs a saved project headless. Loading is
strict about types (a wrong type is named) and lenient about unknown keys (a
file written by a slightly different build still opens).
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tlstudio.core import atomic
from tlstudio.core.zoo.cards import DEFAULT_MODEL
from tlstudio.core.errors import HeadSpecError, ProjectError
from tlstudio.core.model.head import HeadSpec

SCHEMA_VERSION = 1
TASKS = ("image", "text")     # what a Project classifies; core/data/modality.py maps each to its Modality


@dataclass
class DataSettings:
    path: str = ""
    val_fraction: float = 0.2
    test_fraction: float = 0.0
    seed: int = 0
    augment: str = "none"


@dataclass
class ModelSettings:
    name: str = DEFAULT_MODEL
    weights: str = "auto"
    image_size: int | None = None


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


def _section_from_dict(cls, data: Any, section: str):
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ProjectError(f"Invalid project file: '{section}' must be an object, not {type(data).__name__}.")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if not _type_ok(value, str(f.type)):
            raise ProjectError(f"Invalid project file: '{section}.{f.name}' must be {f.type}, "
                               f"not {json.dumps(value)}.")
        if str(f.type).startswith("float") and value is not None:
            value = float(value)
        kwargs[f.name] = value
    return cls(**kwargs)


@dataclass
class Project:
    name: str = "Untitled"
    task: str = "image"
    data: DataSettings = field(default_factory=DataSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    frozen: list[str] = field(default_factory=lambda: ["base"])
    head: HeadSpec = field(default_factory=HeadSpec.default)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    finetune: FinetuneSettings = field(default_factory=FinetuneSettings)
    runs: list[dict] = field(default_factory=list)

    # -- serialisation ------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "version": SCHEMA_VERSION,
            "name": self.name,
            "task": self.task,
            "data": dataclasses.asdict(self.data),
            "model": dataclasses.asdict(self.model),
            "frozen": list(self.frozen),
            "head": self.head.to_dict(),
            "training": dataclasses.asdict(self.training),
            "finetune": dataclasses.asdict(self.finetune),
            "runs": [dict(r) for r in self.runs],
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
        task = d.get("task", "image")
        if task not in TASKS:
            raise ProjectError(f"Invalid project file: 'task' must be one of {', '.join(TASKS)}, "
                               f"not {json.dumps(task)}.")
        frozen = d.get("frozen", ["base"])
        if not isinstance(frozen, list) or not all(isinstance(x, str) for x in frozen):
            raise ProjectError("Invalid project file: 'frozen' must be a list of module names.")
        runs = d.get("runs", [])
        if not isinstance(runs, list) or not all(isinstance(x, dict) for x in runs):
            raise ProjectError("Invalid project file: 'runs' must be a list of objects.")
        head_data = d.get("head")
        try:
            head = HeadSpec.default() if head_data is None else HeadSpec.from_dict(head_data)
            head.validate()
        except (HeadSpecError, TypeError, ValueError) as exc:
            raise ProjectError(f"Invalid project file: bad 'head': {exc}") from exc
        return cls(
            name=name,
            task=task,
            data=_section_from_dict(DataSettings, d.get("data"), "data"),
            model=_section_from_dict(ModelSettings, d.get("model"), "model"),
            frozen=list(frozen),
            head=head,
            training=_section_from_dict(TrainingSettings, d.get("training"), "training"),
            finetune=_section_from_dict(FinetuneSettings, d.get("finetune"), "finetune"),
            runs=[dict(r) for r in runs],
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
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ProjectError(f"Project file not found: {path}.") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ProjectError(f"Cannot read project file {path}: {exc}.") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProjectError(f"Invalid project file {path.name}: not valid JSON "
                               f"({exc.msg} at line {exc.lineno}, column {exc.colno}).") from None
        project = cls.from_dict(data)
        if project.data.path and not os.path.isabs(project.data.path):
            project.data.path = str((path.absolute().parent / project.data.path).resolve())
        return project
