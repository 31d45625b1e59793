"""The Data tab: open a folder, CSV, TSV or JSON Lines file; see the classes, the bad
files or rows, the split.

Scanning (every file is decoded once to check it) runs in a worker with a
progress bar and a Cancel button; whether the data is images or text is
detected there (a text dataset switches the project to text). Images: thumbnails
are loaded for the selected class only, on a thread pool, and augmentation
previews of the selected thumbnail are computed in a worker. Text: a searchable
table of the selected class's texts, the validation report, the text and label
columns (chosen by hand when the file does not name them), and the token-length
histogram for the model's max length (tokenised in a worker).
"""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QIcon, QImage, QPixmap, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QGridLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QListView, QProgressBar,
                               QPushButton, QScrollArea, QSpinBox, QSplitter, QStackedWidget, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from tlstudio.core.data.modality import modality_for
from tlstudio.core.data.table_read import DELIMITER_NAMES
from tlstudio.gui.jobs.data_jobs import Undecided, data_columns, scan_dataset, token_stats
from tlstudio.gui.widgets.data_reading import DataReading
from tlstudio.gui.widgets.dataset_widgets import THUMB_PX, ClassBarChart, ThumbnailLoader, imbalance_warning, preview_job
from tlstudio.gui.widgets.text_widgets import LengthHistogram, TextTable
from tlstudio.gui.icons import icon
from tlstudio.gui.state import ProjectState
from tlstudio.gui.jobs.tasks import run_task

MAX_THUMBS = 300          # per class; enough to judge a class at a glance
SPLIT_DEBOUNCE_MS = 250   # the split is recomputed once the split spin boxes settle
PREVIEWS = 6
PREVIEW_PX = 96
DATA_FILTER = ("Data files (*.csv *.tsv *.jsonl *.ndjson);;CSV of image paths or texts (*.csv);;"
               "Tab-separated texts (*.tsv);;JSON Lines (*.jsonl *.ndjson);;All files (*)")
NO_DATASET = ("No dataset: open a folder with one sub-folder per class (images or .txt files), a CSV/TSV or "
              "JSON Lines file of texts, or drop one here.")
COLUMNS_PROBLEM = "Cannot tell which"       # scan_text's message when the columns need choosing


def split_summary(index, val_fraction: float, test_fraction: float, seed: int, search: bool = False) -> str:
    """The split the run will use (and warnings) as rich text; runs in a worker. With ``search`` (Automatic
    head fitting) the head is scored by k-fold cross-validation on train + validation, as the trainer does."""
    from tlstudio.core.data.index import split_dataset

    split = split_dataset(index, val_fraction, test_fraction, seed)
    counts = f"Train {len(split.train):,} · Validation {len(split.val):,} · Test {len(split.test):,}"
    text = f"<b>{counts}</b>"
    if search:
        from collections import Counter

        from tlstudio.core.train.head_search import CV_MAX_SAMPLES, FOLDS

        labelled = list(split.train) + list(split.val)
        smallest = min(Counter(s.label for s in labelled).values(), default=0)
        if len(labelled) <= CV_MAX_SAMPLES and smallest >= 2:
            how = f"{min(FOLDS, smallest)}-fold cross-validation on all {len(labelled):,} labelled samples"
        else:
            how = f"the validation split ({len(split.val):,}) scores the head search (more than {CV_MAX_SAMPLES:,})"
        text = (f"<b>Automatic head fitting: {how}</b>; test {len(split.test):,} held out. "
                f"The validation fraction applies to Fixed epochs and fine-tuning ({counts}).")
    if split.warnings:
        text += "<br><span style='color:#9a5b00'>" + "<br>".join(split.warnings[:5]) + "</span>"
    return text


def row_locator(where: str) -> str:
    """A text's place, short: the line of a CSV/JSONL row ("12"), the name of a .txt file."""
    name, _, line = where.rpartition(":")
    if name and line.isdigit():
        return line
    return Path(where).name


