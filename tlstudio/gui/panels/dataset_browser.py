"""The Data tab: open a folder, CSV, TSV or JSON Lines file; see the classes, the bad
files or rows, the split.

Scanning (every file is decoded once to check it) runs in a worker with a
progress bar and a Cancel button; whether the data is images or text is
detected there (a text dataset switches the project to text). What differs per
modality (thumbnails and augmentation previews; texts, columns and token lengths)
is a page of ``gui/views`` chosen by the modality's name: this panel lays out the
slots once and shows the page of the dataset's modality.
"""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox,
                               QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton, QScrollArea, QSpinBox,
                               QSplitter, QStackedWidget, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from tlstudio.core.data.index import UNLABELED
from tlstudio.core.data.modality import modality_for
from tlstudio.gui.jobs.data_jobs import Undecided, scan_dataset, split_summary
from tlstudio.gui.widgets.class_descriptions import ClassDescriptions
from tlstudio.gui.widgets.data_reading import DataReading
from tlstudio.gui.widgets.dataset_widgets import ClassBarChart, imbalance_warning
from tlstudio.gui.icons import icon
from tlstudio.gui.state import ProjectState
from tlstudio.gui.jobs.tasks import run_task
from tlstudio.gui.panels.pool_labelling import PoolLabeller
from tlstudio.gui.views import data_pages, data_task_views, dataset_task_type

SPLIT_DEBOUNCE_MS = 250   # the split is recomputed once the split spin boxes settle
DATA_FILTER = ("Data files (*.csv *.tsv *.jsonl *.ndjson);;CSV of image paths or texts (*.csv);;"
               "Tab-separated texts (*.tsv);;JSON Lines (*.jsonl *.ndjson);;All files (*)")
NO_DATASET = ("No dataset: open a folder with one sub-folder per class (images or .txt files), a CSV/TSV or "
              "JSON Lines file of texts, or drop one here.")


