"""The Audit tab: likely label errors, duplicates (and leaks across the split) and outliers.

"Run audit" runs ``core.insight.report.run_audit`` on a snapshot of the
project in a worker (progress, cancel). The findings are listed in three
tables; Exclude / Relabel change only the project (its exclusions and label
overrides, see ``core.data.curation``), mark it modified and update the Data
tab's counts. "Apply to disk…" moves relabelled images between class folders
after a confirmation and leaves an undo record beside the project;
"Undo last apply" moves them back.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QLabel, QMessageBox, QProgressBar,
                               QPushButton, QSizePolicy, QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from tlstudio.core.data.modality import modality_for
from tlstudio.gui.jobs.audit_jobs import apply_job, audit_job, undo_job
from tlstudio.gui.jobs.tasks import run_task
from tlstudio.gui.jobs.thumbnail_jobs import ThumbnailLoader

ISSUE_ROWS = 200          # label issues listed at most
THUMB = 48
KEY_ROLE = Qt.ItemDataRole.UserRole


def flagged_keys(report: dict) -> list[str]:
    """The keys an audit flags on the embedding map: its likely label errors and its outliers."""
    return [x["key"] for x in report["label_issues"] + report.get("label_set_issues", [])] + \
        [o["key"] for o in report["outliers"]]


def _table(headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setStretchLastSection(True)
    table.setWordWrap(False)
    return table


FIRST_HINT = ("No audit yet: press Run audit to find labels the model does not believe, duplicates that leak "
              "between training and validation, and samples unlike any class (a minute or so on the CPU). "
              "Nothing on disk changes unless you choose Apply to disk.")


class AuditPanel(QWidget):
    flaggedChanged = Signal(list)     # sample keys of the current findings (label issues, outliers), [] when cleared

    def __init__(self, state, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("auditPanel")
        self.state = state
        self.report: dict | None = None
        self.job = None
        self.thumbs = ThumbnailLoader(self)
        self.thumbs.thumbnailReady.connect(self._on_thumbnail)
        self._build_ui()
        state.projectReplaced.connect(self._clear)
        state.changed.connect(lambda section: self._refresh_status() if section == "curation" else None)

    # -- layout ------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.run_button = QPushButton("Run audit", objectName="runAudit")
        self.run_button.clicked.connect(self.run_audit)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        self.progress = QProgressBar()
        self.progress.hide()
        self.summary = QLabel(FIRST_HINT, wordWrap=True, objectName="auditSummary")
        top = QHBoxLayout()
        top.addWidget(self.run_button)
        top.addWidget(self.cancel_button)
        top.addWidget(self.progress, 1)
        top.addStretch(0)
        for b in (self.run_button, self.cancel_button):
            b.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

        self.issues = _table(["", "Sample", "Given", "Suggested", "Score", "Status"])
        self.issues.verticalHeader().setDefaultSectionSize(THUMB + 4)
        self.issues.setIconSize(QPixmap(THUMB, THUMB).size())
        self.exclude_button = QPushButton("Exclude")
        self.exclude_button.clicked.connect(lambda: self.exclude_selected(self.issues))
        self.relabel_button = QPushButton("Relabel to suggested")
        self.relabel_button.clicked.connect(self.relabel_selected)
        self.restore_button = QPushButton("Restore")
        self.restore_button.setToolTip("Include the selected samples again with the label they were scanned with")
        self.restore_button.clicked.connect(lambda: self.restore_selected(self.issues))
        issue_page = self._page(self.issues, [self.exclude_button, self.relabel_button, self.restore_button])

        self.dups = _table(["Tier", "Why", "Samples", "Classes", "Splits", "Warning"])
        self.dup_button = QPushButton("Exclude all but the first")
        self.dup_button.clicked.connect(self.exclude_duplicates)
        dup_page = self._page(self.dups, [self.dup_button])

        self.outliers = _table(["Sample", "Class", "Nearest class", "Score", "Status"])
        self.outlier_button = QPushButton("Exclude")
        self.outlier_button.clicked.connect(lambda: self.exclude_selected(self.outliers))
        outlier_page = self._page(self.outliers, [self.outlier_button])

        self.tabs = QTabWidget(objectName="auditTabs")
        self.tabs.addTab(issue_page, "Likely label errors")
        self.tabs.addTab(dup_page, "Duplicates")
        self.tabs.addTab(outlier_page, "Outliers")

        self.apply_button = QPushButton("Apply to disk…", objectName="applyToDisk")
        self.apply_button.setToolTip("Move relabelled images into their new class folders (an undo record is kept)")
        self.apply_button.clicked.connect(self.apply_to_disk)
        self.undo_button = QPushButton("Undo last apply")
        self.undo_button.clicked.connect(self.undo_apply)
        self.curation = QLabel(objectName="curationStatus")
        bottom = QHBoxLayout()
        bottom.addWidget(self.curation, 1)
        bottom.addWidget(self.apply_button)
        bottom.addWidget(self.undo_button)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(bottom)
        for table in (self.issues, self.dups, self.outliers):
            table.itemSelectionChanged.connect(self._update_actions)
        self._refresh_status()

    def _update_actions(self) -> None:
        """Each action enabled only when it has something to act on; the tooltip says what it needs."""
        rows = {t: bool(t.selectedIndexes()) for t in (self.issues, self.outliers)}
        audited = self.report is not None
        need = "Run the audit first." if not audited else "Select rows in the table first."
        for button, table, tip in ((self.exclude_button, self.issues, "Leave the selected samples out of training."),
                                   (self.relabel_button, self.issues, "Give the selected samples the label the "
                                                                      "model suggests."),
                                   (self.restore_button, self.issues, "Include the selected samples again with the "
                                                                      "label they were scanned with."),
                                   (self.outlier_button, self.outliers, "Leave the selected outliers out of "
                                                                        "training.")):
            button.setEnabled(rows[table])
            button.setToolTip(tip if rows[table] else f"{tip} {need}")
        self.dup_button.setEnabled(self.dups.rowCount() > 0)
        self.dup_button.setToolTip("Keep the first sample of each duplicate group, exclude the others."
                                   + ("" if self.dups.rowCount() else f" {need if not audited else 'None found.'}"))
        from tlstudio.core.insight.actions import latest_undo_record

        try:
            undo = latest_undo_record(self.state.project_path) is not None
        except OSError:
            undo = False
        self.undo_button.setEnabled(undo)
        self.undo_button.setToolTip("Move the images of the last Apply to disk back." if undo else
                                    "Nothing to undo: no Apply to disk beside this project yet.")

    @staticmethod
    def _page(table: QTableWidget, buttons: list[QPushButton]) -> QWidget:
        page = QWidget()
        box = QVBoxLayout(page)
        box.addWidget(table, 1)
        row = QHBoxLayout()
        for b in buttons:
            row.addWidget(b)
        row.addStretch(1)
        box.addLayout(row)
        return page

    # -- running -----------------------------------------------------------------------------
    def run_audit(self) -> None:
        if self.job is not None:
            return
        if not self.state.project.data.path:
            self._say("Open a dataset first (Data tab).", error=True)
            return
        self.run_button.setEnabled(False)
        self.cancel_button.show()
        self.progress.setRange(0, 0)
        self.progress.show()
        self._say("Reading features and checking the data…")
        self.job = run_task(audit_job, self.state.project.to_dict(), with_progress=True, parent=self,
                            on_progress=self._on_progress)
        job = self.job
        job.finished.connect(lambda report: self._on_done(job, report))
        job.failed.connect(lambda message: self._on_failed(job, message))

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def _end(self, job) -> bool:
        if job is not self.job:
            return False
        self.job = None
        self.run_button.setEnabled(True)
        self.cancel_button.hide()
        self.progress.hide()
        return True

    def _on_failed(self, job, message: str) -> None:
        if self._end(job):
            self._say("Audit cancelled." if job.was_cancelled() else message, error=not job.was_cancelled())

    def _on_done(self, job, report: dict) -> None:
        if self._end(job):
            self.show_report(report)

    def _clear(self) -> None:
        self.report = None
        self._say(FIRST_HINT)
        self.thumbs.cancel()
        for table in (self.issues, self.dups, self.outliers):
            table.setRowCount(0)
        self.flaggedChanged.emit([])
        self._refresh_status()

    # -- showing -----------------------------------------------------------------------------
    def _say(self, text: str, error: bool = False) -> None:
        self.summary.setText(text)
        self.summary.setStyleSheet("color: #b03a2e;" if error else "")

    def show_report(self, report: dict) -> None:
        self.report = report
        c, text = report["counts"], not modality_for(report["task"]).shown_as_thumbnails
        noun = modality_for(report["task"]).noun
        # A multi-label dataset's issues are per (sample, label): "given" and "suggested" are label sets.
        found = report["label_issues"] or report.get("label_set_issues", [])
        n_issues = c.get("label_set_issues", c["label_issues"])
        self._say(f"{report['samples']:,} {noun} checked with {report['model']} in "
                  f"{report['seconds'].get('total', 0):.1f} s: {n_issues} likely label errors, "
                  f"{c['duplicates']} duplicate groups ({c['leaking_duplicates']} across train/val/test; "
                  f"{c.get('similar', 0)} more only similar), "
                  f"{c['outliers']} outliers." + "".join(f" {note}" for note in report.get("notes", [])))
        self.tabs.setTabText(0, f"Likely label errors ({n_issues})")
        self.tabs.setTabText(1, f"Duplicates ({c['duplicates']})")
        self.tabs.setTabText(2, f"Outliers ({c['outliers']})")
        issues = found[:ISSUE_ROWS]
        self.issues.setRowCount(len(issues))
        self.issues.setColumnHidden(0, text)
        self.issues.verticalHeader().setDefaultSectionSize(24 if text else THUMB + 4)
        for r, x in enumerate(issues):
            self._set_row(self.issues, r, ["", x.get("text") or x["key"], x["given"], x["suggested"],
                                           f"{x['score']:.2f}", ""], x["key"])
            self.issues.item(r, 3).setData(KEY_ROLE, x["suggested"])
        groups = report["duplicates"] + report.get("similar", [])      # verified first, then the lower tier
        self.dups.setRowCount(len(groups))
        for r, g in enumerate(groups):
            warn = ", ".join(w for w, on in (("in train and val/test", g["straddles_split"]),
                                             ("labels differ", g["labels_differ"])) if on)
            self._set_row(self.dups, r, [g.get("tier", "duplicate"), g.get("why", g["kind"]), ", ".join(g["keys"]),
                                         ", ".join(sorted(set(g["labels"]))), ", ".join(sorted(set(g["splits"]))),
                                         warn], g["keys"])
            if warn:
                self.dups.item(r, 5).setForeground(QColor("#b03a2e"))
            if g.get("tier") == "similar":
                for c in range(2):
                    self.dups.item(r, c).setForeground(QColor("#6b6b6b"))
        self.outliers.setRowCount(len(report["outliers"]))
        for r, o in enumerate(report["outliers"]):
            self._set_row(self.outliers, r, [o.get("text") or o["key"], o["label"], o["nearest"],
                                             f"{o['score']:.1f}", ""], o["key"])
        for table in (self.issues, self.dups, self.outliers):
            table.resizeColumnsToContents()
        self.issues.setColumnWidth(0, THUMB + 8)
        self.issues.setColumnWidth(1, min(self.issues.columnWidth(1), 420))
        if not text:
            self.thumbs.load([x["path"] for x in issues])
        self._update_actions()
        self.flaggedChanged.emit(flagged_keys(report))
        self._refresh_status()

    @staticmethod
    def _set_row(table: QTableWidget, r: int, cells: list[str], key) -> None:
        for c, value in enumerate(cells):
            item = QTableWidgetItem(value)
            item.setToolTip(value)
            table.setItem(r, c, item)
        table.item(r, 0).setData(KEY_ROLE, key)

    def _on_thumbnail(self, row: int, image) -> None:
        if row < self.issues.rowCount():
            self.issues.item(row, 0).setIcon(QIcon(QPixmap.fromImage(image)))

    def _refresh_status(self) -> None:
        """Each listed sample's state under the project's curation, and the totals."""
        data = self.state.project.data
        excluded, overrides = set(data.exclusions), data.label_overrides
        for table, col in ((self.issues, 5), (self.outliers, 4)):
            for r in range(table.rowCount()):
                key = table.item(r, 0).data(KEY_ROLE)
                status = "excluded" if key in excluded else (f"→ {overrides[key]}" if key in overrides else "")
                table.item(r, col).setText(status)
        self.curation.setText(f"Project: {len(data.exclusions)} excluded, {len(overrides)} relabelled")
        self.apply_button.setEnabled(bool(overrides) and modality_for(self.state.project.task).curation_on_disk)
        self._update_actions()

    # -- actions (the project only) --------------------------------------------------------------
    def _selected_keys(self, table: QTableWidget) -> list:
        rows = sorted({i.row() for i in table.selectedIndexes()})
        return [table.item(r, 0).data(KEY_ROLE) for r in rows]

    def _changed(self) -> None:
        self.state.mark_changed("curation")     # modified; the Data tab recounts
        self._refresh_status()

    def exclude_selected(self, table: QTableWidget) -> None:
        from tlstudio.core.insight.actions import exclude

        if exclude(self.state.project.data, self._selected_keys(table)):
            self._changed()

    def relabel_selected(self) -> None:
        from tlstudio.core.insight.actions import relabel

        rows = sorted({i.row() for i in self.issues.selectedIndexes()})
        for r in rows:
            relabel(self.state.project.data, self.issues.item(r, 0).data(KEY_ROLE),
                    self.issues.item(r, 3).data(KEY_ROLE))
        if rows:
            self._changed()

    def restore_selected(self, table: QTableWidget) -> None:
        from tlstudio.core.insight.actions import include, relabel

        keys = self._selected_keys(table)
        include(self.state.project.data, keys)
        for key in keys:
            relabel(self.state.project.data, key, None)
        if keys:
            self._changed()

    def exclude_duplicates(self) -> None:
        from tlstudio.core.insight.actions import exclude

        rows = (sorted({i.row() for i in self.dups.selectedIndexes()})     # nothing selected: the verified tier
                or [r for r in range(self.dups.rowCount()) if self.dups.item(r, 0).text() == "duplicate"])
        keys = [k for r in rows for k in self.dups.item(r, 0).data(KEY_ROLE)[1:]]
        if exclude(self.state.project.data, keys):
            self._changed()

    # -- on disk ----------------------------------------------------------------------------------
    def confirm(self, text: str) -> bool:
        answer = QMessageBox.question(self, "Apply to disk", text,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def apply_to_disk(self) -> None:
        n = len(self.state.project.data.label_overrides)
        if not n:
            self._say("Relabel some images first: Apply to disk moves relabelled images.", error=True)
            return
        if self.state.project_path is None:
            self._say("Save the project first: the undo record is kept beside it.", error=True)
            return
        if not self.confirm(f"Move {n} relabelled image(s) into their new class folders in\n"
                            f"{self.state.project.data.path}?\n\nNo file is overwritten or deleted; "
                            "\"Undo last apply\" moves them back."):
            return
        job = run_task(apply_job, self.state.project.to_dict(), str(self.state.project_path), parent=self)
        job.finished.connect(self._on_applied)
        job.failed.connect(lambda message: self._say(message, error=True))

    def _on_applied(self, result) -> None:
        record, overrides = result
        self.state.project.data.label_overrides = overrides
        self.state.save()                       # the project must match the folders now
        self._say(f"Moved the images; the undo record is {record}. Rescanning the data…")
        self.state.mark_changed("curation")
        self._rescan()

    def undo_apply(self) -> None:
        if self.state.project_path is None:
            self._say("Save the project first.", error=True)
            return
        job = run_task(undo_job, str(self.state.project_path), parent=self)
        job.finished.connect(self._on_undone)
        job.failed.connect(lambda message: self._say(message, error=True))

    def _on_undone(self, overrides: dict) -> None:
        self.state.project.data.label_overrides = {**self.state.project.data.label_overrides, **overrides}
        self._say(f"Moved {len(overrides)} image(s) back; their label overrides are restored.")
        self._changed()
        self._rescan()

    def _rescan(self) -> None:
        window = self.window()
        browser = getattr(window, "dataset_browser", None)
        if browser is not None:
            browser.rescan()