class DatasetBrowser(QWidget):
    def __init__(self, state: ProjectState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("datasetBrowser")
        self.state = state
        self.scan_task = None
        self._split_task = None
        self._scanned_path: str | None = None
        self._preview_task = None
        self._stats_task = None
        self._columns_task = None
        self.token_stats = None            # the TokenLengthStats shown (text datasets)
        self._build_ui()
        self.thumbs = ThumbnailLoader(self)
        self.thumbs.thumbnailReady.connect(self._on_thumbnail)
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
        self.reading = DataReading(self.state, self.rescan, self)    # encoding box; "images or texts?"
        top.addWidget(QLabel("Encoding:"))
        top.addWidget(self.reading.encoding_choice)
        top.addWidget(self.open_folder_button)
        top.addWidget(self.open_csv_button)
        self.message = QLabel(wordWrap=True, objectName="datasetMessage")
        self.message.hide()
        # Text files: which column holds the text and which the label.
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

        # Left: classes and skipped files.
        classes_box = QGroupBox("Classes")
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
        self.report_label = QLabel(wordWrap=True, objectName="textReport")
        self.report_label.hide()
        sbox = QVBoxLayout(skipped_box)
        sbox.addWidget(self.report_label)
        sbox.addWidget(self.skipped_table)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(classes_box)
        left.addWidget(skipped_box)
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 1)

        # Middle: thumbnails (or texts) of one class.
        self.items_box = thumbs_box = QGroupBox("Images")
        self.class_combo = QComboBox(objectName="classCombo")
        self.thumb_note = QLabel()
        self.thumb_model = QStandardItemModel(self)
        self.thumb_view = QListView(objectName="thumbnailView")
        self.thumb_view.setViewMode(QListView.ViewMode.IconMode)
        self.thumb_view.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.thumb_view.setGridSize(QSize(THUMB_PX + 16, THUMB_PX + 24))
        self.thumb_view.setResizeMode(QListView.ResizeMode.Adjust)
        self.thumb_view.setMovement(QListView.Movement.Static)
        self.thumb_view.setUniformItemSizes(True)
        self.thumb_view.setModel(self.thumb_model)
        row = QHBoxLayout()
        row.addWidget(QLabel("Class:"))
        row.addWidget(self.class_combo, 1)
        row.addWidget(self.thumb_note)
        self.text_table = TextTable(["Line", "Text"], "textTable", "Search the texts of this class…")
        self.items_stack = QStackedWidget()
        self.items_stack.addWidget(self.thumb_view)
        self.items_stack.addWidget(self.text_table)
        tbox = QVBoxLayout(thumbs_box)
        tbox.addLayout(row)
        tbox.addWidget(self.items_stack, 1)

        # Right: split and augmentation.
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
        aug_box = QGroupBox("Augmentation (training only)")
        self.augment_combo = QComboBox(objectName="augmentCombo")
        for preset in ("none", "light", "strong"):
            self.augment_combo.addItem(preset.capitalize(), preset)
        self.preview_note = QLabel("Select an image to preview its augmented versions.", wordWrap=True)
        self.preview_labels = []
        grid = QGridLayout()
        grid.setSpacing(4)
        for i in range(PREVIEWS):
            label = QLabel()
            label.setFixedSize(PREVIEW_PX, PREVIEW_PX)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setStyleSheet("background: palette(base); border: 1px solid palette(mid);")
            self.preview_labels.append(label)
            grid.addWidget(label, i // 3, i % 3)
        grid.setColumnStretch(3, 1)
        abox = QVBoxLayout(aug_box)
        aform = QFormLayout()
        aform.addRow("Preset:", self.augment_combo)
        abox.addLayout(aform)
        abox.addWidget(self.preview_note)
        self.preview_box = QWidget()
        self.preview_box.setLayout(grid)
        self.preview_box.hide()
        abox.addWidget(self.preview_box)
        self.aug_box = aug_box
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
        right = QWidget()
        rbox = QVBoxLayout(right)
        rbox.setContentsMargins(0, 0, 0, 0)
        rbox.addWidget(split_box)
        rbox.addWidget(aug_box)
        rbox.addWidget(self.lengths_box, 1)
        rbox.addStretch(1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        for widget, stretch in ((left, 3), (thumbs_box, 4), (right, 3)):
            splitter.addWidget(widget)
            splitter.setStretchFactor(splitter.count() - 1, stretch)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addWidget(self.columns_row)
        layout.addWidget(splitter, 1)

        self.open_folder_button.clicked.connect(self.choose_folder)
        self.open_csv_button.clicked.connect(self._choose_csv)
        self.apply_columns_button.clicked.connect(self._apply_columns)
        self.cancel_button.clicked.connect(self.cancel_scan)
        self.chart.classClicked.connect(self.class_combo.setCurrentIndex)
        self.class_combo.currentIndexChanged.connect(self._show_class)
        self.thumb_view.selectionModel().currentChanged.connect(lambda *_: self._update_previews())
        self.augment_combo.currentIndexChanged.connect(self._augment_edited)
        self._split_timer = QTimer(self, singleShot=True, interval=SPLIT_DEBOUNCE_MS)
        self._split_timer.timeout.connect(self._update_split)
        for spin in (self.val_spin, self.test_spin, self.seed_spin):
            spin.valueChanged.connect(self._split_edited)
        self._load_settings()

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
        if self.scan_task is not None:
            # Never wait for it here (the GUI thread): it stops at its next file, and
            # its result is ignored because it is no longer ``scan_task``.
            self.scan_task.cancel()
            self.scan_task = None
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
        self.scan_task = run_task(scan_dataset, path, self.reading.kind_for(path), text_column, label_column,
                                  self.reading.encoding(), with_progress=True, parent=self,
                                  on_progress=self._on_scan_progress)
        task = self.scan_task
        task.finished.connect(lambda index: self._on_scanned(task, index))
        task.failed.connect(lambda message: self._on_scan_failed(task, message))

    def cancel_scan(self) -> None:
        if self.scan_task is not None:
            self.scan_task.cancel()

    def is_scanning(self) -> bool:
        return self.scan_task is not None

    def _on_scan_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.progress.setFormat(f"Checking files… {done}/{total}")

    def _scan_ended(self, task) -> bool:
        if task is not self.scan_task:
            return False   # a newer scan replaced this one
        self.scan_task = None
        self.progress.hide()
        self.cancel_button.hide()
        return True

    def _on_scanned(self, task, index) -> None:
        if isinstance(index, Undecided):
            if self._scan_ended(task):
                self.state.set_dataset(None)
                self._show_message(f"{index.found[:1].upper()}{index.found[1:]}.")
                self.reading.ask(index.path, index.found, index.choices)
            return
        if self._scan_ended(task):
            self.state.set_task(getattr(index, "task", "image"))
            self.state.set_dataset(index)

    def _on_scan_failed(self, task, message: str) -> None:
        if task.was_cancelled():
            message = "Scan cancelled."
        if self._scan_ended(task):
            self.message.setText(message)
            self.message.setStyleSheet("color: #b03a2e;")
            self.message.show()
            self.state.set_dataset(None)
            if COLUMNS_PROBLEM in message:
                self._offer_columns(self.state.project.data.path, "", "")

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
        elif section == "model" and self.is_text():
            self.update_token_stats()

    def is_text(self) -> bool:
        return getattr(self.state.dataset, "task", "image") == "text"

    def _load_settings(self) -> None:
        d = self.state.project.data
        self.reading.load()
        for widget, value in ((self.val_spin, d.val_fraction), (self.test_spin, d.test_fraction),
                              (self.seed_spin, d.seed)):
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)
        self.augment_combo.blockSignals(True)
        self.augment_combo.setCurrentIndex(max(0, self.augment_combo.findData(d.augment)))
        self.augment_combo.blockSignals(False)

    def _split_edited(self) -> None:
        d = self.state.project.data
        d.val_fraction = round(self.val_spin.value(), 4)
        d.test_fraction = round(self.test_spin.value(), 4)
        d.seed = int(self.seed_spin.value())
        self.state.mark_changed("data")
        self._split_timer.start()      # debounced: one split after the spin box settles

    def _augment_edited(self) -> None:
        self.state.project.data.augment = self.augment_combo.currentData()
        self.state.mark_changed("data")
        self._update_previews()

    # -- display ---------------------------------------------------------------------------------------
    def _show_dataset(self) -> None:
        index = self.state.curated_dataset()
        is_text = self.is_text()
        noun = modality_for(getattr(self.state.dataset, "task", "image")).noun
        counts = index.counts() if index is not None else {}
        self.chart.set_counts(list(counts.items()))
        self.imbalance.setText(imbalance_warning(counts, noun))
        self.summary.setText(f"{len(index.samples):,} {noun} in {len(index.classes)} classes"
                             if index is not None else "")
        self.items_box.setTitle("Texts" if is_text else "Images")
        self.items_stack.setCurrentWidget(self.text_table if is_text else self.thumb_view)
        self.skipped_box.setTitle("Left out (validation report)" if is_text else "Skipped files")
        self.skipped_table.setHorizontalHeaderLabels(["Where", "Reason"] if is_text else ["File", "Reason"])
        self.aug_box.setVisible(not is_text)
        self.lengths_box.setVisible(is_text)
        self._show_text_report(index if is_text else None)
        self.skipped_table.setRowCount(len(index.skipped) if index is not None else 0)
        for r, skipped in enumerate(index.skipped if index is not None else []):
            try:
                # A text file's rows are located as "<file>:<line>" already; files relative to the root.
                locator = is_text and getattr(index, "source_format", "") != "folder"
                shown = skipped.path if locator else os.path.relpath(skipped.path, index.root)
            except ValueError:
                shown = skipped.path
            for c, text in enumerate((shown, skipped.reason)):
                item = QTableWidgetItem(text)
                item.setToolTip(skipped.path if c == 0 else text)
                self.skipped_table.setItem(r, c, item)
        self.skipped_table.resizeColumnToContents(0)
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        for name, count in counts.items():
            self.class_combo.addItem(f"{name} ({count})", name)
        self.class_combo.blockSignals(False)
        self._show_class(0 if counts else -1)
        self._update_split()
        if is_text:
            self.update_token_stats()

    def _show_class(self, row: int) -> None:
        self.thumbs.cancel()
        self.thumb_model.clear()
        index = self.state.curated_dataset()
        self.chart.set_selected(row)
        if index is None or row < 0:
            self.thumb_note.setText("")
            self._update_previews()
            return
        if self.is_text():
            samples = [s for s in index.samples if s.label == row]
            self.text_table.set_rows([(row_locator(s.path), s.text or "") for s in samples],
                                     [f"{s.path}\n\n{s.text or ''}" for s in samples])
            self.thumb_note.setText("")
            return
        paths = [s.path for s in index.samples if s.label == row]
        shown = paths[:MAX_THUMBS]
        self.thumb_note.setText(f"first {len(shown)} of {len(paths)}" if len(shown) < len(paths) else "")
        for path in shown:
            item = QStandardItem(icon("data"), Path(path).name)
            item.setData(path, Qt.ItemDataRole.UserRole)
            item.setToolTip(path)
            item.setEditable(False)
            self.thumb_model.appendRow(item)
        self.thumbs.load(shown)
        self._update_previews()

    def _on_thumbnail(self, row: int, image: QImage) -> None:
        item = self.thumb_model.item(row)
        if item is not None and not image.isNull():
            item.setIcon(QIcon(QPixmap.fromImage(image)))

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

    # -- text datasets ------------------------------------------------------------------------------
    def _show_text_report(self, index) -> None:
        """Issue counts and notes above the left-out rows; the column chooser for CSV/TSV/JSONL."""
        if index is None:
            self.report_label.hide()
            if not (self.message.isVisible() and COLUMNS_PROBLEM in self.message.text()):
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
        task = run_task(data_columns, path, self.reading.encoding(), parent=self)
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
            self._show_message("The text and the label must be two different columns.")
            return
        self.state.set_text_columns(text_column, label_column)
        self.rescan()

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #b03a2e;")
        self.message.show()

    def update_token_stats(self) -> None:
        """Token lengths of every text for the project's model and max length, in a worker."""
        index = self.state.dataset
        if self._stats_task is not None:
            self._stats_task.cancel()
            self._stats_task = None
        if index is None or not self.is_text():
            return
        max_length = self.state.max_length()
        self.truncation_label.setText("Counting tokens…")
        task = run_task(token_stats, index, self.state.project.model.name, max_length, with_progress=True,
                        parent=self)
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

    def selected_image(self) -> str | None:
        current = self.thumb_view.currentIndex()
        return current.data(Qt.ItemDataRole.UserRole) if current.isValid() else None

    def _update_previews(self) -> None:
        path = None if self.is_text() else self.selected_image()
        for label in self.preview_labels:
            label.clear()
        self.preview_box.setVisible(path is not None)
        if path is None:
            self.preview_note.setText("Select an image to preview its augmented versions.")
            return
        self.preview_note.setText("Computing previews…")
        p = self.state.project
        task = run_task(preview_job, path, p.model.name, p.model.image_size, p.data.augment, PREVIEWS, parent=self)
        self._preview_task = task
        task.finished.connect(lambda images: self._on_previews(task, images))
        task.failed.connect(lambda message: task is self._preview_task and self.preview_note.setText(message))

    def _on_previews(self, task, images: list[QImage]) -> None:
        if task is not self._preview_task:
            return
        preset = self.state.project.data.augment
        self.preview_note.setText(f"{Path(self.selected_image() or '').name} — preset '{preset}', "
                                  "as the network will see it during training")
        for label, image in zip(self.preview_labels, images):
            label.setPixmap(QPixmap.fromImage(image).scaled(
                label.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Stop background work (window close)."""
        self.cancel_scan()
        self.thumbs.wait(timeout_ms)
