"""Pieces of the Data tab: the class-count bar chart, the thumbnail loader, previews.

Thumbnails are decoded on a private ``QThreadPool`` as ``QImage`` objects
(safe off the GUI thread, unlike ``QPixmap``); each batch carries a
generation number so results for a class the user already left are dropped.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, QRect, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from tlstudio.core.progress import TaskState
from tlstudio.gui.qimages import pil_to_qimage

THUMB_PX = 96
BATCH = 16
IMBALANCE_RATIO = 3.0   # largest / smallest class count that earns a warning


def load_thumbnail(path: str, size: int = THUMB_PX) -> QImage:
    """A shrunken RGB thumbnail; a null QImage when the file cannot be decoded."""
    from tlstudio.core.data.images import load_image_rgb
    from tlstudio.core.errors import DatasetError

    try:
        image = load_image_rgb(path)
    except (DatasetError, OSError):
        return QImage()
    # Fit the box both ways: small images (28 px Fashion-MNIST) are scaled up to stay visible.
    scale = size / max(image.width, image.height)
    target = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    from PIL import Image
    return pil_to_qimage(image.resize(target, Image.Resampling.BICUBIC if scale > 1 else Image.Resampling.LANCZOS))


def imbalance_warning(counts: dict[str, int], noun: str = "images") -> str:
    if len(counts) < 2:
        return ""
    big = max(counts, key=counts.get)
    small = min(counts, key=counts.get)
    if counts[small] and counts[big] / counts[small] <= IMBALANCE_RATIO:
        return ""
    ratio = counts[big] / max(1, counts[small])
    return (f"Classes are imbalanced: '{big}' has {counts[big]} {noun}, '{small}' only {counts[small]} "
            f"({ratio:.0f}×). Consider a class-weighted loss (Train tab) or more {noun} of '{small}'.")


class _ThumbSignals(QObject):
    loaded = Signal(int, int, QImage)      # generation, row, image


class _ThumbJob(QRunnable):
    def __init__(self, signals: _ThumbSignals, task: TaskState, generation: int,
                 items: list[tuple[int, str]]) -> None:
        super().__init__()
        self._signals, self._task, self._generation, self._items = signals, task, generation, items

    def run(self) -> None:
        for row, path in self._items:
            if self._task.is_cancelled:
                return  # the user moved on to another class
            self._signals.loaded.emit(self._generation, row, load_thumbnail(path))


class ThumbnailLoader(QObject):
    """Loads thumbnails for one list of paths at a time; ``thumbnailReady(row, image)``."""

    thumbnailReady = Signal(int, QImage)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.generation = 0
        self.task = TaskState()            # the current load's; cancelled when another starts
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self.signals = _ThumbSignals(self)
        self.signals.loaded.connect(self._on_loaded)

    def load(self, paths: list[str]) -> None:
        self.cancel()
        self.task = TaskState()
        items = list(enumerate(paths))
        for start in range(0, len(items), BATCH):
            self.pool.start(_ThumbJob(self.signals, self.task, self.generation, items[start:start + BATCH]))

    def cancel(self) -> None:
        self.task.cancel()
        self.generation += 1        # thumbnails already on their way are dropped

    def wait(self, timeout_ms: int = 10000) -> bool:
        self.cancel()
        return self.pool.waitForDone(timeout_ms)

    def _on_loaded(self, generation: int, row: int, image: QImage) -> None:
        if generation == self.generation:
            self.thumbnailReady.emit(row, image)


class ClassBarChart(QWidget):
    """Horizontal bars, one per class, with the count at the end; click a bar to pick a class."""

    classClicked = Signal(int)
    ROW = 22

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("classChart")
        self._rows: list[tuple[str, int]] = []
        self._selected = -1
        self._muted = 0
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def set_counts(self, rows: list[tuple[str, int]], muted: int = 0) -> None:
        """One bar per (name, count); the last ``muted`` rows (the unlabeled pool) are drawn grey."""
        self._rows = list(rows)
        self._muted = max(0, int(muted))
        self._selected = min(self._selected, len(self._rows) - 1)
        self.setFixedHeight(max(1, len(self._rows)) * self.ROW + 8)
        self.update()

    def set_selected(self, row: int) -> None:
        self._selected = row
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(300, max(1, len(self._rows)) * self.ROW + 8)

    def mousePressEvent(self, event) -> None:
        row = int((event.position().y() - 4) // self.ROW)
        if 0 <= row < len(self._rows):
            self.classClicked.emit(row)

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        if not self._rows:
            painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No dataset yet")
            return
        metrics = QFontMetrics(self.font())
        name_w = min(max(metrics.horizontalAdvance(n) for n, _ in self._rows) + 10, self.width() // 3)
        count_w = metrics.horizontalAdvance(f"{max(c for _, c in self._rows):,}") + 10
        bar_w = max(10, self.width() - name_w - count_w - 8)
        top = max(c for _, c in self._rows) or 1
        for i, (name, count) in enumerate(self._rows):
            y = 4 + i * self.ROW
            if i == self._selected:
                painter.fillRect(QRect(0, y, self.width(), self.ROW), pal.color(QPalette.ColorRole.Highlight).lighter(170))
            painter.setPen(pal.color(QPalette.ColorRole.WindowText))
            text = metrics.elidedText(name, Qt.TextElideMode.ElideRight, name_w - 8)
            painter.drawText(QRect(4, y, name_w - 4, self.ROW), Qt.AlignmentFlag.AlignVCenter, text)
            w = max(2, int(bar_w * count / top))
            muted = i >= len(self._rows) - self._muted
            painter.fillRect(QRect(name_w, y + 4, w, self.ROW - 8), QColor("#a6acaf" if muted else "#2e86c1"))
            painter.drawText(QRect(name_w + w + 4, y, count_w, self.ROW), Qt.AlignmentFlag.AlignVCenter, f"{count:,}")
        painter.end()
