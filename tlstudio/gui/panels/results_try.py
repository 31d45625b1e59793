"""The Results tab's "Try an image" / "Try a text" page (``TryView``).

Images: open or drop files; a worker predicts the loaded run's top classes and
the page shows each image (with its Grad-CAM overlay when "Show where the model
looks" is on) above a table that spells out the top 3 in full. Texts: the top
classes follow as the user types (debounced, in a worker; a prediction for a
text that has since changed is dropped). "Predict a folder…" on either page opens
``predict_folder_dialog.PredictFolderDialog``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QSplitter,
                               QStackedWidget, QVBoxLayout, QWidget)

from tlstudio.gui.jobs import results_jobs
from tlstudio.gui.jobs.tasks import run_task
from tlstudio.gui.panels.predict_folder_dialog import PredictFolderDialog
from tlstudio.gui.widgets.image_grid import GridItem, ImageGrid
from tlstudio.gui.widgets.text_widgets import TextTable
from tlstudio.gui.views import try_tasks

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp)"
TRY_TEXT_DEBOUNCE_MS = 300      # predict once typing pauses this long
IMAGE_HINT = "…or drop image files anywhere on this tab. "
NO_RUN_TIP = "Load a run first (the Run list above); then its model can classify new {noun}."
FOLDER_TIP = "Predict every file below a folder into a table you can sort and save as CSV."


class TryView(QStackedWidget):
    """One page per modality (``pages``): try images, try a text. ``loaded()`` is the run's model (or None)."""

    predicted = Signal(list)            # the predictions shown (images or the one text)
    failed = Signal(str)

    def __init__(self, loaded: Callable[[], object], track: Callable[[object], None], parent=None) -> None:
        super().__init__(parent)
        self._loaded = loaded
        self._track = track
        self._try_task = None
        self.text_result: list[dict] | None = None   # the top-k shown for the text now in the box
        self.tasks = try_tasks()                     # by task type: what a prediction is shown as
        self.task = self.tasks[next(iter(self.tasks))]
        self.folder_buttons: list[QPushButton] = []
        self.folder_dialog: PredictFolderDialog | None = None
        self.pages = {"image": self._build_image_page(), "text": self._build_text_page()}   # by modality
        for page in self.pages.values():
            self.addWidget(page)
        self.set_available(False)

    def show_modality(self, name: str) -> None:
        """Show the page that tries samples of modality ``name``."""
        self.setCurrentWidget(self.pages[name])

    def show_task_type(self, name: str) -> None:
        """Show predictions as task type ``name`` reads them (the top classes; every label)."""
        if self.task is not self.tasks[name]:
            self.task = self.tasks[name]
            self.image_table.model.set_headers(self.task.image_headers)
            self.text_table.model.set_headers(self.task.text_headers)
            self.image_hint.setText(IMAGE_HINT + self.task.image_hint)

    # -- layout ---------------------------------------------------------------------------
    def _build_image_page(self) -> QWidget:
        page = QWidget()
        self.open_images_button = QPushButton("Open images…", objectName="openImagesButton")
        self.open_images_button.clicked.connect(self._open_images)
        self.image_hint = hint = QLabel(IMAGE_HINT + self.task.image_hint, wordWrap=True)
        row = QHBoxLayout()
        row.addWidget(self.open_images_button)
        row.addWidget(self._folder_button())
        row.addWidget(hint, 1)
        self.grid = ImageGrid()
        self.grid.setObjectName("tryGrid")
        self.image_table = TextTable(self.task.image_headers, "tryImageTable")
        self.image_table.search.hide()
        split = QSplitter()
        split.addWidget(self.grid)
        split.addWidget(self.image_table)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        col = QVBoxLayout(page)
        col.addLayout(row)
        col.addWidget(split, 1)
        return page

    def _build_text_page(self) -> QWidget:
        page = QWidget()
        self.text_edit = QPlainTextEdit(objectName="tryTextEdit")
        self.text_edit.setPlaceholderText("Type or paste a text: its top classes appear as you type.")
        self.text_edit.setMaximumHeight(64)     # the top 3 below stay in view at 1024×700
        self.text_table = TextTable(self.task.text_headers, "tryTextTable")
        self.text_table.search.hide()
        self.text_note = QLabel(objectName="tryTextNote")
        self.text_note.setStyleSheet("color: #666666;")
        self._timer = QTimer(self, singleShot=True, interval=TRY_TEXT_DEBOUNCE_MS)
        self._timer.timeout.connect(self._predict_typed_text)
        self.text_edit.textChanged.connect(self._on_text_edited)
        col = QVBoxLayout(page)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self._folder_button())
        folder_row.addStretch(1)
        col.addLayout(folder_row)
        col.addWidget(self.text_edit)
        col.addWidget(self.text_note)
        col.addWidget(self.text_table, 1)
        return page

    def set_available(self, on: bool) -> None:
        """Enabled once a run is loaded; the tooltip says why not otherwise."""
        self.open_images_button.setEnabled(on)
        self.text_edit.setEnabled(on)
        self.open_images_button.setToolTip("" if on else NO_RUN_TIP.format(noun="images"))
        self.text_edit.setToolTip("" if on else NO_RUN_TIP.format(noun="texts"))
        for button in self.folder_buttons:
            button.setEnabled(on)
            button.setToolTip(FOLDER_TIP if on else NO_RUN_TIP.format(noun="folders"))

    def clear(self) -> None:
        """Forget what was tried (a new run or a new project)."""
        self._try_task = None
        self.text_result = None
        self.grid.set_items([])
        self.image_table.set_rows([])
        self.text_table.set_rows([])
        self.text_note.setText("")
        self.text_edit.blockSignals(True)
        self.text_edit.clear()
        self.text_edit.blockSignals(False)

    # -- a whole folder ----------------------------------------------------------------------
    def _folder_button(self) -> QPushButton:
        button = QPushButton("Predict a folder…", objectName="predictFolderButton")
        button.clicked.connect(self.open_predict_folder)
        self.folder_buttons.append(button)
        return button

    def open_predict_folder(self) -> PredictFolderDialog:
        """Show the "Predict a folder" dialog (one per page set; it keeps its last results)."""
        if self.folder_dialog is None:
            self.folder_dialog = PredictFolderDialog(self._loaded, self._track, self)
        self.folder_dialog.show()
        self.folder_dialog.raise_()
        return self.folder_dialog

    # -- images -----------------------------------------------------------------------------
    def _open_images(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Images to classify", "", IMAGE_FILTER)
        if paths:
            self.try_images(paths)

    def try_images(self, paths: list[str]) -> bool:
        """Predict the loaded model's top classes for these files, in a worker; False with no run."""
        loaded = self._loaded()
        if loaded is None:
            return False
        from tlstudio.core.runs.predict import predict_images

        task = run_task(predict_images, loaded, [str(p) for p in paths], self.task.top_k(loaded), with_progress=True)
        task.finished.connect(self._on_predicted)
        task.failed.connect(self.failed)
        self._track(task)
        return True

    @Slot(object)
    def _on_predicted(self, predictions: list) -> None:
        items, rows, tips, muted = [], [], [], set()
        width = len(self.task.image_headers)
        for p in predictions:
            if "error" in p:
                items.append(GridItem(p["path"], "unreadable", p["error"]))
                rows.append((Path(p["path"]).name, "unreadable") + ("",) * (width - 2))
                tips.append(p["error"])
                continue
            shown = self.task.images([p], self._loaded())
            items.append(GridItem(p["path"], *shown.captions[0]))
            muted.update(len(rows) + r for r in shown.muted)
            rows += shown.rows
            tips += shown.tips
        self.grid.set_items(items)
        self.image_table.set_rows(rows, tips, muted)
        self.predicted.emit(predictions)

    # -- a text ----------------------------------------------------------------------------------
    def _on_text_edited(self) -> None:
        self._try_task = None               # whatever is on its way is for an older text
        self._timer.start()

    def try_text(self, text: str) -> None:
        """Put ``text`` in the box; its prediction follows once the debounce ends."""
        self.text_edit.setPlainText(text)

    @Slot()
    def _predict_typed_text(self) -> None:
        text = self.text_edit.toPlainText().strip()
        if not text:
            self.text_table.set_rows([])
            self.text_note.setText("")
            self.text_result = None
            return
        loaded = self._loaded()
        if loaded is None:
            self.text_note.setText("Load a run first; then texts can be classified.")
            return
        self.text_note.setText("Predicting…")
        task = run_task(results_jobs.predict_text_job, loaded, text, self.task.top_k(loaded))
        self._try_task = task
        task.finished.connect(lambda result: self._on_text_predicted(task, text, result))
        task.failed.connect(lambda message: task is self._try_task and self.text_note.setText(
            f"Prediction failed: {message}"))
        self._track(task)

    def _on_text_predicted(self, task, text: str, result: list) -> None:
        if task is not self._try_task or text != self.text_edit.toPlainText().strip():
            return                                # the text changed meanwhile: a newer prediction follows
        self._try_task = None
        if result and "error" in result[0]:
            self.text_result = []
            self.text_table.set_rows([])
            self.text_note.setText(result[0]["error"])
            return
        self.text_result = result[0].get("top_k", []) if result else []
        shown = self.task.text(result[0] if result else {}, self._loaded())
        self.text_table.set_rows(shown.rows, None, shown.muted)
        self.text_note.setText(shown.note)
        self.predicted.emit(result)
