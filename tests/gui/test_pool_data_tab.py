"""The Data tab with an unlabeled pool: "Unlabeled (N)" beside the classes, its thumbnails or rows,
and labelling from there (picker and context menu) into the project, the files untouched."""
from __future__ import annotations

import os

from PySide6.QtCore import QItemSelectionModel

from tests.core.data.test_pool import image_folder, text_table, tree
from tlstudio.core.project import Project
from tlstudio.gui.panels.dataset_browser import DatasetBrowser
from tlstudio.gui.panels.pool_labelling import IN_PROJECT_NOTE, ON_DISK_NOTE
from tlstudio.gui.state import ProjectState

TIMEOUT_MS = 60_000
SHOTS = os.environ.get("TLSTUDIO_SCREENSHOTS")      # a folder to keep the rendered tab in (optional)


def open_browser(qtbot, path, task="image"):
    state = ProjectState(Project(name="pool", task=task))
    browser = DatasetBrowser(state)
    qtbot.addWidget(browser)
    browser.resize(1280, 720)
    browser.show()
    with qtbot.waitSignal(state.datasetChanged, timeout=TIMEOUT_MS):
        browser.open_path(path)
    qtbot.waitUntil(lambda: state.dataset is not None and not browser.is_scanning(), timeout=TIMEOUT_MS)
    return state, browser


def choose(browser, text_start: str) -> None:
    combo = browser.class_combo
    combo.setCurrentIndex(next(i for i in range(combo.count()) if combo.itemText(i).startswith(text_start)))


def test_image_pool_is_browsable_and_labelled_into_a_class(qtbot, tmp_path):
    data = image_folder(tmp_path / "data", {0: 5, 1: 5}, unlabeled=6)
    before = tree(data)
    state, browser = open_browser(qtbot, data)
    combo = browser.class_combo
    assert [combo.itemText(i) for i in range(combo.count())] == ["t-shirt (5)", "trouser (5)", "Unlabeled (6)"]
    assert browser.summary.text() == "10 images in 2 classes · 6 unlabeled"
    assert not browser.labeller.isVisible()               # a class of the data: nothing to label
    page = browser.pages["image"]
    thumbnails = []
    page.thumbs.thumbnailReady.connect(lambda row, image: thumbnails.append((row, image.width())))
    choose(browser, "Unlabeled")
    assert page.thumb_model.rowCount() == 6 and browser.labeller.isVisible()
    assert browser.labeller.note.text() == ON_DISK_NOTE
    qtbot.waitUntil(lambda: sorted(r for r, _ in thumbnails) == list(range(6)), timeout=TIMEOUT_MS)
    assert all(width > 0 for _, width in thumbnails)                  # the pictures themselves
    chosen = [page.thumb_model.item(r).data(0x0100) for r in (1, 3)]
    for r in (1, 3):
        page.thumb_view.selectionModel().select(page.thumb_model.index(r, 0), QItemSelectionModel.SelectionFlag.Select)
    assert page.selected_paths() == chosen
    if SHOTS:
        browser.grab().save(os.path.join(SHOTS, "data-tab-image-pool.png"))
    browser.labeller.class_choice.setCurrentText("trouser")
    browser.labeller.label_button.click()
    keys = [f"unlabeled/{os.path.basename(p)}" for p in chosen]
    assert all(state.project.data.label_overrides[k] == "trouser" for k in keys) and state.dirty
    # The view follows: the pool lost two, the class gained them; the tab stays on the pool.
    assert [combo.itemText(i) for i in range(combo.count())] == ["t-shirt (5)", "trouser (7)", "Unlabeled (4)"]
    assert combo.currentText() == "Unlabeled (4)" and page.thumb_model.rowCount() == 4
    assert state.project.head.num_classes == 2 and tree(data) == before
    # A new class typed in the picker: the head grows to three classes.
    page.thumb_view.selectionModel().select(page.thumb_model.index(0, 0), QItemSelectionModel.SelectionFlag.Select)
    assert browser.labeller.label_selected("coat") == 1
    assert combo.itemText(2) == "coat (1)" and state.project.head.num_classes == 3
    # In the class, a sample labelled here can go back to the pool.
    choose(browser, "trouser")
    assert browser.labeller.unlabel_button.isVisible() and not browser.labeller.label_button.isVisible()
    rows = [r for r in range(page.thumb_model.rowCount())
            if os.path.dirname(page.thumb_model.item(r).data(0x0100)).endswith("unlabeled")]
    page.thumb_view.selectionModel().select(page.thumb_model.index(rows[0], 0),
                                            QItemSelectionModel.SelectionFlag.Select)
    browser.labeller.unlabel_button.click()
    assert combo.itemText(1) == "trouser (6)" and "Unlabeled (4)" in [combo.itemText(i) for i in range(combo.count())]
    assert tree(data) == before


def test_text_rows_without_a_label_are_listed_and_labelled(qtbot, tmp_path):
    table = text_table(tmp_path / "notes.csv")
    before = table.read_bytes()
    state, browser = open_browser(qtbot, table, task="text")
    combo = browser.class_combo
    assert [combo.itemText(i) for i in range(combo.count())] == ["animal (3)", "vehicle (3)", "Unlabeled (3)"]
    choose(browser, "Unlabeled")
    page = browser.pages["text"]
    assert sorted(r[1] for r in page.text_table.visible_rows()) == [
        "a goat chewed the grass", "an owl hooted at night", "the train left the station"]
    assert browser.labeller.note.text() == IN_PROJECT_NOTE
    page.text_table.search.setText("owl")
    page.text_table.view.selectRow(0)
    assert page.selected_paths() == ["notes.csv:8"]
    if SHOTS:
        browser.grab().save(os.path.join(SHOTS, "data-tab-text-pool.png"))
    assert browser.labeller.label_selected("animal") == 1
    assert state.project.data.label_overrides == {"notes.csv:8": "animal"}
    assert combo.itemText(0) == "animal (4)" and combo.currentText() == "Unlabeled (2)"
    assert table.read_bytes() == before


def test_the_context_menu_labels_the_selected_rows(qtbot, tmp_path):
    state, browser = open_browser(qtbot, text_table(tmp_path / "notes.csv"), task="text")
    choose(browser, "Unlabeled")
    page = browser.pages["text"]
    page.text_table.search.setText("train")
    page.text_table.view.selectRow(0)
    label_as = browser.labeller.context_menu(page.item_view).actions()[0].menu()
    assert [a.text() for a in label_as.actions() if a.text()] == ["animal", "vehicle", "New class…"]
    next(a for a in label_as.actions() if a.text() == "vehicle").trigger()
    assert state.project.data.label_overrides == {"notes.csv:9": "vehicle"}
    assert browser.class_combo.itemText(1) == "vehicle (4)"
    choose(browser, "vehicle")                         # labelled here: the menu offers to undo it
    page.text_table.search.setText("train")
    page.text_table.view.selectRow(0)
    menu = browser.labeller.context_menu(page.item_view)
    assert [a.text() for a in menu.actions()] == ["Back to unlabeled"]
    menu.actions()[0].trigger()
    assert state.project.data.label_overrides == {} and browser.class_combo.itemText(1) == "vehicle (3)"
