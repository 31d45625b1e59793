"""File → Run on a cluster… writes the files (asking before replacing); Open run folder… shows a run."""
import json
from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from tlstudio.core.runs import cluster
from tlstudio.gui.panels.cluster_dialog import ClusterDialog, open_run_folder, run_folder_info
from tlstudio.core.project import Project


def test_dialog_writes_the_files_and_asks_before_replacing(qtbot, tmp_path, monkeypatch):
    project = Project(name="demo")
    dialog = ClusterDialog(project, str(tmp_path))
    qtbot.addWidget(dialog)
    dialog.folder_edit.setText(str(tmp_path / "pack"))
    dialog.gpus.setValue(8)
    assert "--nproc-per-node 8" in dialog.preview.toPlainText()
    assert "File → Open run folder" in dialog.results_hint.text()
    assert "runs/demo" in dialog.results_hint.text() and str(tmp_path / "pack") in dialog.results_hint.text()
    dialog.write()
    assert sorted(p.name for p in (tmp_path / "pack").iterdir()) == sorted(
        [cluster.PROJECT_FILE, cluster.SLURM_FILE, cluster.TORCHRUN_FILE])
    (tmp_path / "pack" / cluster.SLURM_FILE).write_text("edited")
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No)
    dialog.write()
    assert asked and (tmp_path / "pack" / cluster.SLURM_FILE).read_text() == "edited"


def test_open_run_folder_lists_the_run_in_results(qtbot, tmp_path, monkeypatch):
    from tlstudio.gui.main_window import MainWindow

    run = tmp_path / "run"
    run.mkdir()
    assert run_folder_info(run) is None
    (run / "model.json").write_text(json.dumps({"model_name": "resnet18"}))
    (run / "metrics.json").write_text(json.dumps({"val_accuracy": 0.75, "epochs_run": 3, "cancelled": False}))
    window = MainWindow()
    qtbot.addWidget(window)
    monkeypatch.setattr(window.results_panel, "load_run", lambda *a, **k: None)     # no model to evaluate here
    assert open_run_folder(window, str(run))
    assert window.state.project.runs[-1].run_dir == str(run)
    assert window.tabs.currentWidget() is window.results_panel
    assert window.results_panel.run_combo.currentData() == str(run)
