"""Worker jobs that decode thumbnails off the GUI thread, as ``QImage`` objects (safe to build off the GUI
thread, unlike ``QPixmap``).

``load_thumbnails`` is a task-runner job (``run_task``) for a gallery that wants all its images at once;
``ThumbnailLoader`` feeds a long list row by row from a private ``QThreadPool``, each batch carrying a
generation number so results for a list the user already left are dropped.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage

from tlstudio.core.progress import JobState
from tlstudio.gui.qimages import pil_to_qimage

THUMB_PX = 96
BATCH = 16


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



def load_thumbnails(paths: list[str], size: int, job=None) -> list[QImage] | None:
    """Worker job: thumbnails for ``paths`` in order (None when ``job``, a JobState, is cancelled)."""
    images = []
    for done, path in enumerate(paths, 1):
        if job is not None and job.is_cancelled:
            return None
        images.append(load_thumbnail(path, size))
        if job is not None:
            job.set_progress(done, len(paths))
    return images


class _ThumbSignals(QObject):
    loaded = Signal(int, int, QImage)      # generation, row, image


class _ThumbJob(QRunnable):
    def __init__(self, signals: _ThumbSignals, job: JobState, generation: int,
                 items: list[tuple[int, str]]) -> None:
        super().__init__()
        self._signals, self._job, self._generation, self._items = signals, job, generation, items

    def run(self) -> None:
        for row, path in self._items:
            if self._job.is_cancelled:
                return  # the user moved on to another class
            self._signals.loaded.emit(self._generation, row, load_thumbnail(path))


class ThumbnailLoader(QObject):
    """Loads thumbnails for one list of paths at a time; ``thumbnailReady(row, image)``."""

    thumbnailReady = Signal(int, QImage)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.generation = 0
        self.job = JobState()            # the current load's; cancelled when another starts
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self.signals = _ThumbSignals(self)
        self.signals.loaded.connect(self._on_loaded)

    def load(self, paths: list[str]) -> None:
        self.cancel()
        self.job = JobState()
        items = list(enumerate(paths))
        for start in range(0, len(items), BATCH):
            self.pool.start(_ThumbJob(self.signals, self.job, self.generation, items[start:start + BATCH]))

    def cancel(self) -> None:
        self.job.cancel()
        self.generation += 1        # thumbnails already on their way are dropped

    def wait(self, timeout_ms: int = 10000) -> bool:
        self.cancel()
        return self.pool.waitForDone(timeout_ms)

    def _on_loaded(self, generation: int, row: int, image: QImage) -> None:
        if generation == self.generation:
            self.thumbnailReady.emit(row, image)
