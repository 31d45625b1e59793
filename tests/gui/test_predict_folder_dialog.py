""""Predict a folder…": the table fills from a worker while the rows stream into the prediction file, sorts,
saves a CSV; a cancelled run continues into its file (the rows it held shown, not predicted again); a file
the app did not write is refused with its one-line reason; the Try page opens the dialog."""
import csv
import json
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


def _shots(tmp_path) -> Path:
    shots = Path(SHOTS) if SHOTS else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def _file_rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_table_fills_sorts_and_saves_as_csv(qtbot, loaded, folder, tmp_path, monkeypatch):
    from tlstudio.core.runs.predict_folder import predict_folder

    dialog = _dialog(qtbot, loaded)
    assert not dialog.save_button.isEnabled() and not dialog.start_button.isEnabled()
    dialog.set_folder(str(folder))
    out = tmp_path / "to sort.predictions.csv"                 # proposed beside the folder, not inside it
    assert dialog.output_edit.text() == str(out) and dialog.start_button.text() == "Predict"
    dialog.start_button.click()
    assert dialog.cancel_button.isEnabled() and not dialog.choose_button.isEnabled()
    assert not dialog.start_button.isEnabled() and not dialog.output_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.summary is not None and not dialog.is_running(), timeout=TIMEOUT_MS)
    assert dialog.model.rowCount() == 22 and dialog.progress.value() == dialog.progress.maximum() == 22
    assert "Predicted 22 images" in dialog.status.text() and "1 could not be read" in dialog.status.text()
    assert dialog.start_button.text() == "Continue" and not dialog.model.from_file

    # the rows streamed into the file are the ones the core writes for the folder, and the table shows them
    predict_folder(loaded, folder, tmp_path / "core.csv", top_k=3)
    core_rows = _file_rows(tmp_path / "core.csv")
    assert [(r["path"], r["label"]) for r in _file_rows(out)] == [(r["path"], r["label"]) for r in core_rows]
    assert [r["path"] for r in dialog.model.rows] == [r["path"] for r in core_rows]
    assert [r.get("label", "") for r in dialog.model.rows] == [r["label"] for r in core_rows]

    # a click on the Probability header sorts by the number, most sure first, the damaged file last
    dialog.view.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    shown = [dialog.proxy.index(i, 2).data(Qt.ItemDataRole.UserRole) for i in range(dialog.proxy.rowCount())]
    assert shown == sorted(shown, reverse=True) and shown[-1] == -1.0
    assert dialog.proxy.index(21, 0).data() == "tr/damaged.png"
    assert dialog.proxy.index(0, 2).data().endswith("%")
    assert dialog.grab().save(str(_shots(tmp_path) / "predict_folder_dialog.png"))

    target = tmp_path / "saved.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "CSV (*.csv)"))
    assert dialog.save_button.isEnabled()
    dialog.save_button.click()
    qtbot.waitUntil(lambda: dialog.saved_to is not None, timeout=TIMEOUT_MS)
    assert [(r["path"], r["label"], r["error"] != "") for r in _file_rows(target)] == \
        [(r["path"], r["label"], r["error"] != "") for r in core_rows]
    assert "Saved 22 rows" in dialog.status.text()

    # a file the app did not write is not replaced
    mine = tmp_path / "mine.csv"
    mine.write_text("my,own\n1,2\n")
    dialog.save(str(mine))
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Not saved"), timeout=TIMEOUT_MS)
    assert mine.read_text() == "my,own\n1,2\n" and "not a TL Studio CSV prediction file" in dialog.status.text()


