"""ProjectState: the one Project of a GUI session plus the objects derived from it.

Every panel holds the same ``ProjectState``. Panels edit ``state.project`` in
place and then call ``mark_changed(section)``; other panels listen to
``changed(section)`` instead of talking to each other. The dataset index and
the loaded model are session objects (never saved): they are rebuilt from the
project by the Data and Model panels, in workers.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from tlstudio.core.data.modality import modality_for
from tlstudio.core.project import Project
from tlstudio.core.zoo.sources import AUTO_SOURCE, WeightsSource

if TYPE_CHECKING:  # torch-heavy imports stay out of the GUI start-up path
    from tlstudio.core.data.index import DatasetIndex
    from tlstudio.core.model.transfer import TransferModel

# The section names carried by ``changed`` ("task": the project switched between image and text).
SECTIONS = ("task", "data", "curation", "model", "frozen", "head", "training", "finetune", "runs")
MAX_LENGTH_RANGE = modality_for("text").max_length_range    # before the chosen model's own limit


class ProjectState(QObject):
    projectReplaced = Signal()          # a new/opened project: re-read everything
    changed = Signal(str)               # one section of the project was edited
    datasetChanged = Signal()           # ``dataset`` was (re)scanned or cleared
    modelChanged = Signal()             # ``model`` was (re)built or cleared
    dirtyChanged = Signal(bool)
    runFinished = Signal(str)           # run folder of a finished training run
    pathChanged = Signal()              # ``project_path`` changed (title bar, recent files)

    def __init__(self, project: Project | None = None, project_path: Path | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project: Project = project if project is not None else Project()
        self.project_path: Path | None = Path(project_path) if project_path else None
        self.dirty: bool = False
        self.dataset: DatasetIndex | None = None
        self.model: TransferModel | None = None
        # The layer tree built alongside the model (a dummy forward), or None.
        self.layer_tree = None

    # -- editing ----------------------------------------------------------------
    def mark_changed(self, section: str) -> None:
        """Record that ``section`` of the project was edited by a panel."""
        if section not in SECTIONS:
            raise ValueError(f"unknown project section {section!r}")
        self.set_dirty(True)
        self.changed.emit(section)

    def set_dirty(self, dirty: bool) -> None:
        if dirty != self.dirty:
            self.dirty = dirty
            self.dirtyChanged.emit(dirty)

    def replace_project(self, project: Project, project_path: Path | None = None) -> None:
        """Swap in another project (New / Open); derived objects are dropped."""
        self.project = project
        self.project_path = Path(project_path) if project_path else None
        self.dataset = None
        self.model = None
        self.layer_tree = None
        self.set_dirty(False)
        self.projectReplaced.emit()
        self.pathChanged.emit()
        self.datasetChanged.emit()
        self.modelChanged.emit()

    def set_task(self, task: str) -> None:
        """Switch the project between image and text (the data said which); a model of the other
        task is replaced by the new task's default."""
        if task == self.project.task:
            return
        self.project.task = task
        self.mark_changed("task")
        self.choose_model(modality_for(task).default_model)

    # Text settings: read through these so a project without the fields (older core) still works.
    def text_columns(self) -> tuple[str, str]:
        d = self.project.data
        return str(getattr(d, "text_column", "") or ""), str(getattr(d, "label_column", "") or "")

    def set_text_columns(self, text_column: str, label_column: str) -> None:
        if self.text_columns() != (text_column, label_column):
            self.project.data.text_column = text_column or None     # None: detected (and not saved)
            self.project.data.label_column = label_column or None
            self.mark_changed("data")

    def max_length(self) -> int:
        """The longest text in tokens the model is fed (longer texts are cut)."""
        return int(getattr(self.project.model, "max_length", None) or modality_for("text").default_max_length)

    def set_max_length(self, value: int) -> None:
        low, high = MAX_LENGTH_RANGE
        value = int(value)
        if not low <= value <= high:
            raise ValueError(f"The max length must be between {low} and {high} tokens, not {value}.")
        if value != self.max_length():
            self.project.model.max_length = value
            self.mark_changed("model")

    # -- derived session objects ---------------------------------------------------
    def set_dataset(self, dataset: DatasetIndex | None) -> None:
        self.dataset = dataset
        if dataset is not None and self.project.adopt_classes(self.curated_dataset().classes):
            # Derived from the data, not a user edit: the panels update, the project stays clean.
            self.changed.emit("head")
        self.datasetChanged.emit()

    def label_samples(self, keys: list[str], label: str | None) -> None:
        """Give the pool samples ``keys`` class ``label`` in the project (None: back to the pool;
        ``core.data.curation.label_pool_sample``); a new class also sizes the head."""
        from tlstudio.core.data.curation import label_pool_sample

        for key in keys:
            label_pool_sample(self.project, key, label)
        curated = self.curated_dataset()
        if curated is not None and self.project.adopt_classes(curated.classes):
            self.changed.emit("head")
        self.mark_changed("curation")

    def curated_dataset(self) -> DatasetIndex | None:
        """``dataset`` with the project's exclusions and label overrides applied (what trains);
        the scan as it is when an override names a class the data does not have."""
        if self.dataset is None:
            return None
        from tlstudio.core.data.curation import apply_curation
        from tlstudio.core.errors import DatasetError

        try:
            return apply_curation(self.dataset, self.project.data)
        except DatasetError:
            return self.dataset

    def set_model(self, model: TransferModel | None, layer_tree=None) -> None:
        self.model = model
        self.layer_tree = layer_tree
        self.modelChanged.emit()

    def num_classes(self) -> int:
        """The project's class count (set from the scanned dataset in ``set_dataset``)."""
        return self.project.num_classes

    def choose_model(self, name: str, weights: WeightsSource | str = AUTO_SOURCE) -> None:
        """Switch the project to another network or weights source (and a frozen set that fits it)."""
        if self.project.choose_model(name, weights):
            self.mark_changed("model")

    def adopt_frozen(self, frozen: list[str]) -> None:
        """Record the frozen set of the model now loaded, when the project's differs."""
        if self.project.adopt_frozen(frozen):
            self.mark_changed("frozen")

    # -- files -----------------------------------------------------------------------
    def save(self, path: Path | None = None) -> Path:
        """Save the project (atomically) to ``path`` or its current file."""
        target = Path(path) if path is not None else self.project_path
        if target is None:
            raise ValueError("no file to save the project to")
        self.project.save(target)
        if self.project_path != target:
            self.project_path = target
            self.pathChanged.emit()
        self.set_dirty(False)
        return target

    def add_run(self, run_dir: str, info: dict | None = None, announce: bool = True) -> None:
        """Record a finished run in the project; ``announce`` also emits ``runFinished``. The run's
        ``accuracy_source`` (how its accuracy was measured) is copied from its metrics when not given."""
        info = dict(info or {})
        if "accuracy_source" not in info:
            from tlstudio.core.errors import RunFolderError
            from tlstudio.core.runs.run_folder import RunFolder     # torch-free, unlike runs/folder.py

            try:
                metrics = RunFolder(run_dir).metrics()
            except RunFolderError:          # unreadable: the run is listed without its source
                metrics = {}
            if metrics.get("accuracy_source"):
                info["accuracy_source"] = str(metrics["accuracy_source"])
        self.project.add_run(str(run_dir), info)
        self.mark_changed("runs")
        if announce:
            self.runFinished.emit(str(run_dir))

    def display_name(self) -> str:
        if self.project_path is not None:
            return self.project_path.name
        return self.project.name or "Untitled"
