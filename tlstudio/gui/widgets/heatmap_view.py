"""Heat-map overlays on an ImageGrid, and a label of highlighted words.

``GridHeatmaps`` swaps a gallery's thumbnails for Grad-CAM overlays while it is
enabled and puts the plain thumbnails back when it is not. The overlays are made
by worker jobs (``jobs/explain_jobs.py``) a few images at a time, so the first
ones show quickly in a long gallery; a gallery refilled meanwhile, or the toggle
switched off, drops what is still on its way.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from tlstudio.gui.jobs.explain_jobs import heatmap_thumbnails
from tlstudio.gui.jobs.tasks import run_task

IMAGES_PER_JOB = 4


class GridHeatmaps(QObject):
    """Grad-CAM overlays for the images of one ``ImageGrid``."""

    overlaysShown = Signal()          # every image of the gallery now shows its overlay (or could not)

    def __init__(self, grid, parent=None) -> None:
        super().__init__(parent or grid)
        self.grid = grid
        self.enabled = False
        self.model = None             # an explain_jobs.ExplainModel
        self.shown = 0                # overlays on screen now
        self._originals: dict[int, tuple[str, QIcon]] = {}   # item -> (its path, its plain thumbnail)
        self._generation = 0
        self._task = None
        grid.thumbnailsLoaded.connect(self._on_gallery_loaded)

    def set_model(self, model) -> None:
        self.model = model
        self._restore()
        if self.enabled:
            self.refresh()

    def set_enabled(self, on: bool) -> None:
        self.enabled = bool(on)
        if self.enabled:
            self.refresh()
        else:
            self._generation += 1
            self._cancel()
            self._restore()

    @Slot()
    def _on_gallery_loaded(self) -> None:
        self._originals = {}          # a new gallery: its own thumbnails are the originals
        self.shown = 0
        if self.enabled:
            self.refresh()

    def refresh(self) -> None:
        """(Re)compute the overlays of the gallery now shown."""
        self._generation += 1
        self._cancel()
        if self.model is None or self.grid.is_running():
            return                    # the thumbnails are still coming; their arrival starts us
        paths = self.grid.paths()
        if paths:
            self._start(self._generation, paths, 0)
        else:
            self.overlaysShown.emit()

    def _start(self, generation: int, paths: list[str], start: int) -> None:
        chunk = paths[start:start + IMAGES_PER_JOB]
        task = run_task(heatmap_thumbnails, self.model, chunk, self.grid.thumb_px, with_progress=True)
        task.finished.connect(lambda images: self._on_chunk(generation, paths, start, images))
        self._task = task

    def _on_chunk(self, generation: int, paths: list[str], start: int, images) -> None:
        if generation != self._generation or not self.enabled or images is None:
            return
        for k, image in enumerate(images):
            item = self.grid.item(start + k)
            if item is None or image.isNull() or item.data(Qt.ItemDataRole.UserRole) != paths[start + k]:
                continue
            self._originals.setdefault(start + k, (paths[start + k], item.icon()))
            item.setIcon(QIcon(QPixmap.fromImage(image)))
            self.shown = len(self._originals)
        following = start + IMAGES_PER_JOB
        if following < len(paths):
            self._start(generation, paths, following)
        else:
            self._task = None
            self.overlaysShown.emit()

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _restore(self) -> None:
        for index, (path, icon) in self._originals.items():
            item = self.grid.item(index)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == path:   # not a refilled gallery
                item.setIcon(icon)
        self._originals = {}
        self.shown = 0

    def is_running(self) -> bool:
        return self._task is not None and self._task.is_running()

    def stop_and_wait(self, timeout_ms: int = 30000) -> bool:
        task, self._task = self._task, None
        if task is None:
            return True
        task.cancel()
        return task.wait(timeout_ms)


class TextHighlight(QWidget):
    """A caption and the text with its words on coloured backgrounds (Qt rich text)."""

    def __init__(self, object_name: str, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.caption = QLabel(objectName=f"{object_name}Caption")
        self.caption.setStyleSheet("color: #555555;")
        self.body = QLabel(objectName=f"{object_name}Body")
        self.body.setTextFormat(Qt.TextFormat.RichText)
        self.body.setWordWrap(True)
        self.body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body.setStyleSheet("background: white; padding: 6px; line-height: 160%;")
        self.result: dict | None = None
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 4, 0, 0)
        box.addWidget(self.caption)
        box.addWidget(self.body)
        self.hide()

    def show_busy(self) -> None:
        self.caption.setText("Finding the words that decide…")
        self.show()

    def show_result(self, result: dict) -> None:
        self.result = result
        self.caption.setText(result["caption"])
        self.body.setText(result["html"])
        self.show()

    def show_message(self, message: str) -> None:
        self.result = None
        self.caption.setText(message)
        self.body.setText("")
        self.show()

    def clear(self) -> None:
        self.result = None
        self.caption.setText("")
        self.body.setText("")
        self.hide()
