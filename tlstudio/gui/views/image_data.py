"""The Data tab's image page: thumbnails of the selected class (loaded on a thread pool), the
augmentation preset and previews of the selected thumbnail (computed in a worker)."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPixmap, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QComboBox, QFormLayout, QGridLayout, QGroupBox, QLabel, QListView, QVBoxLayout, QWidget

from tlstudio.gui.icons import icon
from tlstudio.gui.jobs.tasks import run_task
from tlstudio.gui.jobs.data_jobs import preview_job
from tlstudio.gui.widgets.dataset_widgets import THUMB_PX, ThumbnailLoader

MAX_THUMBS = 300          # per class; enough to judge a class at a glance
PREVIEWS = 6
PREVIEW_PX = 96
NO_SELECTION = "Select an image to preview its augmented versions."


class ImageDataPage:
    """What the Data tab shows of an image dataset; ``browser`` is the DatasetBrowser that holds it."""

    items_title = "Images"
    side_stretch = 0
    skipped_title = "Skipped files"
    skipped_headers = ("File", "Reason")

    def __init__(self, browser) -> None:
        self.browser = browser
        self.state = browser.state
        self._preview_task = None
        self.thumb_model = QStandardItemModel(browser)
        self.thumb_view = QListView(objectName="thumbnailView")
        self.thumb_view.setViewMode(QListView.ViewMode.IconMode)
        self.thumb_view.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.thumb_view.setGridSize(QSize(THUMB_PX + 16, THUMB_PX + 24))
        self.thumb_view.setResizeMode(QListView.ResizeMode.Adjust)
        self.thumb_view.setMovement(QListView.Movement.Static)
        self.thumb_view.setUniformItemSizes(True)
        self.thumb_view.setSelectionMode(QListView.SelectionMode.ExtendedSelection)   # label several at once
        self.thumb_view.setModel(self.thumb_model)
        self.thumbs = ThumbnailLoader(browser)
        self.thumbs.thumbnailReady.connect(self._on_thumbnail)
        self.aug_box = QGroupBox("Augmentation (training only)")
        self.augment_combo = QComboBox(objectName="augmentCombo")
        for preset in ("none", "light", "strong"):
            self.augment_combo.addItem(preset.capitalize(), preset)
        self.preview_note = QLabel(NO_SELECTION, wordWrap=True)
        self.preview_labels = []
        grid = QGridLayout()
        grid.setSpacing(4)
        for i in range(PREVIEWS):
            label = QLabel()
            label.setFixedSize(PREVIEW_PX, PREVIEW_PX)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setStyleSheet("background: palette(base); border: 1px solid palette(mid);")
            self.preview_labels.append(label)
            grid.addWidget(label, i // 3, i % 3)
        grid.setColumnStretch(3, 1)
        abox = QVBoxLayout(self.aug_box)
        aform = QFormLayout()
        aform.addRow("Preset:", self.augment_combo)
        abox.addLayout(aform)
        abox.addWidget(self.preview_note)
        self.preview_box = QWidget()
        self.preview_box.setLayout(grid)
        self.preview_box.hide()
        abox.addWidget(self.preview_box)
        self.thumb_view.selectionModel().currentChanged.connect(lambda *_: self._update_previews())
        self.augment_combo.currentIndexChanged.connect(self._augment_edited)

    # -- the slots the browser lays out -----------------------------------------------------------
    @property
    def items(self) -> QWidget:        # middle: the selected class's samples
        return self.thumb_view

    @property
    def side(self) -> QWidget:         # right, under the split
        return self.aug_box

    @property
    def item_view(self) -> QWidget:    # where the samples are selected (the labelling context menu)
        return self.thumb_view

    top = None                         # under the message: nothing for images
    report = None                      # above the skipped table: nothing for images

    # -- what the browser tells the page ------------------------------------------------------------
    def load_settings(self) -> None:
        self.augment_combo.blockSignals(True)
        self.augment_combo.setCurrentIndex(max(0, self.augment_combo.findData(self.state.project.data.augment)))
        self.augment_combo.blockSignals(False)

    def show_dataset(self, index) -> None:
        """``index`` is None when another page is shown."""

    def skipped_location(self, index, path: str) -> str:
        return os.path.relpath(path, index.root)

    def show_class(self, index, row: int) -> str:
        """Show class ``row`` of ``index`` (``UNLABELED``: the pool; ``index`` None: nothing); return
        the note beside the class choice."""
        self.thumbs.cancel()
        self.thumb_model.clear()
        if index is None:
            self._update_previews()
            return ""
        paths = [s.path for s in index.members(row)]
        shown = paths[:MAX_THUMBS]
        for path in shown:
            item = QStandardItem(icon("data"), Path(path).name)
            item.setData(path, Qt.ItemDataRole.UserRole)
            item.setToolTip(path)
            item.setEditable(False)
            self.thumb_model.appendRow(item)
        self.thumbs.load(shown)
        self._update_previews()
        return f"first {len(shown)} of {len(paths)}" if len(shown) < len(paths) else ""

    def on_scan_failed(self, message: str) -> None:
        """Nothing to offer: an image scan has no choice to make."""

    def on_model_changed(self) -> None:
        """The previews follow the model's image size when next computed."""

    def shutdown(self, timeout_ms: int) -> None:
        self.thumbs.wait(timeout_ms)

    # -- thumbnails and previews --------------------------------------------------------------------
    def _on_thumbnail(self, row: int, image: QImage) -> None:
        item = self.thumb_model.item(row)
        if item is not None and not image.isNull():
            item.setIcon(QIcon(QPixmap.fromImage(image)))

    def _augment_edited(self) -> None:
        self.state.project.data.augment = self.augment_combo.currentData()
        self.state.mark_changed("data")
        self._update_previews()

    def selected_paths(self) -> list[str]:
        """The paths of the selected thumbnails, in view order."""
        rows = sorted(i.row() for i in self.thumb_view.selectionModel().selectedIndexes())
        return [self.thumb_model.item(r).data(Qt.ItemDataRole.UserRole) for r in rows]

    def selected_image(self) -> str | None:
        current = self.thumb_view.currentIndex()
        return current.data(Qt.ItemDataRole.UserRole) if current.isValid() else None

    def _update_previews(self) -> None:
        path = self.selected_image()
        for label in self.preview_labels:
            label.clear()
        self.preview_box.setVisible(path is not None)
        if path is None:
            self.preview_note.setText(NO_SELECTION)
            return
        self.preview_note.setText("Computing previews…")
        p = self.state.project
        task = run_task(preview_job, path, p.model.name, p.model.image_size, p.data.augment, PREVIEWS,
                        parent=self.browser)
        self._preview_task = task
        task.finished.connect(lambda images: self._on_previews(task, images))
        task.failed.connect(lambda message: task is self._preview_task and self.preview_note.setText(message))

    def _on_previews(self, task, images: list[QImage]) -> None:
        if task is not self._preview_task:
            return
        preset = self.state.project.data.augment
        self.preview_note.setText(f"{Path(self.selected_image() or '').name} — preset '{preset}', "
                                  "as the network will see it during training")
        for label, image in zip(self.preview_labels, images):
            label.setPixmap(QPixmap.fromImage(image).scaled(
                label.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))
