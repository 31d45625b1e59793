"""The Data tab's class-description editor: one line per class that zero-shot embeds with its name.

"dress" alone is a word; "dress: a one-piece garment for a woman" says what the class holds.
The descriptions live in the Project (``data.class_descriptions``, by class name); an empty
line removes one. They are read by the zero-shot baseline (Results tab, ``tlstudio-cli
zeroshot``) and never by training.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout


class ClassDescriptions(QGroupBox):
    def __init__(self, state, parent=None):
        super().__init__("Class descriptions (zero-shot)", parent)
        self.setObjectName("classDescriptions")
        self.state = state
        self._loading = False
        note = QLabel("Optional: one line per class, embedded with its name by the zero-shot baseline "
                      "(Results tab). Training does not read them.", wordWrap=True)
        note.setStyleSheet("QLabel { color: #555555; }")
        self.table = QTableWidget(0, 2, objectName="classDescriptionTable")
        self.table.setHorizontalHeaderLabels(["Class", "Description"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemChanged.connect(self._edited)
        col = QVBoxLayout(self)
        col.addWidget(note)
        col.addWidget(self.table, 1)
        state.projectReplaced.connect(self.reload)
        state.datasetChanged.connect(self.reload)
        self.reload()

    def classes(self) -> list[str]:
        dataset = self.state.dataset
        if dataset is None:
            return []
        return list(getattr(dataset, "label_choices", lambda: dataset.classes)())

    def reload(self) -> None:
        """One row per class of the scanned dataset, with the project's description."""
        descriptions = self.state.project.data.class_descriptions
        self._loading = True
        try:
            names = self.classes()
            self.table.setRowCount(len(names))
            for row, name in enumerate(names):
                cls = QTableWidgetItem(name)
                cls.setFlags(cls.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.table.setItem(row, 0, cls)
                self.table.setItem(row, 1, QTableWidgetItem(descriptions.get(name, "")))
        finally:
            self._loading = False

    def _edited(self, item: QTableWidgetItem) -> None:
        if self._loading or item.column() != 1:
            return
        self.set_description(self.table.item(item.row(), 0).text(), item.text())

    def set_description(self, name: str, text: str) -> None:
        """Store (or, when empty, remove) the description of class ``name``."""
        text = " ".join(text.split())
        descriptions = self.state.project.data.class_descriptions
        if descriptions.get(name, "") == text:
            return
        if text:
            descriptions[name] = text
        else:
            descriptions.pop(name, None)
        self.state.mark_changed("data")
