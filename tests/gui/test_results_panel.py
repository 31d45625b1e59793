"""Results tab: evaluation of a real run, confusion-matrix clicks, galleries, predictions, exports."""
import json
import os
from pathlib import Path

import pytest
from matplotlib.backend_bases import MouseEvent
from PySide6.QtWidgets import QFileDialog

from tlstudio.core import paths
from tlstudio.core.project import Project
from tlstudio.core.train.trainer import Trainer
from tlstudio.gui.panels.results_panel import ResultsPanel
from tlstudio.gui.state import ProjectState

TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """One small real training run on the demo data, shared by this module's tests."""
    base = tmp_path_factory.mktemp("results_run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLSTUDIO_CACHE_DIR", str(base / "cache"))
        mp.setenv("TLSTUDIO_DATA_DIR", str(base / "data"))
        project = Project(name="results test")
        project.data.path = str(paths.demo_data_dir())
        project.model.image_size = 64
        project.training.epochs = 2
        # the epoch loop keeps an untouched validation split (a refit run shows its out-of-fold report)
        project.training.head_fit = "epochs"
        folder = base / "run"
        metrics = Trainer(project, folder).run()
    assert metrics["error"] is None and (folder / "best.safetensors").is_file()
    return str(folder)


@pytest.fixture
def panel(qtbot, run_dir):
    project = Project(name="results test")
    project.add_run(run_dir, {"name": "tiny", "val_accuracy": 0.9, "cancelled": False})
    state = ProjectState(project)
    widget = ResultsPanel(state)
    qtbot.addWidget(widget)
    widget.resize(1280, 760)
    widget.show()
    return widget


def evaluate(qtbot, panel) -> dict:
    with qtbot.waitSignal(panel.evaluated, timeout=TIMEOUT_MS) as blocker:
        panel.load_selected()
    return blocker.args[0]


def click_cell(canvas, row: int, col: int) -> None:
    """A real matplotlib button press at the centre of a matrix cell."""
    canvas.draw()
    x, y = canvas.ax.transData.transform((col, row))
    MouseEvent("button_press_event", canvas, x, y, button=1)._process()


def test_lists_runs_and_evaluates_the_validation_split(qtbot, panel, run_dir):
    assert panel.run_combo.count() == 1 and panel.run_combo.currentData() == run_dir
    result = evaluate(qtbot, panel)
    split = json.loads(Path(run_dir, "split.json").read_text())
    classes = result["classes"]
    assert len(classes) == 6
    matrix = panel.confusion.matrix
    assert matrix.shape == (6, 6) and int(matrix.sum()) == len(split["val"])
    assert result["accuracy"] > 0.5                      # well above chance (1/6)
    model = panel.metrics_model
    assert model.rowCount() == 6
    assert [model.item(r, 0).text() for r in range(6)] == classes
    for r, name in enumerate(classes):
        assert int(model.item(r, 4).text()) == result["per_class"][name]["support"]
        assert float(model.item(r, 3).text()) == pytest.approx(result["per_class"][name]["f1"], abs=1e-3)
    assert f"{result['accuracy']:.1%}" in panel.summary_label.text()
    # Class names and figures are never cut to "…": each column is as wide as its widest entry.
    table = panel.metrics_table
    for col in range(4):
        widest = max(table.fontMetrics().horizontalAdvance(model.item(r, col).text()) for r in range(6))
        assert table.horizontalHeader().sectionSize(col) >= widest, col
    # Every misclassified image is in the gallery, captioned "true → predicted (NN%)".
    grid = panel.samples["image"].misclassified
    assert grid.count() == len(result["misclassified"])
    for caption, miss in zip(grid.captions(), result["misclassified"]):
        assert caption.startswith(f"{miss['true']} →") and f"{miss['confidence']:.0%}" in caption
    qtbot.waitUntil(lambda: not grid.is_running(), timeout=TIMEOUT_MS)
    assert grid.loaded_count == grid.count()


def test_the_selector_offers_what_the_run_has_and_a_missing_split_is_reported(qtbot, panel, run_dir):
    evaluate(qtbot, panel)
    offered = [panel.split_combo.itemData(i) for i in range(panel.split_combo.count())]
    assert offered == ["val"] and panel.split_combo.currentText().startswith("Validation split (")
    assert "validation split" in panel.summary_label.text()       # the figure names where it comes from
    with qtbot.waitSignal(panel.loadFailed, timeout=TIMEOUT_MS) as blocker:
        panel.load_run(run_dir, "test")
    assert "test split is empty" in blocker.args[0]
    assert "Could not evaluate" in panel.status_label.text()
    assert panel.confusion.matrix is None


def test_clicking_a_cell_shows_its_images(qtbot, panel):
    result = evaluate(qtbot, panel)
    matrix = panel.confusion.matrix
    row, col = max(((r, c) for r in range(6) for c in range(6)), key=lambda rc: (rc[0] != rc[1], matrix[rc]))
    with qtbot.waitSignal(panel.confusion.cellClicked, timeout=5000) as blocker:
        click_cell(panel.confusion, row, col)
    assert blocker.args == [row, col]
    grid = panel.samples["image"].cell
    assert grid.count() == matrix[row, col]
    expected = [p for p in result["predictions"]
                if p["true"] == result["classes"][row] and p["predicted"] == result["classes"][col]]
    assert grid.paths() == [p["path"] for p in expected]
    assert all(caption.endswith("%") for caption in grid.captions())
    assert panel.tabs.currentIndex() == 1 and panel.cell_stack.currentWidget() is grid
    assert panel.cell_note.text().startswith("True class")
    assert panel.confusion.cell_at(-0.6, 0) is None and panel.confusion.cell_at(5.4, 5.4) == (5, 5)


