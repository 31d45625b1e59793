"""File → "Run on a cluster…": the project plus ready torchrun / SLURM launch scripts, into a folder.

The files come from ``core/runs/cluster.py``; this dialog only chooses the
folder and the GPU/node counts, shows the command, asks before replacing a
file, and says how the finished run comes back into the Results tab
(File → "Open run folder…").
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QMessageBox, QPlainTextEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from tlstudio.core.runs import cluster


class ClusterDialog(QDialog):
    """Writes project.json, train_torchrun.sh and train_slurm.sbatch into a folder the user picks."""

    def __init__(self, project, start_folder: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Run on a cluster")
        self.setObjectName("clusterDialog")
        self.project = project
        self.written: list[Path] = []
        intro = QLabel(
            "Train this project on a machine with several GPUs, or on a cluster, with PyTorch's own launcher "
            "(<i>torchrun</i>). TL Studio writes the project and two launch scripts into a folder: copy the "
            "folder to the GPU machine (where TL Studio is installed in Python) and run "
            f"<b>{cluster.TORCHRUN_FILE}</b>, or submit <b>{cluster.SLURM_FILE}</b> with <i>sbatch</i>.")
        intro.setWordWrap(True)

        self.folder_edit = QLineEdit(str(Path(start_folder) / f"{cluster.safe_name(project.name)}-cluster"))
        self.folder_edit.setObjectName("clusterFolder")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        self.gpus = QSpinBox(objectName="clusterGpus", minimum=1, maximum=64, value=4)
        self.nodes = QSpinBox(objectName="clusterNodes", minimum=1, maximum=512, value=1)
        self.hours = QSpinBox(objectName="clusterHours", minimum=1, maximum=720, value=4, suffix=" h")
        for box in (self.gpus, self.nodes, self.hours):
            box.valueChanged.connect(self._refresh)
        form = QFormLayout()
        form.addRow("Folder:", folder_row)
        form.addRow("GPUs per machine:", self.gpus)
        form.addRow("Machines (nodes):", self.nodes)
        form.addRow("Time limit (SLURM):", self.hours)

        self.preview = QPlainTextEdit(objectName="clusterPreview", readOnly=True)
        self.preview.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.preview.setMinimumHeight(80)
        self.results_hint = QLabel(objectName="clusterResultsHint", wordWrap=True)
        self.results_hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.write_button = buttons.addButton("Write files", QDialogButtonBox.ButtonRole.AcceptRole)
        self.write_button.setObjectName("clusterWrite")
        buttons.accepted.connect(self.write)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(QLabel("Every machine runs:"))
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.results_hint)
        layout.addWidget(buttons)
        self.folder_edit.textChanged.connect(self._refresh)
        self.resize(680, 520)
        self._refresh()

    def plan(self) -> cluster.ClusterPlan:
        return cluster.ClusterPlan(gpus_per_node=self.gpus.value(), nodes=self.nodes.value(),
                                   time_limit=f"{self.hours.value():02d}:00:00")

    def run_folder(self) -> Path:
        return Path(self.folder_edit.text().strip() or ".") / cluster.run_folder_name(self.project)

    @Slot()
    def _refresh(self) -> None:
        plan = self.plan()
        total = plan.gpus_per_node * plan.nodes
        self.preview.setPlainText(cluster.torchrun_command(self.project, plan).replace("\\\n    ", "\\\n  "))
        self.results_hint.setText(
            f"{total} process(es) train together on the data in <i>DATA</i> (the project's data folder unless "
            "you set DATA=… where the cluster sees it elsewhere). Rank 0 writes one run folder, "
            f"<b>{cluster.run_folder_name(self.project)}</b> next to the scripts (here: {self.run_folder()}). "
            "If a process dies, torchrun "
            f"restarts them all (up to {plan.max_restarts} times) and the run resumes from its last checkpoint. "
            "When the job has finished, bring that folder back and choose <b>File → Open run folder…</b>: "
            "the run appears in the <b>Results</b> tab, ready to evaluate, explain and export.")

    @Slot()
    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the cluster files", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    @Slot()
    def write(self) -> None:
        folder = Path(self.folder_edit.text().strip())
        if not self.folder_edit.text().strip():
            QMessageBox.warning(self, "Run on a cluster", "Choose a folder for the files.")
            return
        clash = cluster.existing_files(folder)
        if clash:
            answer = QMessageBox.question(
                self, "Replace files?", f"{folder} already holds {', '.join(clash)}. Replace them?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                return
        try:
            self.written = cluster.write_cluster_files(self.project, self.plan(), folder, overwrite=bool(clash))
        except OSError as exc:
            QMessageBox.warning(self, "Cannot write the files", str(exc))
            return
        self.accept()


def run_on_cluster(window) -> ClusterDialog:
    """File → "Run on a cluster…": the dialog for the window's project (modal)."""
    path = window.state.project_path
    dialog = ClusterDialog(window.state.project, str(path.parent) if path else str(Path.home()), window)
    if dialog.exec() == QDialog.DialogCode.Accepted and dialog.written:
        window.statusBar().showMessage(f"Cluster files written to {dialog.written[0].parent}", 10000)
    return dialog


def run_folder_info(run_dir: Path) -> dict | None:
    """The run record of a finished run folder (from its metrics), or None when it is not a run folder."""
    from tlstudio.core.errors import RunFolderError
    from tlstudio.core.runs.run_folder import MODEL, RunFolder

    folder = RunFolder(run_dir)
    if not folder.file(MODEL).is_file():
        return None
    try:
        metrics = folder.metrics()
    except RunFolderError:
        metrics = {}
    info = {key: metrics.get(key) for key in ("val_accuracy", "epochs_run", "cancelled")}
    try:
        info["model"] = folder.read(MODEL).get("model_name")
    except (RunFolderError, AttributeError):
        pass
    if metrics.get("error"):
        info["error"] = metrics["error"]
    return info


def open_run_folder(window, folder: str | None = None) -> bool:
    """File → "Open run folder…": add a run folder (one trained elsewhere, say) and show it in Results."""
    if folder is None:
        folder = QFileDialog.getExistingDirectory(window, "Open a run folder", str(Path.home()))
        if not folder:
            return False
    run_dir = Path(folder).absolute()
    info = run_folder_info(run_dir)
    if info is None:
        QMessageBox.warning(window, "Open run folder", f"{run_dir} is not a TL Studio run folder (no model.json).")
        return False
    known = {r.run_dir for r in window.state.project.runs}
    if str(run_dir) in known:
        window.state.runFinished.emit(str(run_dir))
    else:
        window.state.add_run(str(run_dir), info)
    window.tabs.setCurrentWidget(window.results_panel)
    return True