def test_a_cancelled_run_continues_into_its_file(qtbot, loaded, folder, tmp_path):
    import threading

    from tlstudio.gui.panels import predict_folder_dialog

    dialog = _dialog(qtbot, loaded)
    out = tmp_path / "sorted.jsonl"
    original = predict_folder_dialog.predict_folder_job
    first_batch = []

    def cancel_after_one_batch(model, where, output, sink, top_k, job=None):
        def sink_then_cancel(rows, from_file):
            sink(rows, from_file)
            first_batch.append(len(rows))
            job.cancel()
        return original(model, where, output, sink_then_cancel, top_k, batch_size=5, job=job)

    predict_folder_dialog.predict_folder_job = cancel_after_one_batch
    try:
        dialog.start(str(folder), str(out))
        qtbot.waitUntil(lambda: not dialog.is_running(), timeout=TIMEOUT_MS)
    finally:
        predict_folder_dialog.predict_folder_job = original
    assert dialog.summary is None and dialog.status.text().startswith("Cancelled: 5 rows in sorted.jsonl")
    assert dialog.model.rowCount() == first_batch[0] == 5 and len(out.read_text().splitlines()) == 5
    assert dialog.start_button.isEnabled() and dialog.start_button.text() == "Continue"
    assert dialog.save_button.isEnabled() and dialog.choose_button.isEnabled()

    # Continue: the 5 rows come back from the file (muted), the other 17 are predicted; held mid-run
    # after the first new batch for a screenshot.
    gate, held = threading.Event(), threading.Event()

    def held_after_first_new_batch(model, where, output, sink, top_k, job=None):
        def sink_and_hold(rows, from_file):
            sink(rows, from_file)
            if not from_file and not held.is_set():
                held.set()
                gate.wait(TIMEOUT_MS / 1000)
        return original(model, where, output, sink_and_hold, top_k, batch_size=6, job=job)

    predict_folder_dialog.predict_folder_job = held_after_first_new_batch
    try:
        dialog.start_button.click()
        qtbot.waitUntil(lambda: held.is_set() and dialog.model.rowCount() == 11, timeout=TIMEOUT_MS)
        qtbot.waitUntil(lambda: "already in sorted.jsonl" in dialog.status.text(), timeout=TIMEOUT_MS)
        assert dialog.model.from_file == set(range(5)) and dialog.is_running()
        assert dialog.model.data(dialog.model.index(0, 0), Qt.ItemDataRole.ForegroundRole) is not None
        assert dialog.model.data(dialog.model.index(5, 0), Qt.ItemDataRole.ForegroundRole) is None
        assert dialog.grab().save(str(_shots(tmp_path) / "predict_folder_dialog_resuming.png"))
        gate.set()
        qtbot.waitUntil(lambda: dialog.summary is not None and not dialog.is_running(), timeout=TIMEOUT_MS)
    finally:
        gate.set()
        predict_folder_dialog.predict_folder_job = original
    assert dialog.summary["already"] == 5 and dialog.summary["new"] == 17 and dialog.summary["rows"] == 22
    paths = [json.loads(line)["path"] for line in out.read_text().splitlines()]
    assert len(paths) == len(set(paths)) == 22 and [r["path"] for r in dialog.model.rows] == paths
    assert "Predicted 17 images" in dialog.status.text() and "5 already in sorted.jsonl" in dialog.status.text()
    assert dialog.grab().save(str(_shots(tmp_path) / "predict_folder_dialog_resumed.png"))


def test_a_file_the_app_did_not_write_is_refused_with_its_reason(qtbot, loaded, folder, tmp_path, monkeypatch):
    mine = tmp_path / "inventory.csv"
    mine.write_text("item,count\nbag,3\n")
    dialog = _dialog(qtbot, loaded)
    dialog.set_folder(str(folder))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(mine), "CSV (*.csv)"))
    dialog.output_button.click()
    assert dialog.output_edit.text() == str(mine) and dialog.start_button.text() == "Continue"
    dialog.start_button.click()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=TIMEOUT_MS)
    text = dialog.status.text()
    assert text.startswith("Prediction failed: ") and "not a TL Studio CSV prediction file" in text
    assert "\n" not in text and "Traceback" not in text
    assert mine.read_text() == "item,count\nbag,3\n" and dialog.model.rowCount() == 0
    assert dialog.grab().save(str(_shots(tmp_path) / "predict_folder_dialog_refused.png"))
    # another folder keeps the file the user picked
    dialog.set_folder(str(folder / "ba"))
    assert dialog.output_edit.text() == str(mine)


def test_a_multilabel_run_shows_and_writes_each_rows_label_set(qtbot, loaded, folder, tmp_path):
    import dataclasses

    multi = dataclasses.replace(loaded, info={**loaded.info, "task_type": "multilabel",
                                              "thresholds": [0.0, 0.0, 1.01]})      # bag and sneaker always
    dialog = _dialog(qtbot, multi)
    dialog.start(str(folder), str(tmp_path / "labels.csv"))
    qtbot.waitUntil(lambda: dialog.summary is not None and not dialog.is_running(), timeout=TIMEOUT_MS)
    good = [i for i, r in enumerate(dialog.model.rows) if not r.get("error")]
    assert len(good) == 21
    for i in good:
        assert sorted(dialog.model.index(i, 1).data().split(", ")) == ["bag", "sneaker"]
    saved = _file_rows(tmp_path / "labels.csv")
    assert all(sorted(r["labels"].split(";")) == ["bag", "sneaker"] for r in saved if not r["error"])
    assert dialog.summary["per_label"] == {"bag": 21, "sneaker": 21}
    assert dialog.grab().save(str(_shots(tmp_path) / "predict_folder_dialog_multilabel.png"))


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
    assert dialog.folder_edit.text() == str(folder) and not dialog.is_running()     # the file is shown first
    dialog.start_button.click()
    qtbot.waitUntil(lambda: dialog.summary is not None, timeout=TIMEOUT_MS)
    assert dialog.model.rowCount() == 22 and Path(dialog.output_edit.text()).is_file()
    dialog.close()
