"""A Qt table model over folder-prediction rows (``core.runs.predict_folder``), appended a batch at a time.

Columns: Path, Label, Probability, Top classes, Error. A multi-label row shows
its whole label set in Label ("bag, strap"; the most probable one's
probability) and every label's own probability in Top classes. ``SORT_ROLE``
gives each cell's value to sort by (the probability as a number; an error row
sorts below every probability), so a ``QSortFilterProxyModel`` with that sort
role orders the table while rows keep arriving. Rows appended with
``from_file=True`` (what a resumed prediction file already held) are drawn muted.
"""
from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QColor

COLUMNS = ("Path", "Label", "Probability", "Top classes", "Error")
SORT_ROLE = Qt.ItemDataRole.UserRole
MUTED = QColor("#7a7a7a")


def _label_names(row: dict) -> list[str]:
    return [e["label"] if isinstance(e, dict) else str(e) for e in row.get("labels") or []]


def _top_classes(row: dict) -> str:
    top = row.get("top_k", []) if "labels" in row else row.get("top_k", [])[1:]
    return ", ".join(f"{t['label']} {t['probability']:.1%}" for t in top)


def _label(row: dict) -> str:
    if "labels" in row:
        return ", ".join(_label_names(row)) or "(none above its threshold)"
    return row["label"]


class PredictionRowsModel(QAbstractTableModel):
    """Read-only rows ({path, label, probability, top_k} or {path, error}); ``rows`` keeps them as given."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[dict] = []
        self.errors = 0                      # rows with an error
        self.from_file: set[int] = set()     # indices of rows the output file already held

    def append_rows(self, rows: list[dict], from_file: bool = False) -> None:
        if not rows:
            return
        first = len(self.rows)
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        self.rows.extend(rows)
        self.errors += sum(1 for r in rows if r.get("error"))
        if from_file:
            self.from_file.update(range(first, first + len(rows)))
        self.endInsertRows()

    def clear(self) -> None:
        self.beginResetModel()
        self.rows, self.errors, self.from_file = [], 0, set()
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
        return (_label(row), f"{row['probability']:.1%}", _top_classes(row), "")[column - 1]

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
            note = " (already in the output file)" if index.row() in self.from_file else ""
            return (row.get("error") or row["path"]) + note
        if role == Qt.ItemDataRole.ForegroundRole and index.row() in self.from_file:
            return MUTED
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None
