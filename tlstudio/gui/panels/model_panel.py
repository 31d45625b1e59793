"""The Model tab: choose a pretrained network, load it, and freeze its layers.

The catalog lists the vision cards for an image project and the text cards
(BERT, GPT-2, XLNet ... with their max length) for a text project; a text
project sets its max length in tokens here (range-checked against the model).

Loading (weights, the new head, one dummy forward for the layer tree) runs in
a worker; the GUI thread only swaps the finished model in. When the head
spec or the class count changes, the spec is validated at once (no modules
built) and the head is rebuilt in a worker once the edits settle (a wide
Linear on a big base has tens of millions of weights); the GUI thread only
swaps it in.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QProgressBar, QPushButton, QSpinBox,
                               QSplitter, QTableWidget, QTableWidgetItem, QTreeView, QVBoxLayout, QWidget)

from tlstudio.core.data.modality import modality_for
from tlstudio.core.zoo.sources import AUTO_SOURCE, WeightsSource
from tlstudio.gui.icons import icon
from tlstudio.gui.itemmodels.layer_tree import LayerTreeModel, format_count, head_subtree
from tlstudio.gui.state import MAX_LENGTH_RANGE, ProjectState
from tlstudio.gui.jobs.model_jobs import SOURCE_TEXT, LoadedModel, build_head_job, catalog_job, load_model_job
from tlstudio.gui.jobs.tasks import run_task

WEIGHT_FILTER = "Weights (*.pth *.pt *.safetensors);;All files (*)"
HEAD_REBUILD_DEBOUNCE_MS = 300     # one head build once the head editor's edits settle


class ModelPanel(QWidget):
    """Catalog on the left, the loaded model's layer tree on the right."""

    loadingChanged = Signal(bool)

    def __init__(self, state: ProjectState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelPanel")
        self.state = state
        self._catalogs: dict[str, list[tuple[object, str]]] = {}
        self._load_task = None
        self._reload_pending = False
        self._loaded: LoadedModel | None = None
        self._head_task = None
        self._head_timer = QTimer(self, singleShot=True, interval=HEAD_REBUILD_DEBOUNCE_MS)
        self._head_timer.timeout.connect(self._start_head_build)
        self._build_ui()
        state.projectReplaced.connect(self.reload_model)
        state.changed.connect(self._on_project_changed)
        state.modelChanged.connect(self._on_model_changed)
        self._catalog_task = run_task(catalog_job, on_finished=self._on_catalog, on_failed=self._show_error,
                                      parent=self)

    # -- layout -------------------------------------------------------------------
    def _build_ui(self) -> None:
        catalog = QGroupBox("Pretrained models")
        self.search = QLineEdit(placeholderText="Search models (name or family)…", clearButtonEnabled=True)
        self.family = QComboBox()
        self.family.addItem("All families", "")
        self.table = QTableWidget(0, 5)
        self.table.setObjectName("modelCatalog")
        self.table.setHorizontalHeaderLabels(["Model", "Family", "Params", "Trained at", "Weights"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in (1, 2, 3, 4):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.use_button = QPushButton(icon("model"), "Use selected model")
        self.import_button = QPushButton(icon("import"), "Import weights…")
        self.import_button.setToolTip("Load the network's weights from a .pth, .pt or .safetensors file.")
        self.compare_button = QPushButton("Compare models…", objectName="compareModelsButton")
        self.compare_button.setToolTip("Rank the models on this computer by accuracy on your data, speed and size.")
        self.compare_button.clicked.connect(self.open_compare)
        self.compare_dialog = None
        self.size_spin = QSpinBox(minimum=0, maximum=1024, singleStep=16)
        self.size_spin.setSpecialValueText("weights' default")
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Image size fed to the network; smaller is faster on a CPU.")
        self.size_label = QLabel("Input size:")
        self.max_length_label = QLabel("Max length:")
        self.max_length_spin = QSpinBox(minimum=MAX_LENGTH_RANGE[0], maximum=MAX_LENGTH_RANGE[1],
                                        singleStep=16, objectName="maxLengthSpin")
        self.max_length_spin.setSuffix(" tokens")
        self.max_length_spin.setToolTip("Longer texts are cut to this many tokens; shorter is faster. "
                                        "The Data tab shows how many texts it would cut.")
        filters = QHBoxLayout()
        filters.addWidget(self.search, 1)
        filters.addWidget(self.family)
        buttons = QHBoxLayout()
        buttons.addWidget(self.use_button)
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.compare_button)
        buttons.addStretch(1)
        buttons.addWidget(self.size_label)
        buttons.addWidget(self.size_spin)
        buttons.addWidget(self.max_length_label)
        buttons.addWidget(self.max_length_spin)
        box = QVBoxLayout(catalog)
        box.addLayout(filters)
        box.addWidget(self.table, 1)
        box.addLayout(buttons)

        loaded = QGroupBox("Loaded model — check a layer to train it, uncheck to freeze it")
        self.current = QLabel(wordWrap=True)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumHeight(14)
        self.busy.setTextVisible(False)
        self.busy.hide()
        self.error = QLabel(wordWrap=True, objectName="modelError")
        self.error.setStyleSheet("color: #b03a2e;")
        self.error.hide()
        self.tree_model = LayerTreeModel(self)
        self.tree = QTreeView(objectName="modelTree")
        self.tree.setModel(self.tree_model)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        # Every column fits its contents (the Layer column is what a user reads to decide what to freeze:
        # it never shrinks to "…"); the last one takes what is left, and a narrow window scrolls.
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setMinimumSectionSize(60)
        self.freeze_button = QPushButton(icon("freeze"), "Freeze whole base")
        self.unfreeze_spin = QSpinBox(minimum=1, maximum=99, value=2)
        self.unfreeze_spin.setPrefix("last ")
        self.unfreeze_spin.setSuffix(" blocks")
        self.unfreeze_button = QPushButton(icon("unfreeze"), "Unfreeze")
        self.unfreeze_button.setToolTip("Freeze the base, then make its last N blocks trainable.")
        presets = QHBoxLayout()
        presets.addWidget(self.freeze_button)
        presets.addWidget(self.unfreeze_button)
        presets.addWidget(self.unfreeze_spin)
        presets.addStretch(1)
        self.footer = QLabel(objectName="paramFooter")
        box = QVBoxLayout(loaded)
        box.addWidget(self.current)
        box.addWidget(self.busy)
        box.addWidget(self.error)
        box.addLayout(presets)
        box.addWidget(self.tree, 1)
        box.addWidget(self.footer)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(catalog)
        splitter.addWidget(loaded)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self.search.textChanged.connect(self._fill_table)
        self.family.currentIndexChanged.connect(self._fill_table)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.cellDoubleClicked.connect(lambda *_: self.use_selected())
        self.use_button.clicked.connect(self.use_selected)
        self.import_button.clicked.connect(self._import_weights)
        self.size_spin.editingFinished.connect(self._size_edited)
        self.max_length_spin.editingFinished.connect(self._max_length_edited)
        self.freeze_button.clicked.connect(self.freeze_whole_base)
        self.unfreeze_button.clicked.connect(lambda: self.unfreeze_last(self.unfreeze_spin.value()))
        self.tree_model.trainableChanged.connect(self._on_trainable_changed)
        self._update_buttons()
        self._show_current()
        self._show_task_widgets()

    # -- catalog ---------------------------------------------------------------------
    def task(self) -> str:
        return self.state.project.task

    def _by_length(self) -> bool:
        """Models of the project's modality take a max length in tokens, not an image size in pixels."""
        return modality_for(self.task()).max_length_range is not None

    def cards(self) -> list[tuple[object, str]]:
        """The catalog of the project's task: (card, weights source) pairs."""
        return self._catalogs.get(self.task(), [])

    def _on_catalog(self, catalogs) -> None:
        self._catalogs = catalogs
        self._show_task_widgets()

    def _show_task_widgets(self) -> None:
        """The catalog, its family filter and the size/length setting of the project's task."""
        text = self._by_length()
        self.table.setHorizontalHeaderLabels(["Model", "Family", "Params", "Max length" if text else "Trained at",
                                              "Weights"])
        self.import_button.setVisible(not text)
        for widget in (self.size_label, self.size_spin):
            widget.setVisible(not text)
        for widget in (self.max_length_label, self.max_length_spin):
            widget.setVisible(text)
        self._load_max_length()
        self.family.blockSignals(True)
        self.family.clear()
        self.family.addItem("All families", "")
        for fam in sorted({c.family for c, _ in self.cards()}):
            self.family.addItem(fam, fam)
        self.family.blockSignals(False)
        self._fill_table()

    def _card_limit(self) -> int:
        """The selected text model's own longest input (the upper end of the max length)."""
        if not self._by_length():
            return MAX_LENGTH_RANGE[1]
        name = self.state.project.model.name
        limit = next((c.max_length for c, _ in self.cards() if c.name == name), None)
        if limit is None and self._loaded is not None and self._by_length():
            limit = getattr(self._loaded.card, "max_length", None)
        return int(limit or MAX_LENGTH_RANGE[1])

    def _load_max_length(self) -> None:
        spin = self.max_length_spin
        spin.blockSignals(True)
        spin.setMaximum(min(MAX_LENGTH_RANGE[1], self._card_limit()))
        spin.setValue(min(self.state.max_length(), spin.maximum()))
        spin.blockSignals(False)

    def _max_length_edited(self) -> None:
        value = self.max_length_spin.value()   # the spin box keeps it inside the model's range
        if value != self.state.max_length():
            self.state.set_max_length(value)

    def _fill_table(self) -> None:
        words = self.search.text().lower().split()
        fam = self.family.currentData()
        rows = [(c, s) for c, s in self.cards()
                if (not fam or c.family == fam) and all(w in f"{c.name} {c.family}".lower() for w in words)]
        self.table.setRowCount(len(rows))
        for r, (card, source) in enumerate(rows):
            size = f"{card.max_length} tokens" if self._by_length() else f"{card.preprocessing.input_size} px"
            cells = [card.name, card.family, format_count(card.params), size, SOURCE_TEXT.get(source, source)]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, card.name)
                item.setToolTip(card.description)
                if c == 4 and source in ("download", "unavailable"):
                    item.setForeground(Qt.GlobalColor.darkGray)
                self.table.setItem(r, c, item)
            if card.name == self.state.project.model.name:
                self.table.selectRow(r)
        self._update_buttons()

    def selected_name(self) -> str | None:
        items = self.table.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def _update_buttons(self) -> None:
        self.use_button.setEnabled(self._selection_differs())
        has_model = self.state.model is not None and self._load_task is None
        self.freeze_button.setEnabled(has_model)
        self.unfreeze_button.setEnabled(has_model)

    def _selection_differs(self) -> bool:
        """A different model, or the same one back on its automatic weights after an import."""
        name, current = self.selected_name(), self.state.project.model
        return bool(name) and (name != current.name or current.weights != AUTO_SOURCE)

    def use_selected(self) -> None:
        name = self.selected_name()
        if self._selection_differs():
            self.state.choose_model(name, AUTO_SOURCE)

    def _import_weights(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import weights", "", WEIGHT_FILTER)
        if path:
            self.import_weights(path)

    def import_weights(self, path: str) -> None:
        self.state.project.choose_model(self.state.project.model.name, WeightsSource.file(path))
        self.state.mark_changed("model")  # even the same path again: the file may have been replaced

    def open_compare(self) -> None:
        """The "Compare models" dialog (one per tab; it keeps its last leaderboard while open)."""
        from tlstudio.gui.panels.compare_dialog import CompareDialog

        old = self.compare_dialog
        if old is None or (not old.isVisible() and not old.is_running()):   # a closed one: fresh candidates
            self.compare_dialog = CompareDialog(self.state, self)
            if old is not None:
                old.deleteLater()
        self.compare_dialog.show()
        self.compare_dialog.raise_()

    def _size_edited(self) -> None:
        size = self.size_spin.value() or None
        if size is not None and size < 32:
            size = 32
            self.size_spin.setValue(32)
        if size != self.state.project.model.image_size:
            self.state.project.model.image_size = size
            self.state.mark_changed("model")

    # -- loading ---------------------------------------------------------------------------
    def is_loading(self) -> bool:
        return self._load_task is not None

    def reload_model(self) -> None:
        """(Re)build the model from the project in a worker."""
        self.size_spin.setValue(self.state.project.model.image_size or 0)
        self._show_task_widgets()
        self._update_buttons()
        if self._load_task is not None:
            self._reload_pending = True  # a load cannot be interrupted; redo it when it ends
            return
        p = self.state.project
        self._set_loading(True)
        self.error.hide()
        self._load_task = run_task(load_model_job, p.model.name, p.model.weights, p.head.to_dict(),
                                   self.state.num_classes(), list(p.frozen), p.model.image_size, p.task,
                                   on_finished=self._on_loaded, on_failed=self._on_load_failed, parent=self)
        self._update_buttons()

    def _set_loading(self, loading: bool) -> None:
        self.busy.setVisible(loading)
        if loading:
            self.current.setText(f"Loading {self.state.project.model.name}…")
        self.loadingChanged.emit(loading)

    def _finish_load(self) -> bool:
        """True when the result is current; otherwise a newer load was started."""
        self._load_task = None
        if self._reload_pending:
            self._reload_pending = False
            self.reload_model()
            return False
        self._set_loading(False)
        return True

    def _on_loaded(self, loaded: LoadedModel) -> None:
        if not self._finish_load():
            return
        self._loaded = loaded
        if loaded.replaced_frozen is not None:
            self.state.adopt_frozen(loaded.replaced_frozen)
        self.state.set_model(loaded.model, loaded.tree)
        if loaded.note:
            self._show_error(loaded.note)

    def _on_load_failed(self, message: str) -> None:
        if not self._finish_load():
            return
        self._loaded = None
        self.state.set_model(None)
        self._show_error(message)

    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()

    def _on_model_changed(self) -> None:
        self.tree_model.set_tree(self.state.model, self.state.layer_tree)
        if self.state.model is not None:
            from tlstudio.core.model.blocks import block_names

            self.unfreeze_spin.setMaximum(max(1, len(block_names(self.state.model))))
            # A text encoder wraps the transformer (base.base): open it down to its layers.
            for index in [self.tree_model.index_of(name) for name in
                          ("base", "head", "base.base", "base.base.encoder")]:
                if index.isValid():
                    self.tree.expand(index)
        self._show_current()
        self._update_buttons()

    def _show_current(self) -> None:
        loaded = self._loaded
        if self.state.model is None or loaded is None:
            weights = self.state.project.model.weights
            extra = f" (weights: {Path(weights.path).name})" if weights.is_file else ""
            self.current.setText(f"<b>{self.state.project.model.name}</b>{extra} — not loaded")
            self.footer.setText("")
            return
        src = SOURCE_TEXT.get(loaded.source, loaded.source)
        size = (f"max length {self.state.max_length()} of {loaded.input_size} tokens" if self._by_length()
                else f"input {loaded.input_size} px")
        self.current.setText(f"<b>{loaded.card.name}</b> ({loaded.card.family}) · weights: {src} · "
                             f"{size} · {self.state.model.feature_dim} features")
        self._update_footer()

    def _update_footer(self) -> None:
        from tlstudio.core.model.layers import count_params

        if self.state.model is None:
            self.footer.setText("")
            return
        trainable, frozen = count_params(self.state.model)
        self.footer.setText(f"Trainable: <b>{format_count(trainable)}</b> parameters · "
                            f"Frozen: <b>{format_count(frozen)}</b>")

    # -- freezing ------------------------------------------------------------------------------
    def freeze_whole_base(self) -> None:
        from tlstudio.core.model.layers import freeze_base

        if self.state.model is not None:
            freeze_base(self.state.model)
            self.tree_model.refresh_all()

    def unfreeze_last(self, n: int) -> None:
        from tlstudio.core.model.layers import unfreeze_last_blocks

        if self.state.model is not None:
            unfreeze_last_blocks(self.state.model, n)
            self.tree_model.refresh_all()

    def _on_trainable_changed(self) -> None:
        from tlstudio.core.model.layers import frozen_modules

        self._update_footer()
        frozen = frozen_modules(self.state.model)
        if frozen != self.state.project.frozen:
            self.state.project.frozen = frozen
            self.state.mark_changed("frozen")

    # -- project edits -----------------------------------------------------------------------------
    def _on_project_changed(self, section: str) -> None:
        if section == "task":
            self._show_task_widgets()
        elif section == "model":
            self._load_max_length()
            if self.state.project.model.name != getattr(getattr(self._loaded, "card", None), "name", None) \
                    or not self._by_length() or self.state.model is None:
                self.reload_model()   # a new max length alone needs no new model
        elif section == "head":
            self.rebuild_head()

    def rebuild_head(self) -> None:
        """Validate the head spec now; build the new head in a worker once the edits settle."""
        from tlstudio.core.errors import HeadSpecError

        if self._load_task is not None:
            self._reload_pending = True
            return
        if self.state.model is None:
            return
        try:
            self.state.project.head.validate(self.state.num_classes())
        except HeadSpecError as exc:
            self._head_timer.stop()
            self._show_error(str(exc))
            return
        self.error.hide()
        self._head_timer.start()

    def is_building_head(self) -> bool:
        return self._head_timer.isActive() or self._head_task is not None

    def _start_head_build(self) -> None:
        model = self.state.model
        if model is None or self._load_task is not None:
            return
        spec, n = self.state.project.head.to_dict(), self.state.num_classes()
        task = run_task(build_head_job, spec, int(model.feature_dim), n, parent=self)
        self._head_task = task
        task.finished.connect(lambda head: self._on_head_built(task, model, spec, n, head))
        task.failed.connect(lambda message: self._on_head_failed(task, message))

    def _on_head_built(self, task, model, spec: dict, n: int, head) -> None:
        if task is not self._head_task:
            return                      # a newer build replaced this one
        self._head_task = None
        if (model is not self.state.model or spec != self.state.project.head.to_dict()
                or n != self.state.num_classes()):
            return                      # edited meanwhile: the newer edit has its own build
        from tlstudio.core.model.head import HeadSpec

        model.head = head
        model.train(model.training)  # re-derive frozen BatchNorm modes for the new head
        self.tree_model.replace_head(head_subtree(model, HeadSpec.from_dict(spec), n))
        self.tree.expand(self.tree_model.index_of("head"))
        self._on_trainable_changed()

    def _on_head_failed(self, task, message: str) -> None:
        if task is self._head_task:
            self._head_task = None
            self._show_error(message)
