"""A thumbnail gallery whose images are decoded off the GUI thread.

Items appear at once with their caption and a placeholder; a worker decodes
and shrinks the images and hands back ``QImage`` objects (safe to build off
the GUI thread, unlike ``QPixmap``), which then become icons.
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem

from tlstudio.gui.jobs.thumbnail_jobs import THUMB_PX, load_thumbnails
from tlstudio.gui.jobs.tasks import Task, run_task


@dataclass(frozen=True)
class GridItem:
    path: str
    caption: str
    tooltip: str = ""


class ImageGrid(QListWidget):
    """Icon-mode list of images with captions; ``thumbnailsLoaded`` fires when all are decoded."""

    thumbnailsLoaded = Signal()
    imageActivated = Signal(str)          # path of a double-clicked item

    def __init__(self, parent=None, thumb_px: int = THUMB_PX):
        super().__init__(parent)
        self.thumb_px = thumb_px
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setWrapping(True)
        self.setWordWrap(True)
        self.setUniformItemSizes(True)
        self.setIconSize(QSize(thumb_px, thumb_px))
        self.setGridSize(QSize(thumb_px + 104, thumb_px + 56))
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setSpacing(4)
        self.setSelectionMode(QListWidget.SelectionMode.SingleSelection)
        self._task: Task | None = None
        self._placeholder = self._make_placeholder()
        self.loaded_count = 0
        self.itemDoubleClicked.connect(lambda item: self.imageActivated.emit(item.data(Qt.ItemDataRole.UserRole)))

    def _make_placeholder(self) -> QIcon:
        pixmap = QPixmap(self.thumb_px, self.thumb_px)
        pixmap.fill(QColor("#e6e6e6"))
        return QIcon(pixmap)

    def set_items(self, items: list[GridItem]) -> None:
        """Show these items now; thumbnails follow from a worker."""
        if self._task is not None:
            self._task.cancel()
        self.clear()
        self.loaded_count = 0
        for entry in items:
            item = QListWidgetItem(self._placeholder, entry.caption)
            item.setData(Qt.ItemDataRole.UserRole, entry.path)
            item.setToolTip(entry.tooltip or entry.path)
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            self.addItem(item)
        if not items:
            self._task = None
            self.thumbnailsLoaded.emit()
            return
        paths = [entry.path for entry in items]
        task = run_task(load_thumbnails, paths, self.thumb_px, with_progress=True)
        task.finished.connect(self._on_thumbnails)
        self._task = task

    @Slot(object)
    def _on_thumbnails(self, images) -> None:
        if self.sender() is not self._task or images is None:
            return                      # a newer gallery replaced this one
        for index, image in enumerate(images):
            item = self.item(index)
            if item is not None and not image.isNull():
                item.setIcon(QIcon(QPixmap.fromImage(image)))
        self.loaded_count = len(images)
        self._task = None
        self.thumbnailsLoaded.emit()

    def paths(self) -> list[str]:
        return [self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.count())]

    def captions(self) -> list[str]:
        return [self.item(i).text() for i in range(self.count())]

    def is_running(self) -> bool:
        return self._task is not None and self._task.is_running()

    def stop_and_wait(self, timeout_ms: int = 3000) -> bool:
        if self._task is None:
            return True
        self._task.cancel()
        return self._task.wait(timeout_ms)
