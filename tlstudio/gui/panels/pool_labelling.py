"""The Data tab's labelling of the unlabeled pool: a class picker under the samples and a context
menu on them.

The selected samples (thumbnails or text rows, as the modality's page shows them) are given a class
with "Label selected as [class] ▸ Label", or "Label as ▸ class" in their context menu; a sample
labelled here can be sent "Back to unlabeled". Labels are stored in the Project
(``core.data.curation.label_pool_sample``, through ``ProjectState.label_samples``), never in the
user's files: the note under the picker says where they go (an image folder: the Audit tab's
"Apply to disk…" can move them into class folders; a table is never rewritten).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QInputDialog, QLabel, QMenu, QPushButton, QVBoxLayout,
                               QWidget)

from tlstudio.core.data.index import UNLABELED, Sample, pool_keys, sample_key
from tlstudio.core.data.modality import modality_for

NEW_CLASS = "New class…"
ON_DISK_NOTE = ("Labels given here are kept in the project and used for training at once; your files are not "
                "touched. The Audit tab's \"Apply to disk…\" can move labelled images into their class folders.")
IN_PROJECT_NOTE = ("Labels given here are kept in the project and used for training at once; the data file "
                   "itself is never rewritten.")


class PoolLabeller(QWidget):
    """Label picker and context menu of the Data tab; ``browser`` is the DatasetBrowser."""

    def __init__(self, browser) -> None:
        super().__init__(objectName="poolLabeller")
        self.browser = browser
        self.state = browser.state
        self._shown_label: int | None = None
        self.class_choice = QComboBox(objectName="poolClassChoice", editable=True)
        self.class_choice.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.class_choice.lineEdit().setPlaceholderText("class name")
        self.label_button = QPushButton("Label", objectName="poolLabelButton")
        self.unlabel_button = QPushButton("Back to unlabeled", objectName="poolUnlabelButton")
        self.note = QLabel(wordWrap=True, objectName="poolNote")
        self.note.setStyleSheet("color: palette(placeholder-text);")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        self.picker_label = QLabel("Label selected as:")
        row.addWidget(self.picker_label)
        row.addWidget(self.class_choice, 1)
        row.addWidget(self.label_button)
        row.addWidget(self.unlabel_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(row)
        box.addWidget(self.note)
        self.label_button.clicked.connect(lambda: self.label_selected(self.class_choice.currentText()))
        self.unlabel_button.clicked.connect(lambda: self.label_selected(None))
        for page in browser.pages.values():
            view = page.item_view
            view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            view.customContextMenuRequested.connect(lambda pos, v=view: self._menu(v, pos))
        self.hide()

    # -- what the browser tells it ----------------------------------------------------------------
    def show_for(self, index, label: int | None) -> None:
        """The dataset shown (curated) and the class shown (``UNLABELED``: the pool; None: nothing)."""
        self._shown_label = label
        raw = self.state.dataset
        labelled_here = self._labelled_here()
        if label is not None and label != UNLABELED and labelled_here and index is not None:
            labelled_here &= {sample_key(s, index.root) for s in index.members(label)}
        if index is None or label is None or (label != UNLABELED and not labelled_here):
            self.hide()
            return
        in_pool = label == UNLABELED
        for widget in (self.picker_label, self.class_choice, self.label_button):
            widget.setVisible(in_pool)
        self.unlabel_button.setVisible(not in_pool)
        current = self.class_choice.currentText()
        self.class_choice.clear()
        self.class_choice.addItems(index.label_choices())
        if current:
            self.class_choice.setCurrentText(current)
        on_disk = modality_for(self.browser.modality_name()).curation_on_disk and raw is not None \
            and Path(raw.root).is_dir()
        self.note.setText(ON_DISK_NOTE if on_disk else IN_PROJECT_NOTE)
        self.show()

    # -- labelling ------------------------------------------------------------------------------------
    def selected_keys(self) -> list[str]:
        """The sample keys of the samples selected on the shown page."""
        index = self.state.dataset
        if index is None:
            return []
        return [sample_key(Sample(path, UNLABELED), index.root) for path in self.browser.page().selected_paths()]

    def label_selected(self, name: str | None) -> int:
        """Give the selected samples class ``name`` (None: back to the pool); returns how many."""
        keys = self.selected_keys()
        if name is not None and not name.strip():
            self.browser.show_message("Type or choose a class name to label the selected samples with.")
            return 0
        if name is None:
            keys = [k for k in keys if k in self._labelled_here()]
        if not keys:
            self.browser.show_message("Select the samples to label first." if name is not None else
                                      "Select samples labelled here to send them back to the unlabeled pool.")
            return 0
        self.browser.message.hide()
        self.state.label_samples(keys, name)
        return len(keys)

    def _labelled_here(self) -> set[str]:
        """Keys of the pool samples given a label in the project."""
        raw = self.state.dataset
        if raw is None or not raw.pool:
            return set()
        return set(pool_keys(raw)) & set(self.state.project.data.label_overrides)

    def _menu(self, view, pos) -> None:
        menu = self.context_menu(view)
        if menu is not None:
            menu.exec(view.viewport().mapToGlobal(pos))

    def context_menu(self, parent) -> QMenu | None:
        """The menu for the selected samples: "Label as ▸ class" in the pool, "Back to unlabeled" for
        samples labelled here; None when it would be empty."""
        if self._shown_label is None or not self.selected_keys():
            return None
        menu = QMenu(parent)
        if self._shown_label == UNLABELED:
            sub = menu.addMenu("Label as")
            for name in (self.state.curated_dataset() or self.state.dataset).label_choices():
                sub.addAction(name, lambda n=name: self.label_selected(n))
            sub.addSeparator()
            sub.addAction(NEW_CLASS, self._ask_new_class)
        elif set(self.selected_keys()) & self._labelled_here():
            menu.addAction("Back to unlabeled", lambda: self.label_selected(None))
        return None if menu.isEmpty() else menu

    def _ask_new_class(self) -> None:
        name, ok = QInputDialog.getText(self, "New class", "Name of the new class:")
        if ok and name.strip():
            self.label_selected(name.strip())
