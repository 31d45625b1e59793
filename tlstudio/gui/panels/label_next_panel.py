"""The Label-next tab: the unlabeled samples a label would help most, labelled with one key.

"Find samples to label" runs ``core.active.suggest`` on a snapshot of the project
in a worker (a scan and, the first time, one pass of the base over the data,
through the feature cache). The table lists the next samples (thumbnails or
texts, by the modality's rows in ``gui/views``) with the model's suggested
label and its confidence. Enter (or a click on the suggestion) accepts the
suggestion for the selected sample; keys 1-9 give it the class of that number
(the buttons below say which); "Other class…" names a new one. A label is stored
in the Project (``core.data.curation.label_pool_sample``: never in the user's
files), the sample leaves the list at once, and a worker refits the quick head
on the features already in memory and re-ranks (well under a second); a
re-ranking that a newer label made stale is dropped.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QInputDialog, QLabel, QPushButton,
                               QSizePolicy, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from tlstudio.core.data.curation import label_pool_sample
from tlstudio.core.data.modality import modality_for
from tlstudio.core.errors import TLStudioError
from tlstudio.gui.jobs.label_jobs import pool_job, rerank_job
from tlstudio.gui.jobs.tasks import run_task
from tlstudio.gui.views import label_rows
from tlstudio.gui.widgets.project_job_view import ProjectJobView

TOP = 20
MAX_CLASS_KEYS = 9
COLUMNS = ["", "Sample", "Suggested (Enter)", "Confidence", "Score"]
SUGGESTED = 2
FIRST_HINT = ("Label less: TL Studio ranks the unlabeled samples (an 'unlabeled' folder beside the class folders, or "
              "rows with an empty label) by how much a label would help, and suggests one. Press Find samples to "
              "label; then Enter accepts a suggestion, keys 1–9 give a class.")


def sample_key(row: dict) -> str:
    """A suggestion row's sample key (an image's ``key``, a text's ``row`` locator)."""
    return row.get("key") or row["row"]


