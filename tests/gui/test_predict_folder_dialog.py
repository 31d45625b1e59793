""""Predict a folder…": the table fills from a worker, sorts, cancels and saves a CSV; the Try page opens it."""
import csv
import os
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from tests.core.runs.run_factory import make_run
from tlstudio.core.paths import demo_data_dir

TIMEOUT_MS = 120000
SHOTS = os.environ.get("TLSTUDIO_SHOTS")        # a folder to keep the rendered dialog in (else the test's tmp)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    from tlstudio.core.runs.folder import load_model

    return load_model(make_run(tmp_path_factory.mktemp("gui_predfolder") / "run"))


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "to sort"
    for cls in ("bag", "sneaker", "trouser"):
        (root / cls[:2]).mkdir(parents=True)
        for i in range(7):
            shutil.copyfile(demo_data_dir() / cls / f"{i:03d}.png", root / cls[:2] / f"{cls}_{i}.png")
    (root / "tr" / "damaged.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return root


def _dialog(qtbot, loaded):
    from tlstudio.gui.panels.predict_folder_dialog import PredictFolderDialog

    dialog = PredictFolderDialog(lambda: loaded)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_the_table_fills_sorts_and_saves_as_csv(qtbot, loaded, folder, tmp_path, monkeypatch):
    from tlstudio.core.runs.predict_folder import predict_folder

    dialog = _dialog(qtbot, loaded)
    assert not dialog.save_button.isEnabled()
    assert dialog.start(str(folder))
    assert dialog.cancel_button.isEnabled() and not dialog.choose_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.summary is not None and not dialog.is_running(), timeout=TIMEOUT_MS)
    assert dialog.model.rowCount() == 22 and dialog.progress.value() == dialog.progress.maximum() == 22
    assert "Predicted 22 images" in dialog.status.text() and "1 could not be read" in dialog.status.text()

    # the same rows as the core writes for the folder
    predict_folder(loaded, folder, tmp_path / "core.csv", top_k=3)
    with open(tmp_path / "core.csv", newline="") as fh:
        core_rows = list(csv.DictReader(fh))
    assert [r["path"] for r in dialog.model.rows] == [r["path"] for r in core_rows]
    assert [r.get("label", "") for r in dialog.model.rows] == [r["label"] for r in core_rows]

    # a click on the Probability header sorts by the number, most sure first, the damaged file last
    dialog.view.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    shown = [dialog.proxy.index(i, 2).data(Qt.ItemDataRole.UserRole) for i in range(dialog.proxy.rowCount())]
    assert shown == sorted(shown, reverse=True) and shown[-1] == -1.0
    assert dialog.proxy.index(21, 0).data() == "tr/damaged.png"
    assert dialog.proxy.index(0, 2).data().endswith("%")
    shots = Path(SHOTS) if SHOTS else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    assert dialog.grab().save(str(shots / "predict_folder_dialog.png"))

    target = tmp_path / "saved.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "CSV (*.csv)"))
    assert dialog.save_button.isEnabled()
    dialog.save_button.click()
    qtbot.waitUntil(lambda: dialog.saved_to is not None, timeout=TIMEOUT_MS)
    with open(target, newline="") as fh:
        saved = list(csv.DictReader(fh))
    assert [(r["path"], r["label"], r["error"] != "") for r in saved] == \
        [(r["path"], r["label"], r["error"] != "") for r in core_rows]
    assert "Saved 22 rows" in dialog.status.text()

    # a file the app did not write is not replaced
    mine = tmp_path / "mine.csv"
    mine.write_text("my,own\n1,2\n")
    dialog.save(str(mine))
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Not saved"), timeout=TIMEOUT_MS)
    assert mine.read_text() == "my,own\n1,2\n" and "not a TL Studio CSV prediction file" in dialog.status.text()


def test_cancel_keeps_the_rows_so_far(qtbot, loaded, folder):
    from tlstudio.gui.panels import predict_folder_dialog

    dialog = _dialog(qtbot, loaded)
    first_batch = []
    original = predict_folder_dialog.predict_folder_job

    def slow_job(model, where, sink, top_k, job=None):      # cancel once the first batch is out
        def sink_then_cancel(rows):
            sink(rows)
            first_batch.append(len(rows))
            job.cancel()
        return original(model, where, sink_then_cancel, top_k, batch_size=5, job=job)

    predict_folder_dialog.predict_folder_job = slow_job
    try:
        dialog.start(str(folder))
        qtbot.waitUntil(lambda: not dialog.is_running(), timeout=TIMEOUT_MS)
    finally:
        predict_folder_dialog.predict_folder_job = original
    assert dialog.summary is None and dialog.status.text().startswith("Cancelled:")
    assert dialog.model.rowCount() == first_batch[0] < 22
    assert dialog.save_button.isEnabled() and dialog.choose_button.isEnabled()


def test_the_try_page_opens_the_dialog_once_a_run_is_loaded(qtbot, loaded, folder, monkeypatch):
    from tlstudio.gui.panels.results_try import TryView

    current = {"loaded": None}
    view = TryView(lambda: current["loaded"], lambda task: None)
    qtbot.addWidget(view)
    assert len(view.folder_buttons) == 2 and not any(b.isEnabled() for b in view.folder_buttons)
    current["loaded"] = loaded
    view.set_available(True)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    view.folder_buttons[0].click()
    dialog = view.folder_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.choose_button.click()
    qtbot.waitUntil(lambda: dialog.summary is not None, timeout=TIMEOUT_MS)
    assert dialog.model.rowCount() == 22 and dialog.folder_edit.text() == str(folder)
    dialog.close()
