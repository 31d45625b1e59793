"""The Data tab's text page: a searchable table of the selected class's texts, the validation
report, the text and label columns (chosen by hand when the file does not name them) and the
token-length histogram for the model's max length (tokenised in a worker)."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from tlstudio.core.data.table_read import DELIMITER_NAMES
from tlstudio.gui.jobs.data_jobs import data_columns, token_stats
from tlstudio.gui.jobs.tasks import run_task
from tlstudio.gui.widgets.text_widgets import LengthHistogram, TextTable

COLUMNS_PROBLEM = "Cannot tell which"       # scan_text's message when the columns need choosing


def row_locator(where: str) -> str:
    """A text's place, short: the line of a CSV/JSONL row ("12"), the name of a .txt file."""
    name, _, line = where.rpartition(":")
    if name and line.isdigit():
        return line
    return Path(where).name


class TextDataPage:
    """What the Data tab shows of a text dataset; ``browser`` is the DatasetBrowser that holds it."""

    items_title = "Texts"
    side_stretch = 1                   # the histogram takes the column's height
    skipped_title = "Left out (validation report)"
    skipped_headers = ("Where", "Reason")

    def __init__(self, browser) -> None:
        self.browser = browser
        self.state = browser.state
        self._stats_task = None
        self._columns_task = None
        self.token_stats = None            # the TokenLengthStats shown
        self._shown: list = []             # the samples in the table, in its source order
        self.text_table = TextTable(["Line", "Text"], "textTable", "Search the texts of this class…")
        self.report_label = QLabel(wordWrap=True, objectName="textReport")
        self.report_label.hide()
        # Which column holds the text and which the label.
        self.columns_row = QWidget(objectName="columnsRow")
        self.text_column_combo = QComboBox(objectName="textColumnCombo")
        self.label_column_combo = QComboBox(objectName="labelColumnCombo")
        self.apply_columns_button = QPushButton("Use these columns", objectName="applyColumns")
        crow = QHBoxLayout(self.columns_row)
        crow.setContentsMargins(0, 0, 0, 0)
        crow.addWidget(QLabel("Text column:"))
        crow.addWidget(self.text_column_combo)
        crow.addWidget(QLabel("Label column:"))
        crow.addWidget(self.label_column_combo)
        crow.addWidget(self.apply_columns_button)
        crow.addStretch(1)
        self.columns_row.hide()
        self.lengths_box = QGroupBox("Token lengths")
        self.histogram = LengthHistogram()
        self.truncation_label = QLabel(wordWrap=True, objectName="truncationLabel")
        self.lengths_table = QTableWidget(0, 5, objectName="lengthsTable")
        self.lengths_table.setHorizontalHeaderLabels(["Class", "Median", "95%", "Max", "Truncated"])
        self.lengths_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.lengths_table.verticalHeader().hide()
        self.lengths_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.lengths_table.horizontalHeader().setStretchLastSection(True)
        lbox = QVBoxLayout(self.lengths_box)
        lbox.addWidget(self.histogram, 3)
        lbox.addWidget(self.truncation_label)
        lbox.addWidget(self.lengths_table, 2)
        self.lengths_box.hide()
        self.apply_columns_button.clicked.connect(self._apply_columns)

    # -- the slots the browser lays out -----------------------------------------------------------
    @property
    def items(self) -> QWidget:        # middle: the selected class's samples
        return self.text_table

    @property
    def side(self) -> QWidget:         # right, under the split
        return self.lengths_box

    @property
    def item_view(self) -> QWidget:    # where the samples are selected (the labelling context menu)
        return self.text_table.view

    @property
    def top(self) -> QWidget:          # under the message
        return self.columns_row

    @property
    def report(self) -> QWidget:       # above the skipped table
        return self.report_label

    # -- what the browser tells the page ------------------------------------------------------------
    def load_settings(self) -> None:
        """Nothing: the column choice is read from the project when a scan starts."""

    def show_dataset(self, index) -> None:
        """Issue counts and notes, the column chooser, the token lengths; ``index`` None when another
        page is shown (the column chooser stays when the last scan asked for columns)."""
        self._show_report(index)
        self.update_token_stats(index is not None)

    def skipped_location(self, index, path: str) -> str:
        # A text file's rows are located as "<file>:<line>" already; files relative to the root.
        if getattr(index, "source_format", "") != "folder":
            return path
        return os.path.relpath(path, index.root)

    def show_class(self, index, row: int) -> str:
        """Show the texts of class ``row`` (``UNLABELED``: the pool; ``index`` None: nothing)."""
        samples = index.members(row) if index is not None else []
        self._shown = samples
        self.text_table.set_rows([(row_locator(s.path), s.text or "") for s in samples],
                                 [f"{s.path}\n\n{s.text or ''}" for s in samples])
        return ""

    def selected_paths(self) -> list[str]:
        """The locators of the selected rows, in table order."""
        proxy = self.text_table.proxy
        rows = sorted(proxy.mapToSource(i).row() for i in self.text_table.view.selectionModel().selectedRows())
        return [self._shown[r].path for r in rows if r < len(self._shown)]

    def on_scan_failed(self, message: str) -> None:
        if COLUMNS_PROBLEM in message:
            self._offer_columns(self.state.project.data.path, "", "")

    def on_model_changed(self) -> None:
        self.update_token_stats()

    def shutdown(self, timeout_ms: int) -> None:
        """The token count stops with its task; nothing to wait for."""

    # -- report and columns -------------------------------------------------------------------------
    def _show_report(self, index) -> None:
        if index is None:
            self.report_label.hide()
            message = self.browser.message
            if not (message.isVisible() and COLUMNS_PROBLEM in message.text()):
                self.columns_row.hide()
            return
        counts = index.issue_counts()
        lines = [("Left out: " + ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items()))
                 if counts else "Every row was usable."]
        lines += [f"Note: {note}" for note in index.notes]
        how = "".join(f" · {part}" for part in (index.encoding, DELIMITER_NAMES.get(index.delimiter, "")) if part)
        lines.append(f"Format: {index.source_format}{how}" + (
            f" · text column '{index.text_column}', label column '{index.label_column}'"
            if index.source_format != "folder" else " · one folder of .txt files per class"))
        self.report_label.setText("<br>".join(lines))
        self.report_label.show()
        if index.source_format == "folder":
            self.columns_row.hide()
        else:
            self._offer_columns(index.root, index.text_column, index.label_column)

    def _offer_columns(self, path: str, text_column: str, label_column: str) -> None:
        """Fill the column choosers from the file's header (read in a worker)."""
        task = run_task(data_columns, path, self.browser.reading.encoding(), parent=self.browser)
        self._columns_task = task
        task.finished.connect(lambda columns: task is self._columns_task and self._fill_columns(
            columns, text_column, label_column))

    def _fill_columns(self, columns: list[str], text_column: str, label_column: str) -> None:
        self._columns_task = None
        if len(columns) < 2:
            self.columns_row.hide()
            return
        for combo, current in ((self.text_column_combo, text_column), (self.label_column_combo, label_column)):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(columns)
            combo.setCurrentIndex(max(0, columns.index(current)) if current in columns else -1)
            combo.blockSignals(False)
        if self.text_column_combo.currentIndex() < 0:
            self.text_column_combo.setCurrentIndex(0)
        if self.label_column_combo.currentIndex() < 0:
            self.label_column_combo.setCurrentIndex(1)
        self.columns_row.show()

    def _apply_columns(self) -> None:
        self.choose_columns(self.text_column_combo.currentText(), self.label_column_combo.currentText())

    def choose_columns(self, text_column: str, label_column: str) -> None:
        """Rescan the text file with these columns."""
        if text_column == label_column:
            self.browser.show_message("The text and the label must be two different columns.")
            return
        self.state.set_text_columns(text_column, label_column)
        self.browser.rescan()

    # -- token lengths ------------------------------------------------------------------------------
    def update_token_stats(self, shown: bool = True) -> None:
        """Token lengths of every text for the project's model and max length, in a worker."""
        index = self.state.dataset
        if self._stats_task is not None:
            self._stats_task.cancel()
            self._stats_task = None
        if index is None or not shown:
            return
        self.truncation_label.setText("Counting tokens…")
        task = run_task(token_stats, index, self.state.project.model.name, self.state.max_length(),
                        with_progress=True, parent=self.browser)
        self._stats_task = task
        task.finished.connect(lambda stats: self._on_token_stats(task, stats))
        task.failed.connect(lambda message: task is self._stats_task and self._on_token_stats_failed(message))

    def _on_token_stats(self, task, stats) -> None:
        if task is not self._stats_task:
            return
        self._stats_task = None
        self.token_stats = stats
        self.histogram.set_stats(stats)
        n = len(stats.lengths)
        if stats.truncated:
            self.truncation_label.setText(
                f"<b>{stats.truncated} of {n} texts</b> are longer than the max length of {stats.max_length} "
                "tokens and would be cut (Model tab: max length).")
        else:
            self.truncation_label.setText(f"All {n} texts fit the max length of {stats.max_length} tokens.")
        self.lengths_table.setRowCount(len(stats.per_class))
        for r, c in enumerate(stats.per_class):
            for col, value in enumerate((c.name, f"{c.median:.0f}", f"{c.p95:.0f}", str(c.max), str(c.truncated))):
                item = QTableWidgetItem(value)
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.lengths_table.setItem(r, col, item)

    def _on_token_stats_failed(self, message: str) -> None:
        self._stats_task = None
        self.token_stats = None
        self.histogram.show_hint("No token lengths: the model's tokenizer could not be loaded.")
        self.truncation_label.setText(message)

    def is_counting_tokens(self) -> bool:
        return self._stats_task is not None