def test_try_images_shows_top_k_predictions(qtbot, panel, tmp_path):
    evaluate(qtbot, panel)
    demo = paths.demo_data_dir()
    images = [str(demo / "trouser" / "000.png"), str(demo / "bag" / "000.png")]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with qtbot.waitSignal(panel.predicted, timeout=TIMEOUT_MS) as blocker:
        panel.try_images(images + [str(broken)])
    predictions = blocker.args[0]
    assert [p["path"] for p in predictions] == images + [str(broken)]
    assert all(len(p["top_k"]) == 3 for p in predictions[:2])
    assert "error" in predictions[2]
    captions = panel.try_grid.captions()
    assert captions[0].startswith(predictions[0]["label"]) and captions[2] == "unreadable"
    # The table beside the images spells out the top 3 in full: "<class> <probability>" per column.
    rows = panel.try_view.image_table.visible_rows()
    assert rows[0] == ("000.png", *[f"{t['label']} {t['probability']:.1%}" for t in predictions[0]["top_k"]])
    assert rows[2][:2] == ("broken.png", "unreadable")


def test_an_empty_matrix_cell_says_no_samples(qtbot, panel):
    result = evaluate(qtbot, panel)
    matrix = panel.confusion.matrix
    row, col = next((r, c) for r in range(6) for c in range(6) if matrix[r, c] == 0)
    panel.show_cell(row, col)
    assert panel.samples["image"].cell.count() == 0
    assert panel.cell_note.text() == (f"No samples of class '{result['classes'][row]}' were predicted as "
                                      f"'{result['classes'][col]}'.")


def test_open_images_button_uses_a_file_dialog(qtbot, panel, monkeypatch):
    assert not panel.try_view.open_images_button.isEnabled()
    assert "Load a run first" in panel.try_view.open_images_button.toolTip()
    evaluate(qtbot, panel)
    image = str(paths.demo_data_dir() / "dress" / "001.png")
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([image], ""))
    with qtbot.waitSignal(panel.predicted, timeout=TIMEOUT_MS) as blocker:
        panel.try_view.open_images_button.click()
    assert blocker.args[0][0]["path"] == image


@pytest.mark.parametrize("kind, name", [("torchscript", "model.pt"), ("bundle", "bundle")])
def test_export_from_the_button_reports_parity(qtbot, panel, monkeypatch, tmp_path, kind, name):
    evaluate(qtbot, panel)
    target = tmp_path / name
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    with qtbot.waitSignal(panel.exported, timeout=TIMEOUT_MS) as blocker:
        panel.export_tab.buttons[kind].click()
    info = blocker.args[0]
    assert info["path"] == str(target)
    if kind == "bundle":
        from tlstudio.core.runs.folder import load_model
        assert load_model(target).classes == panel.result["classes"]
        assert "byte for byte" in panel.export_tab.label.text()
    else:
        assert target.is_file() and 0 <= info["max_abs_diff"] < 1e-3
        assert "parity" in panel.export_tab.label.text()
    qtbot.waitUntil(lambda: panel.export_tab.buttons[kind].isEnabled(), timeout=5000)


def test_a_folder_that_is_not_a_run_gives_a_message(qtbot, panel, tmp_path):
    with qtbot.waitSignal(panel.loadFailed, timeout=TIMEOUT_MS) as blocker:
        panel.load_run(str(tmp_path))
    assert blocker.args[0]
    assert panel.status_label.text().startswith("Could not evaluate")
    assert not panel.export_tab.buttons["onnx"].isEnabled()


def test_run_finished_on_the_state_loads_that_run(qtbot, run_dir):
    state = ProjectState(Project())
    panel = ResultsPanel(state)
    qtbot.addWidget(panel)
    assert panel.run_combo.count() == 0
    with qtbot.waitSignal(panel.evaluated, timeout=TIMEOUT_MS):
        state.add_run(run_dir, {"name": "fresh", "val_accuracy": 0.8})
    assert panel.run_combo.currentData() == run_dir
    assert "fresh" in panel.run_combo.currentText()
    assert os.path.samefile(panel.run_dir, run_dir)


def test_a_superseded_evaluation_is_cancelled(qtbot, panel, run_dir):
    from tlstudio.core.progress import Cancelled, JobState
    from tlstudio.core.runs import evaluate as evaluate_module
    from tlstudio.gui.panels.results_panel import load_and_evaluate

    stopped = JobState()
    stopped.cancel()
    with pytest.raises(Cancelled):
        load_and_evaluate(run_dir, "val", job=stopped)

    seen = []
    real_evaluate = evaluate_module.evaluate_run

    def watched(*args, job=None, **kwargs):
        seen.append(job)
        return real_evaluate(*args, job=job, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(evaluate_module, "evaluate_run", watched)
        panel.load_selected()
        first = panel._load_task
        with qtbot.waitSignal(panel.evaluated, timeout=TIMEOUT_MS):
            panel.load_selected()                 # supersedes the first load
        qtbot.waitUntil(lambda: not first.is_running(), timeout=TIMEOUT_MS)
    assert first.state.is_cancelled
    assert all(task is not None for task in seen)       # the evaluation got the task it can be stopped by
    assert first.error in (None, "Cancelled.")
