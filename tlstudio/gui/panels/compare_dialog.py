"""Model tab → "Compare models…": a leaderboard of pretrained models on the project's own data.

The candidates (checked in a list; default: the project's model and every model
whose weights are on this computer; more can be added by name) are compared in
a worker (``gui/jobs/compare_jobs.py``, ``core/compare``): each one's features
through the feature cache, the searched head, held-out accuracy and macro-F1,
throughput, size and the exported model's batch-1 latency. Rows appear as each candidate finishes;
the table sorts by any column; the chart plots accuracy against latency with
the Pareto front marked. "Use this model" makes the selected row the
project's model. Cancel stops between batches and keeps the finished rows;
the leaderboard is saved beside the project file after every candidate, and
shown again when the dialog opens.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QProgressBar, QPushButton, QSplitter, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from tlstudio.core.compare.leaderboard import human_bytes, human_params, leaderboard_path
from tlstudio.gui.jobs.compare_jobs import candidates_job, compare_job
from tlstudio.gui.jobs.tasks import run_task
from tlstudio.gui.widgets.compare_chart import ParetoChart

COLUMNS = ("Pareto", "Model", "Accuracy", "Macro F1", "Latency", "Throughput", "Params", "Size", "Input", "Head")
PARETO_MARK = "★"


class _SortItem(QTableWidgetItem):
    """A cell shown as text and sorted by a number (rows without figures sort last)."""

    def __init__(self, text: str, key: float | None) -> None:
        super().__init__(text)
        self.key = key

    def __lt__(self, other) -> bool:
        mine, theirs = self.key, getattr(other, "key", None)
        if mine is None or theirs is None:
            return theirs is None and mine is not None
        return mine < theirs


class CompareDialog(QDialog):
    def __init__(self, state, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare models")
        self.setObjectName("compareDialog")
        self.resize(1240, 640)
        self.state = state
        self.task = None
        self.rows: list[dict] = []
        self._live: list[dict] = []            # appended by the worker as candidates finish
        self.noun = "samples"
        intro = QLabel("Which pretrained model suits this data? Each checked model's features are extracted once "
                       "(kept in the feature cache), a head is fitted by the automatic search and scored on "
                       "samples it never saw (cross-validation). Latency is one input through the exported "
                       "(ONNX) model on this computer, or the PyTorch model where it cannot be exported: hover a "
                       "latency to see which.", wordWrap=True)
        self.candidates = QListWidget(objectName="compareCandidates")
        self.candidates.setMaximumWidth(240)
        self.add_edit = QLineEdit(placeholderText="Add a model by name…", objectName="compareAddEdit")
        self.add_edit.returnPressed.connect(self.add_typed)
        self.run_button = QPushButton("Compare", objectName="compareRun")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel", objectName="compareCancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        self.progress = QProgressBar(objectName="compareProgress")
        self.progress.hide()
        self.status = QLabel("Listing the models whose weights are on this computer…", objectName="compareStatus",
                             wordWrap=True)
        left = QVBoxLayout()
        left.addWidget(QLabel("Candidates:"))
        left.addWidget(self.candidates, 1)
        left.addWidget(self.add_edit)
        left.addWidget(self.run_button)
        left.addWidget(self.cancel_button)
        left_box = QWidget()
        left_box.setLayout(left)

        self.table = QTableWidget(0, len(COLUMNS), objectName="compareTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.chart = ParetoChart(self)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left_box)
        split.addWidget(self.table)
        split.addWidget(self.chart)
        split.setSizes([200, 560, 340])

        self.use_button = QPushButton("Use this model", objectName="compareUse")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self.use_selected)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress, 1)
        bottom.addWidget(self.status, 3)
        bottom.addWidget(self.use_button)
        bottom.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(split, 1)
        layout.addLayout(bottom)
        self.board_path = str(leaderboard_path(state.project_path, state.project.data.path or ""))
        self.run_button.setEnabled(False)
        self._list_task = run_task(candidates_job, state.project.to_dict(), self.board_path,
                                   on_finished=self._on_candidates, on_failed=self._on_list_failed)

    # -- candidates --------------------------------------------------------------------------
    def _add_candidate(self, model: str, weights: str, checked: bool = True) -> None:
        for i in range(self.candidates.count()):
            if self.candidates.item(i).data(Qt.ItemDataRole.UserRole) == [model, weights]:
                return
        label = model if weights == "auto" else f"{model} (imported weights)"
        item = QListWidgetItem(label)
        item.setData(Qt.ItemDataRole.UserRole, [model, weights])
        item.setToolTip(f"weights: {weights}")
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        self.candidates.addItem(item)

    def checked_candidates(self) -> list[list[str]]:
        return [self.candidates.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.candidates.count())
                if self.candidates.item(i).checkState() == Qt.CheckState.Checked]

    @Slot()
    def add_typed(self) -> None:
        name = self.add_edit.text().strip()
        if name:
            self._add_candidate(name, "auto")
            self.add_edit.clear()

    def _on_candidates(self, found: dict) -> None:
        for model, weights in found["candidates"]:
            self._add_candidate(model, weights)
        self.run_button.setEnabled(self.task is None)
        board = found.get("board")
        if board:
            self.show_board(board)
            self.status.setText(f"The last comparison ({board.get('created', '')[:16].replace('T', ' ')} UTC). "
                                "Press Compare to measure again (cached features are reused).")
        else:
            self.status.setText(f"{self.candidates.count()} models have their weights on this computer. "
                                "Press Compare.")

    def _on_list_failed(self, message: str) -> None:
        self.status.setText(f"Could not list the models: {message}")
        self.run_button.setEnabled(True)

    # -- running ------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self.task is not None

    @Slot()
    def run(self) -> None:
        pairs = self.checked_candidates()
        if not self.state.project.data.path:
            self.status.setText("Choose a dataset first (Data tab).")
            return
        if not pairs:
            self.status.setText("Check at least one model to compare.")
            return
        self._live = []
        live = self._live
        self.task = run_task(compare_job, self.state.project.to_dict(), pairs, self.board_path, with_progress=True,
                             on_row=lambda row: live.append(row.to_dict()))
        task = self.task
        task.progress.connect(self._on_progress)
        task.finished.connect(lambda board: self._on_finished(task, board))
        task.failed.connect(lambda message: self._on_failed(task, message))
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self.run_button.setEnabled(False)
        self.status.setText(f"Comparing {len(pairs)} models…")

    @Slot()
    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.status.setText("Stopping…")

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        if self.task is not None and self.task.state.phase and not self.task.was_cancelled():
            self.status.setText(self.task.state.phase[:1].upper() + self.task.state.phase[1:] + "…")
        if len(self._live) != len(self.rows):
            self.show_rows(list(self._live))

    def _end(self, task) -> bool:
        if task is not self.task:
            return False
        self.task = None
        self.progress.hide()
        self.cancel_button.hide()
        self.run_button.setEnabled(True)
        return True

    def _on_finished(self, task, board: dict) -> None:
        if self._end(task):
            self.show_board(board)
            best = next((r for r in self.rows if r.get("error") is None), None)
            where = f" Saved to {self.board_path}."
            self.status.setText((f"Done in {board['seconds']:.0f} s: best {best['model']} "
                                 f"({best['accuracy']:.1%})." if best else "Done.") + where)

    def _on_failed(self, task, message: str) -> None:
        if self._end(task):
            self.show_rows(list(self._live))
            kept = f" {len(self._live)} models were measured; their features are cached." if self._live else ""
            self.status.setText(("Cancelled." if task.was_cancelled() else f"Could not compare: {message}") + kept)

    # -- the leaderboard ---------------------------------------------------------------------------
    def show_board(self, board: dict) -> None:
        self.noun = board.get("noun") or "samples"
        self.show_rows(board.get("candidates", []))

    def show_rows(self, rows: list[dict]) -> None:
        from tlstudio.core.compare.leaderboard import CandidateResult, mark_pareto

        results = [CandidateResult.from_dict(r) for r in rows]
        mark_pareto(results)              # live rows: the front of the models measured so far
        self.rows = [r.to_dict() for r in results]
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(self.rows))
        self.table.setHorizontalHeaderItem(5, QTableWidgetItem(f"{self.noun}/s"))
        for i, row in enumerate(self.rows):
            for col, item in enumerate(self._cells(row)):
                item.setData(Qt.ItemDataRole.UserRole, [row["model"], row["weights"]])
                if col >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, col, item)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(2, Qt.SortOrder.DescendingOrder)
        self.chart.show_rows(self.rows, self.selected_key())
        self._update_use()

    @staticmethod
    def _cells(row: dict) -> list[QTableWidgetItem]:
        if row.get("error"):
            item = _SortItem(row["model"], None)
            item.setToolTip(row["error"])
            return [_SortItem("", None), item, _SortItem("failed", None)] + \
                [_SortItem("", None) for _ in COLUMNS[3:-1]] + [_SortItem(row["error"], None)]
        model = _SortItem(row["model"], None)
        model.setToolTip(f"{row['family']} · accuracy: {row['method']}, {row['samples']} samples · "
                         f"latency: {row['latency_how']}" + (" · features from the cache" if row["from_cache"] else ""))
        rate = row.get("extract_rate")
        latency = _SortItem(f"{row['latency_ms']:.1f} ms" + (" (PyTorch)" if row.get("latency_runtime") == "pytorch"
                                                              else ""), row["latency_ms"])
        latency.setToolTip(row["latency_how"])
        return [
            _SortItem(PARETO_MARK if row["pareto"] else "", 1.0 if row["pareto"] else 0.0), model,
            _SortItem(f"{row['accuracy']:.1%}", row["accuracy"]), _SortItem(f"{row['macro_f1']:.3f}", row["macro_f1"]),
            latency,
            _SortItem(f"{rate:.1f}" if rate else "", rate), _SortItem(human_params(row["params"]), row["params"]),
            _SortItem(human_bytes(row["file_bytes"]), row["file_bytes"]), _SortItem(row["input_size"], None),
            _SortItem(row["head"], None)]

    def selected_key(self) -> tuple[str, str] | None:
        items = self.table.selectedItems()
        key = items[0].data(Qt.ItemDataRole.UserRole) if items else None
        return tuple(key) if key else None

    def select_model(self, model: str) -> bool:
        """Select the table row of ``model`` (tests, keyboard users); True when found."""
        for i in range(self.table.rowCount()):
            if self.table.item(i, 1).text() == model:
                self.table.selectRow(i)
                return True
        return False

    def _on_selection(self) -> None:
        self.chart.select(self.selected_key())
        self._update_use()

    def _update_use(self) -> None:
        key = self.selected_key()
        row = next((r for r in self.rows if key and (r["model"], r["weights"]) == key), None)
        current = (self.state.project.model.name, self.state.project.model.weights.to_json())
        self.use_button.setEnabled(row is not None and row.get("error") is None and key != current)

    @Slot()
    def use_selected(self) -> None:
        key = self.selected_key()
        if key is not None:
            self.state.choose_model(key[0], key[1])
            self.status.setText(f"The project now uses {key[0]}.")
            self._update_use()

    def closeEvent(self, event) -> None:
        self.cancel()
        super().closeEvent(event)
