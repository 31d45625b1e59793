"""Pieces of the Data and Results tabs for text: a searchable table of texts and the
token-length histogram."""
from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QLineEdit, QTableView, QVBoxLayout,
                               QWidget)

from tlstudio.gui.widgets.charts import ChartCanvas

MUTED_COLOR = "#9a9a9a"
PREVIEW_CHARS = 400          # longer texts are cut in the table; the tooltip shows the whole text


class RowsModel(QAbstractTableModel):
    """Read-only rows of strings (or numbers, shown as given) with a tooltip per row; ``muted`` rows are
    greyed (a multi-label prediction's labels below their threshold)."""

    def __init__(self, headers: list[str], parent=None) -> None:
        super().__init__(parent)
        self.headers = list(headers)
        self.rows: list[tuple] = []
        self.tooltips: list[str] = []
        self.muted: set[int] = set()

    def set_rows(self, rows: list[tuple], tooltips: list[str] | None = None, muted: set[int] | None = None) -> None:
        self.beginResetModel()
        self.rows = [tuple(r) for r in rows]
        self.tooltips = list(tooltips) if tooltips is not None else ["" for _ in rows]
        self.muted = set(muted or ())
        self.endResetModel()

    def set_headers(self, headers: list[str]) -> None:
        self.beginResetModel()
        self.headers = list(headers)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.headers)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        value = self.rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            text = value if isinstance(value, str) else str(value)
            return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"
        if role == Qt.ItemDataRole.UserRole:
            return value
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.tooltips[index.row()] or None
        if role == Qt.ItemDataRole.ForegroundRole and index.row() in self.muted:
            return QColor(MUTED_COLOR)
        if role == Qt.ItemDataRole.TextAlignmentRole and not isinstance(value, str):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.headers[section]
        return None


class TextTable(QWidget):
    """A search box over a table of texts (any column matches, case-insensitive)."""

    def __init__(self, headers: list[str], object_name: str, placeholder: str = "Search texts…",
                 parent=None) -> None:
        super().__init__(parent)
        self.model = RowsModel(headers, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)
        self.search = QLineEdit(placeholderText=placeholder, clearButtonEnabled=True,
                                objectName=f"{object_name}Search")
        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        self.view = QTableView(objectName=object_name)
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setWordWrap(False)
        self.view.verticalHeader().hide()
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.note = QLabel(objectName=f"{object_name}Note")
        self.note.setStyleSheet("color: #666666;")
        self.proxy.rowsInserted.connect(self._update_note)
        self.proxy.rowsRemoved.connect(self._update_note)
        self.proxy.modelReset.connect(self._update_note)
        self.proxy.layoutChanged.connect(self._update_note)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.search)
        box.addWidget(self.view, 1)
        box.addWidget(self.note)

    def set_rows(self, rows: list[tuple], tooltips: list[str] | None = None, muted: set[int] | None = None) -> None:
        self.model.set_rows(rows, tooltips, muted)
        self._update_note()

    def visible_rows(self) -> list[tuple]:
        """The rows the search lets through, in the order shown."""
        return [self.model.rows[self.proxy.mapToSource(self.proxy.index(r, 0)).row()]
                for r in range(self.proxy.rowCount())]

    def _update_note(self, *_args) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.note.setText(f"{shown} of {total} shown" if shown != total else f"{total} rows")


class LengthHistogram(ChartCanvas):
    """Token lengths of all texts (stacked by class is too busy: one bar per length bin), with the
    chosen max length as a line and how many texts it would truncate."""

    def __init__(self, parent=None) -> None:
        super().__init__("tokenHistogram", parent, figsize=(4.0, 2.6))
        self.ax = self.figure.add_subplot(1, 1, 1)
        self.stats = None
        self.show_hint("Token lengths appear here once a text dataset is open.")

    def show_hint(self, text: str) -> None:
        self.stats = None
        self.ax.clear()
        self.ax.set_axis_off()
        self.ax.text(0.5, 0.5, text, ha="center", va="center", transform=self.ax.transAxes, color="#777777",
                     fontsize=9, wrap=True)
        self.draw_idle()

    def set_stats(self, stats) -> None:
        self.stats = stats
        ax = self.ax
        ax.clear()
        ax.set_axis_on()
        edges = stats.bin_edges
        totals = [sum(c.histogram[i] for c in stats.per_class) for i in range(len(edges) - 1)]
        width = edges[1] - edges[0] if len(edges) > 1 else 1
        colors = ["#d62728" if edges[i] >= stats.max_length else "#1f77b4" for i in range(len(totals))]
        ax.bar(edges[:-1], totals, width=width, align="edge", color=colors, edgecolor="white", linewidth=0.5)
        ax.axvline(stats.max_length, color="#444444", linestyle="--", linewidth=1)
        ax.annotate(f"max length {stats.max_length}", xy=(stats.max_length, 1.0),
                    xycoords=("data", "axes fraction"), xytext=(-3, -10), textcoords="offset points",
                    fontsize=8, color="#444444", ha="right")
        ax.set_xlabel("tokens per text", fontsize=9)
        ax.set_ylabel("texts", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.set_xlim(0, edges[-1])
        self.draw_idle()
