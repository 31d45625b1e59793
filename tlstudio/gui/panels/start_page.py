"""The start page: what the app shows when it opens with no project.

Each action is a signal; the main window decides what it does (the page knows
nothing about projects). A folder or data file dropped anywhere on the page
starts a project on it.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFrame, QGridLayout, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QPushButton, QSizePolicy, QVBoxLayout, QWidget)

from tlstudio.gui.icons import icon

DATA_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson")


def dropped_path(mime) -> Path | None:
    """The one local folder, data file or project file in a drag, or None."""
    urls = mime.urls() if mime.hasUrls() else []
    local = [Path(u.toLocalFile()) for u in urls if u.isLocalFile()]
    if len(local) == 1 and (local[0].is_dir() or local[0].suffix.lower() in DATA_SUFFIXES + (".json",)):
        return local[0]
    return None


class StartPage(QWidget):
    demoRequested = Signal()
    textDemoRequested = Signal()
    newProjectRequested = Signal(str)      # "image" | "text"
    openRequested = Signal()
    recentRequested = Signal(str)
    pathDropped = Signal(str)              # a dataset folder/file, or a project .json

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("startPage")
        self.setAcceptDrops(True)
        title = QLabel("<h1>TL Studio</h1><p>Transfer learning on your own images and texts: pick a "
                       "pretrained network, freeze its base, give it a new head, train, evaluate — "
                       "offline, on this computer.</p>", wordWrap=True)
        title.setTextFormat(Qt.TextFormat.RichText)

        self.demo_button = self._button("Try the image demo", "results",
                                        "Six kinds of clothing (Fashion-MNIST), ready to train in a minute.")
        self.text_demo_button = self._button("Try the text demo", "data",
                                             "Dictionary definitions in six topics (WordNet), with a "
                                             "bundled BERT-family encoder.")
        self.new_image_button = self._button("New image project", "new",
                                             "Start from a folder of class sub-folders or a CSV of images.")
        self.new_text_button = self._button("New text project", "new",
                                            "Start from a CSV/TSV, a JSON Lines file or folders of .txt files.")
        self.open_button = self._button("Open a project…", "open", "A TL Studio project file (.json).")
        self.demo_button.clicked.connect(self.demoRequested)
        self.text_demo_button.clicked.connect(self.textDemoRequested)
        self.new_image_button.clicked.connect(lambda: self.newProjectRequested.emit("image"))
        self.new_text_button.clicked.connect(lambda: self.newProjectRequested.emit("text"))
        self.open_button.clicked.connect(self.openRequested)
        actions = QGridLayout()
        actions.setSpacing(10)
        for i, button in enumerate((self.demo_button, self.text_demo_button, self.new_image_button,
                                    self.new_text_button, self.open_button)):
            actions.addWidget(button, i // 2, i % 2)

        self.recent_list = QListWidget(objectName="recentProjects")
        self.recent_list.itemActivated.connect(self._open_item)
        self.recent_list.itemClicked.connect(self._open_item)
        self.recent_empty = QLabel("No recent projects yet.", objectName="recentEmpty")
        self.recent_empty.setStyleSheet("color: palette(mid);")
        recent = QVBoxLayout()
        recent.addWidget(QLabel("<b>Recent projects</b>"))
        recent.addWidget(self.recent_list, 1)
        recent.addWidget(self.recent_empty)

        self.drop_zone = QLabel("Drop a folder, a CSV/TSV/JSONL file or a project file here",
                                objectName="dropZone", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.drop_zone.setMinimumHeight(90)
        self._set_drop_highlight(False)

        column = QVBoxLayout()
        column.addWidget(title)
        column.addSpacing(8)
        column.addLayout(actions)
        column.addSpacing(12)
        column.addLayout(recent, 1)
        column.addWidget(self.drop_zone)
        inner = QWidget()
        inner.setLayout(column)
        inner.setMaximumWidth(760)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        outer.addWidget(inner, 4)
        outer.addStretch(1)

    def _button(self, text: str, icon_name: str, detail: str) -> QPushButton:
        button = QPushButton(icon(icon_name), f"  {text}")
        button.setToolTip(detail)
        button.setMinimumHeight(44)
        button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        button.setStyleSheet("text-align: left; padding: 6px 12px; font-size: 11pt;")
        return button

    def set_recent(self, paths: list[str]) -> None:
        self.recent_list.clear()
        for path in paths:
            item = QListWidgetItem(icon("open"), f"{Path(path).name}   —   {Path(path).parent}")
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setToolTip(path)
            self.recent_list.addItem(item)
        self.recent_list.setVisible(bool(paths))
        self.recent_empty.setVisible(not paths)

    def _open_item(self, item: QListWidgetItem) -> None:
        self.recentRequested.emit(item.data(Qt.ItemDataRole.UserRole))

    # -- dropping ---------------------------------------------------------------------------
    def _set_drop_highlight(self, on: bool) -> None:
        border = "palette(highlight)" if on else "palette(mid)"
        self.drop_zone.setFrameShape(QFrame.Shape.NoFrame)
        self.drop_zone.setStyleSheet(f"border: 2px dashed {border}; border-radius: 8px; padding: 12px;"
                                     "color: palette(text);")

    def dragEnterEvent(self, event) -> None:
        if dropped_path(event.mimeData()) is not None:
            self._set_drop_highlight(True)
            event.acceptProposedAction()

    def dragLeaveEvent(self, event) -> None:
        self._set_drop_highlight(False)
        super().dragLeaveEvent(event)

    def dropEvent(self, event) -> None:
        self._set_drop_highlight(False)
        path = dropped_path(event.mimeData())
        if path is not None:
            event.acceptProposedAction()
            self.pathDropped.emit(str(path))