class LabelNextPanel(ProjectJobView):
    """Find (``compute``: the pool job, Cancel, progress) and label; ``status`` shows the counts."""

    failed = Signal(str)
    busy_text = "Reading the samples and their features…"
    fail_text = "{message}"

    def __init__(self, state, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("labelNextPanel")
        self.state = state
        self.data = None              # core.active.pool_features.PoolFeatures, once found
        self.result: dict | None = None
        self.rows: list[dict] = []
        self.rerank_task = None
        self.generation = 0           # bumped by every label: older re-rankings are stale
        self._own_change = False
        self._build_ui()
        self.views = label_rows(self.table, self)
        state.projectReplaced.connect(self.reset_for_new_project)
        state.changed.connect(self._on_project_changed)

    # -- layout ------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.make_controls("Find samples to label", "findToLabel", 400, FIRST_HINT)
        top = QHBoxLayout()
        for w in (self.compute_button, self.cancel_button):
            w.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            top.addWidget(w)
        top.addWidget(self.progress, 1)
        top.addStretch(0)
        self.status.setWordWrap(True)
        self.status.setObjectName("labelNextCounts")
        self.how = QLabel(wordWrap=True, objectName="labelNextHow")
        self.table = QTableWidget(0, len(COLUMNS), objectName="labelNextTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for c in (SUGGESTED, 3, 4):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.table.cellClicked.connect(self._on_cell_clicked)
        self.table.installEventFilter(self)
        self.keys_hint = QLabel(objectName="labelNextKeys", wordWrap=True)
        self.class_row = QHBoxLayout()
        self.class_buttons: list[QPushButton] = []
        self.other_button = QPushButton("Other class…")
        self.other_button.setToolTip("Give the selected sample a class that is not listed (a new class)")
        self.other_button.clicked.connect(self.label_other)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(self.how)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.keys_hint)
        layout.addLayout(self.class_row)
        self._update_actions()

    def _rebuild_class_buttons(self) -> None:
        for b in self.class_buttons:
            self.class_row.removeWidget(b)
            b.deleteLater()
        self.class_row.removeWidget(self.other_button)
        classes = self.data.classes if self.data is not None else []
        self.class_buttons = []
        for i, name in enumerate(classes):
            shortcut = f"{i + 1} " if i < MAX_CLASS_KEYS else ""
            b = QPushButton(f"{shortcut}{name}")
            b.setToolTip(f"Label the selected sample '{name}'" + (f" (key {i + 1})" if shortcut else ""))
            b.clicked.connect(lambda _c=False, n=name: self.label_selected(n))
            self.class_row.addWidget(b)
            self.class_buttons.append(b)
        self.class_row.addWidget(self.other_button)
        self.class_row.addStretch(1)
        self.keys_hint.setText("Enter or a click on the suggestion accepts it; keys 1–9 give the class of that number; "
                               "labels are kept in the project, never written to your files." if classes else
                               "No classes yet: select a sample and name its class with Other class… (the first "
                               "class becomes key 1)." if self.data is not None else "")
        self._update_actions()

    def _update_actions(self) -> None:
        selected = self.selected_row() is not None
        for b in [*self.class_buttons, self.other_button]:
            b.setEnabled(selected)
        self.other_button.setVisible(self.data is not None)

    # -- finding ----------------------------------------------------------------------------
    @staticmethod
    def job(project_dict: dict, job=None):
        return pool_job(project_dict, TOP, job=job)

    def show_result(self, result) -> None:
        """The pool job's ``(PoolFeatures, suggestions_json)``."""
        self.data, out = result
        self.generation += 1
        self._rebuild_class_buttons()
        self.show_list(out)

    def _say(self, text: str) -> None:
        self.status.setText(text)

    # -- the list ---------------------------------------------------------------------------
    def show_list(self, out: dict) -> None:
        self.result = out
        self.rows = list(out["suggestions"])
        self.views[self.data.task].activate()
        self.table.clearContents()
        self.table.setRowCount(len(self.rows))
        self.views[self.data.task].fill(self.rows)
        for r, row in enumerate(self.rows):
            guess = row["suggested"]
            item = QTableWidgetItem(f"{guess}  ✓" if guess is not None else "—")
            item.setToolTip(f"Click (or press Enter) to label it '{guess}'" if guess is not None else
                            "No suggestion before two classes have labels: press a class key")
            if guess is not None:
                item.setForeground(QColor("#1e8449"))
            self.table.setItem(r, SUGGESTED, item)
            self.table.setItem(r, 3, QTableWidgetItem(f"{row['confidence']:.0%}" if guess is not None else ""))
            self.table.setItem(r, 4, QTableWidgetItem(f"{row['score']:.3f}"))
        if self.rows:
            self.table.selectRow(0)
            self.table.setFocus()
        self.how.setText(out["how"])
        self._show_counts()
        self._update_actions()

    def _show_counts(self) -> None:
        out, noun = self.result, modality_for(self.data.task).noun
        estimate = out.get("accuracy_estimate")
        text = f"{len(self.data.labelled_keys)} labelled, {len(self.data.pool_keys)} unlabeled {noun}"
        if estimate is not None:
            text += f"; accuracy estimate {estimate:.0%} (a quick head, cross-validated on the labels)"
        if not self.data.pool_keys:
            text += ". Every sample has a label."
        self._say(text)

    def selected_row(self) -> int | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return rows[0].row() if rows and rows[0].row() < len(self.rows) else None

    # -- labelling --------------------------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.table and event.type() == QEvent.Type.KeyPress and self.data is not None:
            key = event.key()
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.accept_suggestion()
                return True
            if Qt.Key.Key_1 <= key <= Qt.Key.Key_9:
                i = int(key) - int(Qt.Key.Key_1)
                if i < len(self.data.classes):
                    self.label_selected(self.data.classes[i])
                return True
        return super().eventFilter(obj, event)

    def _on_cell_clicked(self, row: int, column: int) -> None:
        self._update_actions()
        if column == SUGGESTED:
            self.accept_suggestion(row)

    def accept_suggestion(self, row: int | None = None) -> None:
        row = self.selected_row() if row is None else row
        if row is not None and self.rows[row]["suggested"] is not None:
            self.label_row(row, self.rows[row]["suggested"])

    def label_selected(self, class_name: str) -> None:
        row = self.selected_row()
        if row is not None:
            self.label_row(row, class_name)

    def label_other(self) -> None:
        row = self.selected_row()
        if row is None:
            return
        name, ok = QInputDialog.getText(self, "Other class", "Class name for the selected sample:")
        if ok and name.strip():
            self.label_row(row, name.strip())

    def label_row(self, row: int, class_name: str) -> None:
        """Store the label in the project, drop the row, and re-rank in a worker."""
        key = sample_key(self.rows[row])
        try:
            label_pool_sample(self.state.project, key, class_name)
            data = self.data.with_label(key, class_name)
        except TLStudioError as exc:
            self._say(str(exc))
            return
        new_class = len(data.classes) != len(self.data.classes)
        self.data = data
        self._own_change = True
        try:
            self.state.mark_changed("curation")      # modified; the Data tab recounts
        finally:
            self._own_change = False
        del self.rows[row]
        self.table.removeRow(row)
        if self.rows:
            self.table.selectRow(min(row, len(self.rows) - 1))
        if new_class:
            self._rebuild_class_buttons()
        self._show_counts()
        self._update_actions()
        self.rerank()

    def rerank(self) -> None:
        """Refit and re-rank off the GUI thread; only the newest re-ranking is shown. Labels given while
        one runs are re-ranked together when it ends (one worker at a time, however fast the keys)."""
        self.generation += 1
        if self.rerank_task is None:    # else _on_rerank_done starts the next one, for the newest labels
            self._start_rerank()

    def _start_rerank(self) -> None:
        generation = self.generation
        task = run_task(rerank_job, self.data, TOP, int(self.state.project.data.seed), parent=self)
        self.rerank_task = task
        task.finished.connect(lambda out: self._on_reranked(generation, out))
        task.failed.connect(lambda message: generation == self.generation and self._say(message))
        task.done.connect(lambda: self._on_rerank_done(generation))

    def _on_reranked(self, generation: int, out: dict) -> None:
        if generation == self.generation and self.data is not None:
            self.show_list(out)

    def _on_rerank_done(self, generation: int) -> None:
        self.rerank_task = None
        if generation != self.generation and self.data is not None:
            self._start_rerank()

    # -- project -----------------------------------------------------------------------------
    def _on_project_changed(self, section: str) -> None:
        if section in ("curation", "data") and not self._own_change and self.data is not None:
            self.reset_for_new_project()
            self._say("The data or its labels changed: press Find samples to label again.")

    def clear_result(self) -> None:
        self.generation += 1
        self.data, self.result, self.rows = None, None, []
        self.table.setRowCount(0)
        self.how.setText("")
        for view in self.views.values():
            view.stop()
        self._rebuild_class_buttons()