class DatasetBrowser(QWidget):
    def __init__(self, state: ProjectState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("datasetBrowser")
        self.state = state
        self.scan_job = None
        self._split_task = None
        self._scanned_path: str | None = None
        self.reading = DataReading(self.state, self.rescan, self)    # encoding box; "images or texts?"
        self.pages = data_pages(self)       # one page per modality (gui/views), the dataset's one shown
        self._build_ui()
        self.task_views = data_task_views(self)     # per task type: single- or multi-label report
        for view in self.task_views.values():
            if view.widget is not None:
                self.classes_box.layout().addWidget(view.widget, 1)
                view.widget.hide()
        state.projectReplaced.connect(self._on_project_replaced)
        state.changed.connect(self._on_changed)
        state.datasetChanged.connect(self._show_dataset)

    # -- layout ----------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.path_label = QLabel(NO_DATASET, wordWrap=True, objectName="datasetPath")
        self.open_folder_button = QPushButton(icon("folder"), "Open folder…")
        self.open_csv_button = QPushButton(icon("csv"), "Open file…")
        self.open_csv_button.setToolTip("A CSV of image paths and labels, or a CSV/TSV/JSON Lines file of texts.")
        self.progress = QProgressBar(objectName="scanProgress")
        self.progress.hide()
        self.cancel_button = QPushButton(icon("cancel"), "Cancel")
        self.cancel_button.hide()
        top = QHBoxLayout()
        top.addWidget(self.path_label, 1)
        top.addWidget(self.progress)
        top.addWidget(self.cancel_button)
        top.addWidget(QLabel("Encoding:"))
        top.addWidget(self.reading.encoding_choice)
        top.addWidget(self.open_folder_button)
        top.addWidget(self.open_csv_button)
        self.message = QLabel(wordWrap=True, objectName="datasetMessage")
        self.message.hide()

        # Left: classes and skipped files.
        self.classes_box = classes_box = QGroupBox("Classes")
        self.summary = QLabel(objectName="datasetSummary")
        self.chart = ClassBarChart()
        chart_scroll = QScrollArea(widgetResizable=True)
        chart_scroll.setWidget(self.chart)
        chart_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.imbalance = QLabel(wordWrap=True, objectName="imbalanceWarning")
        self.imbalance.setStyleSheet("color: #9a5b00;")
        cbox = QVBoxLayout(classes_box)
        cbox.addWidget(self.summary)
        cbox.addWidget(chart_scroll, 1)
        cbox.addWidget(self.imbalance)
        self.skipped_box = skipped_box = QGroupBox("Skipped files")
        self.skipped_table = QTableWidget(0, 2, objectName="skippedTable")
        self.skipped_table.setHorizontalHeaderLabels(["File", "Reason"])
        self.skipped_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.skipped_table.verticalHeader().hide()
        self.skipped_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        sbox = QVBoxLayout(skipped_box)
        for page in self.pages.values():
            if page.report is not None:
                sbox.addWidget(page.report)
        sbox.addWidget(self.skipped_table)
        self.left_split = left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(classes_box)
        left.addWidget(skipped_box)
        self.class_descriptions = ClassDescriptions(self.state)     # what zero-shot embeds with each name
        left.addWidget(self.class_descriptions)
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 1)
        left.setStretchFactor(2, 1)

        # Middle: the samples of one class, as the modality's page shows them.
        self.items_box = items_box = QGroupBox("Images")
        self.class_combo = QComboBox(objectName="classCombo")
        self.thumb_note = QLabel()
        row = QHBoxLayout()
        row.addWidget(QLabel("Class:"))
        row.addWidget(self.class_combo, 1)
        row.addWidget(self.thumb_note)
        self.items_stack = QStackedWidget()
        for page in self.pages.values():
            self.items_stack.addWidget(page.items)
        self.labeller = PoolLabeller(self)       # the unlabeled pool: label the selected samples
        tbox = QVBoxLayout(items_box)
        tbox.addLayout(row)
        tbox.addWidget(self.items_stack, 1)
        tbox.addWidget(self.labeller)

        # Right: the split, then the modality's page (augmentation; token lengths).
        split_box = QGroupBox("Split")
        self.val_spin = QDoubleSpinBox(minimum=0.0, maximum=0.9, singleStep=0.05, decimals=2, objectName="valFraction")
        self.test_spin = QDoubleSpinBox(minimum=0.0, maximum=0.9, singleStep=0.05, decimals=2, objectName="testFraction")
        self.seed_spin = QSpinBox(minimum=0, maximum=2**31 - 1, objectName="splitSeed")
        self.split_counts = QLabel(wordWrap=True, objectName="splitCounts")
        form = QFormLayout(split_box)
        form.addRow("Validation fraction:", self.val_spin)
        form.addRow("Test fraction:", self.test_spin)
        form.addRow("Seed:", self.seed_spin)
        form.addRow(self.split_counts)
        right = QWidget()
        rbox = QVBoxLayout(right)
        rbox.setContentsMargins(0, 0, 0, 0)
        rbox.addWidget(split_box)
        for page in self.pages.values():
            rbox.addWidget(page.side, page.side_stretch)
        rbox.addStretch(1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        for widget, stretch in ((left, 3), (items_box, 4), (right, 3)):
            splitter.addWidget(widget)
            splitter.setStretchFactor(splitter.count() - 1, stretch)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.message)
        for page in self.pages.values():
            if page.top is not None:
                layout.addWidget(page.top)
        layout.addWidget(splitter, 1)

        self.open_folder_button.clicked.connect(self.choose_folder)
        self.open_csv_button.clicked.connect(self._choose_csv)
        self.cancel_button.clicked.connect(self.cancel_scan)
        self.chart.classClicked.connect(self.class_combo.setCurrentIndex)
        self.class_combo.currentIndexChanged.connect(self._show_class)
        self._split_timer = QTimer(self, singleShot=True, interval=SPLIT_DEBOUNCE_MS)
        self._split_timer.timeout.connect(self._update_split)
        for spin in (self.val_spin, self.test_spin, self.seed_spin):
            spin.valueChanged.connect(self._split_edited)
        self._load_settings()
        self._show_page()

    # -- opening and scanning ------------------------------------------------------------------
    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a folder of class sub-folders")
        if path:
            self.open_path(path)

    def _choose_csv(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a CSV, TSV or JSON Lines file", "", DATA_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | os.PathLike) -> None:
        """Use ``path`` (a folder or data file) as the project's dataset and scan it."""
        path = str(Path(path).absolute())
        if path != self.state.project.data.path:
            self.state.project.data.path = path
            self.state.set_text_columns("", "")     # another file: detect its columns again
            self.state.mark_changed("data")   # the changed handler starts the scan
        else:
            self.rescan()

    def rescan(self) -> None:
        path = self.state.project.data.path
        if self.scan_job is not None:
            # Never wait for it here (the GUI thread): it stops at its next file, and
            # its result is ignored because it is no longer ``scan_job``.
            self.scan_job.cancel()
            self.scan_job = None
        self._scanned_path = path
        if not path:
            self.state.set_dataset(None)
            return
        self.path_label.setText(path)
        self.message.hide()
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        text_column, label_column = self.state.text_columns()
        self.scan_job = run_task(scan_dataset, path, self.reading.kind_for(path), text_column, label_column,
                                  self.reading.encoding(), with_progress=True, parent=self,
                                  on_progress=self._on_scan_progress,
                                  unlabeled_folder=self.state.project.data.unlabeled_folder)
        task = self.scan_job
        task.finished.connect(lambda index: self._on_scanned(task, index))
        task.failed.connect(lambda message: self._on_scan_failed(task, message))

    def cancel_scan(self) -> None:
        if self.scan_job is not None:
            self.scan_job.cancel()

    def is_scanning(self) -> bool:
        return self.scan_job is not None

    def _on_scan_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.progress.setFormat(f"Checking files… {done}/{total}")

    def _scan_ended(self, task) -> bool:
        if task is not self.scan_job:
            return False   # a newer scan replaced this one
        self.scan_job = None
        self.progress.hide()
        self.cancel_button.hide()
        return True

    def _on_scanned(self, task, index) -> None:
        if isinstance(index, Undecided):
            if self._scan_ended(task):
                self.state.set_dataset(None)
                self.show_message(f"{index.found[:1].upper()}{index.found[1:]}.")
                self.reading.ask(index.path, index.found, index.choices)
            return
        if self._scan_ended(task):
            self.state.set_task(getattr(index, "task", "image"))
            self.state.set_dataset(index)

    def _on_scan_failed(self, task, message: str) -> None:
        if task.was_cancelled():
            message = "Scan cancelled."
        if self._scan_ended(task):
            self.show_message(message)
            self.state.set_dataset(None)
            for page in self.pages.values():
                page.on_scan_failed(message)

    # -- project sync ---------------------------------------------------------------------------------
    def _on_project_replaced(self) -> None:
        self._load_settings()
        self._scanned_path = None
        if self.state.project.data.path:
            self.rescan()
        else:
            self.path_label.setText(NO_DATASET)
            self._show_dataset()

    def _on_changed(self, section: str) -> None:
        if section == "data" and self.state.project.data.path != self._scanned_path:
            self.rescan()
        elif section == "curation":       # samples excluded or relabelled (the Audit tab): new counts
            self._show_dataset()
        elif section == "training":       # Automatic / Fixed epochs decide which split is used
            self._update_split()
        elif section == "model" and self.state.dataset is not None:
            self.page().on_model_changed()

    def modality_name(self) -> str:
        """The modality of the dataset shown ("image" when none is)."""
        return getattr(self.state.dataset, "task", "image")

    def page(self):
        """The page (gui/views) of the dataset's modality."""
        return self.pages[self.modality_name()]

    def _load_settings(self) -> None:
        d = self.state.project.data
        self.reading.load()
        for widget, value in ((self.val_spin, d.val_fraction), (self.test_spin, d.test_fraction),
                              (self.seed_spin, d.seed)):
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)
        for page in self.pages.values():
            page.load_settings()

    def _split_edited(self) -> None:
        d = self.state.project.data
        d.val_fraction = round(self.val_spin.value(), 4)
        d.test_fraction = round(self.test_spin.value(), 4)
        d.seed = int(self.seed_spin.value())
        self.state.mark_changed("data")
        self._split_timer.start()      # debounced: one split after the spin box settles

    # -- display ---------------------------------------------------------------------------------------
    def _show_page(self) -> None:
        """Show the current modality's page in every slot, hide the others'."""
        shown = self.page()
        self.items_box.setTitle(shown.items_title)
        self.items_stack.setCurrentWidget(shown.items)
        self.skipped_box.setTitle(shown.skipped_title)
        self.skipped_table.setHorizontalHeaderLabels(list(shown.skipped_headers))
        for page in self.pages.values():
            page.side.setVisible(page is shown)

    def _show_dataset(self) -> None:
        index = self.state.curated_dataset()
        shown = self.page()
        noun = modality_for(self.modality_name()).noun
        counts = index.counts() if index is not None else {}
        pool = len(index.pool) if index is not None else 0
        # The classes, then the unlabeled pool ("Unlabeled (N)") when the data has one.
        entries = [(f"{name} ({n})", label) for label, (name, n) in enumerate(counts.items())]
        entries += [(f"Unlabeled ({pool})", UNLABELED)] if pool else []
        self.chart.set_counts(list(counts.items()) + ([("Unlabeled", pool)] if pool else []), muted=int(bool(pool)))
        self.imbalance.setText(imbalance_warning(counts, noun))
        task_view = self.task_views[dataset_task_type(index)]
        self.summary.setText(task_view.summary(index, noun) + (f" · {pool:,} unlabeled" if pool else "")
                             if index is not None else "")
        for view in self.task_views.values():
            if view.widget is not None:
                if view is task_view and view.widget.isHidden():     # a taller report: the skipped list gives way
                    total = sum(self.left_split.sizes()) or self.height()
                    self.left_split.setSizes([total * 4 // 5, total - total * 4 // 5])
                view.widget.setVisible(view is task_view)
            view.show(index if view is task_view else None)
        self._show_page()
        for page in self.pages.values():
            if page is not shown:
                page.show_dataset(None)
        self.skipped_table.setRowCount(len(index.skipped) if index is not None else 0)
        for r, skipped in enumerate(index.skipped if index is not None else []):
            try:
                where = shown.skipped_location(index, skipped.path)
            except ValueError:
                where = skipped.path
            for c, text in enumerate((where, skipped.reason)):
                item = QTableWidgetItem(text)
                item.setToolTip(skipped.path if c == 0 else text)
                self.skipped_table.setItem(r, c, item)
        self.skipped_table.resizeColumnToContents(0)
        before = self.class_combo.currentText().rpartition(" (")[0]     # stay on it after a relabel
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        for text, label in entries:
            self.class_combo.addItem(text, label)
        names = [text.rpartition(" (")[0] for text, _ in entries]
        self.class_combo.setCurrentIndex(names.index(before) if before in names else 0 if entries else -1)
        self.class_combo.blockSignals(False)
        self._show_class(self.class_combo.currentIndex())
        self._update_split()
        shown.show_dataset(index)

    def _show_class(self, row: int) -> None:
        """Show combo entry ``row``: a class, or the unlabeled pool (its data is ``UNLABELED``)."""
        index = self.state.curated_dataset()
        self.chart.set_selected(row)
        label = self.class_combo.itemData(row) if row >= 0 else None
        shown = self.page()
        for page in self.pages.values():
            if page is not shown:
                page.show_class(None, -1)
        self.thumb_note.setText(shown.show_class(index if label is not None else None, label))
        self.labeller.show_for(index, label)

    def _update_split(self) -> None:
        """Recompute the split counts in a worker (it sorts and shuffles every sample)."""
        self._split_timer.stop()
        index, d = self.state.curated_dataset(), self.state.project.data
        if self._split_task is not None:
            self._split_task.cancel()
            self._split_task = None
        if index is None:
            self.split_counts.setText("")
            return
        t = self.state.project.training
        search = t.head_fit == "search" and t.use_cache
        task = run_task(split_summary, index, d.val_fraction, d.test_fraction, d.seed, search, parent=self)
        self._split_task = task
        task.finished.connect(lambda text: task is self._split_task and self.split_counts.setText(text))
        task.failed.connect(lambda message: task is self._split_task and self.split_counts.setText(
            f"<span style='color:#b03a2e'>{message}</span>"))

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #b03a2e;")
        self.message.show()

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Stop background work (window close)."""
        self.cancel_scan()
        for page in self.pages.values():
            page.shutdown(timeout_ms)
