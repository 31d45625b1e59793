"""The Label-next tab's rows per modality: an image shows as a thumbnail (decoded off the GUI
thread) with its file; a text as its words. Both fill the same table columns."""
from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem

from tlstudio.gui.jobs.thumbnail_jobs import ThumbnailLoader

THUMB = 72
TEXT_ROW = 44


class ImageLabelRows(QObject):
    """Thumbnails in the first column, the sample's key in the second."""

    def __init__(self, table: QTableWidget, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.table = table
        self.thumbs = ThumbnailLoader(self)
        self.thumbs.thumbnailReady.connect(self._on_thumbnail)

    def activate(self) -> None:
        self.table.setColumnHidden(0, False)
        self.table.setColumnWidth(0, THUMB + 8)
        self.table.setIconSize(QPixmap(THUMB, THUMB).size())
        self.table.verticalHeader().setDefaultSectionSize(THUMB + 6)
        self.table.setWordWrap(False)

    def fill(self, rows: list[dict]) -> None:
        for r, row in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem())
            item = QTableWidgetItem(row["key"])
            item.setToolTip(row["path"])
            self.table.setItem(r, 1, item)
        self.thumbs.load([row["path"] for row in rows])

    def stop(self) -> None:
        self.thumbs.wait(2000)

    def _on_thumbnail(self, row: int, image) -> None:
        item = self.table.item(row, 0)
        if item is not None and not image.isNull():
            item.setIcon(QIcon(QPixmap.fromImage(image)))


class TextLabelRows(QObject):
    """The text itself in the sample column (wrapped; the full text and its row as the tooltip)."""

    def __init__(self, table: QTableWidget, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.table = table

    def activate(self) -> None:
        self.table.setColumnHidden(0, True)
        self.table.verticalHeader().setDefaultSectionSize(TEXT_ROW)
        self.table.setWordWrap(True)

    def fill(self, rows: list[dict]) -> None:
        for r, row in enumerate(rows):
            item = QTableWidgetItem(" ".join(str(row["text"]).split()))
            item.setToolTip(f"{row['row']}\n\n{row['text']}")
            self.table.setItem(r, 1, item)

    def stop(self) -> None:
        pass
