"""The head search's candidates as a table on the Train tab, filled live from search events.

One row per candidate: its settings while it trains, its held-out score once scored; the
winner's row is bold, tinted and marked "★ winner".
"""
from __future__ import annotations

from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem

from tlstudio.core.headsearch.curves import short_number

SEARCH_COLUMNS = ["candidate", "head", "lr", "weight decay", "epochs", "CV accuracy", "CV loss", ""]
VISIBLE_ROWS = 7
WINNER_TINT = QColor("#e3f4e1")


class HeadSearchTable(QTableWidget):
    def __init__(self, parent=None):
        super().__init__(0, len(SEARCH_COLUMNS), parent)
        self.setObjectName("headSearchTable")
        self.setHorizontalHeaderLabels(SEARCH_COLUMNS)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setStretchLastSection(True)
        row_height = self.verticalHeader().defaultSectionSize()
        self.setMinimumHeight(self.horizontalHeader().sizeHint().height() + VISIBLE_ROWS * row_height + 4)
        self.setToolTip("Each candidate head the automatic search tried. CV accuracy and CV loss: scored on "
                        "samples the head never trained on\n(each fold held out once). The winner is "
                        "trained again on all labelled samples.")
        self.hide()

    def reset(self) -> None:
        self.setRowCount(0)
        self.hide()

    def begin(self, candidates: int, folds: int) -> None:
        score = "CV" if folds > 1 else "val"
        self.setHorizontalHeaderLabels([h.replace("CV", score) for h in SEARCH_COLUMNS])
        self.setRowCount(candidates)
        self.show()

    def _set_row(self, row: int, cells: list[str], winner: bool = False) -> None:
        if row >= self.rowCount():
            self.setRowCount(row + 1)
            self.show()
        for c, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if winner:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
                item.setBackground(QBrush(WINNER_TINT))
            self.setItem(row, c, item)

    def trial(self, event) -> None:
        head, rest = event.label.split(", lr ", 1)
        lr, wd = rest.split(", wd ", 1)
        score = [str(event.epochs), f"{event.cv_acc:.1%}", f"{event.cv_loss:.3f}", ""] if event.finished else \
            ["", "", "", "training…"]
        self._set_row(event.candidate, [str(event.candidate + 1), head, lr, wd] + score)
        if not event.finished or event.done >= event.candidates:      # a new head shape starts, or the end
            self.resizeColumnsToContents()

    def finished(self, search: dict) -> None:
        """The full report (search.json): final values, the winner marked."""
        rows = search["trials"]
        self.setUpdatesEnabled(False)
        self.begin(len(rows), search["folds"])
        for r, row in enumerate(rows):
            self._set_row(r, [str(r + 1), row["head"], short_number(row["lr"]), short_number(row["weight_decay"]),
                              str(row["epochs"]), f"{row['cv_accuracy']:.1%}", f"{row['cv_loss']:.3f}",
                              "★ winner" if row["winner"] else ""], winner=bool(row["winner"]))
            if row["winner"]:
                winner = r
        self.resizeColumnsToContents()
        self.setUpdatesEnabled(True)
        if any(row["winner"] for row in rows):
            self.scrollToItem(self.item(winner, 0))
