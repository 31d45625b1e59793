"""A Qt table model over folder-prediction rows (``core.runs.predict_folder``), appended a batch at a time.

Columns: Path, Label, Probability, Top classes, Error. ``SORT_ROLE`` gives each
cell's value to sort by (the probability as a number; an error row sorts
below every probability), so a ``QSortFilterProxyModel`` with that sort role
orders the table while rows keep arriving.
"""
from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt

COLUMNS = ("Path", "Label", "Probability", "Top classes", "Error")
SORT_ROLE = Qt.ItemDataRole.UserRole


def _top_classes(row: dict) -> str:
    return ", ".join(f"{t['label']} {t['probability']:.1%}" for t in row.get("top_k", [])[1:])


class PredictionRowsModel(QAbstractTableModel):
    """Read-only rows ({path, label, probability, top_k} or {path, error}); ``rows`` keeps them as given."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[dict] = []
        self.errors = 0                      # rows with an error

    def append_rows(self, rows: list[dict]) -> None:
        if not rows:
            return
        first = len(self.rows)
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        self.rows.extend(rows)
        self.errors += sum(1 for r in rows if r.get("error"))
        self.endInsertRows()

    def clear(self) -> None:
        self.beginResetModel()
        self.rows, self.errors = [], 0
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def _display(self, row: dict, column: int) -> str:
        if column == 0:
            return row["path"]
        if row.get("error"):
            return row["error"] if column == 4 else ""
        return (row["label"], f"{row['probability']:.1%}", _top_classes(row), "")[column - 1]

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, column = self.rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == SORT_ROLE:
            if column == 2:
                return -1.0 if row.get("error") else float(row["probability"])
            return self._display(row, column).lower()
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.get("error") or row["path"]
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None
