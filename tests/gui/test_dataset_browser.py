"""Dataset browser: scanning in a worker, skipped files, split counts, thumbnails, previews."""
from PIL import Image
from PySide6.QtWidgets import QTableWidget

from tlstudio.gui.panels.dataset_browser import DatasetBrowser, imbalance_warning
from tlstudio.gui.state import ProjectState


def make_folder(root, counts):
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (12, 10), (40 * i % 255, 90, 160)).save(root / cls / f"{i}.png")
    return root


def open_browser(qtbot, path):
    state = ProjectState()
    browser = DatasetBrowser(state)
    qtbot.addWidget(browser)
    with qtbot.waitSignal(state.datasetChanged, timeout=30000):
        browser.open_path(path)
    return state, browser


def test_bad_files_are_listed_with_reasons(tmp_path, qtbot):
    root = make_folder(tmp_path / "data", {"cats": 4, "dogs": 4})
    (root / "cats" / "empty.png").write_bytes(b"")
    (root / "dogs" / "notes.png").write_text("this is text, not a picture")
    state, browser = open_browser(qtbot, root)
    assert state.dataset is not None and len(state.dataset.samples) == 8
    assert state.project.data.path == str(root) and state.dirty
    table = browser.findChild(QTableWidget, "skippedTable")
    rows = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert set(rows) == {"cats/empty.png", "dogs/notes.png"}
    assert all(reason for reason in rows.values())
    assert browser.summary.text() == "8 images in 2 classes"
    assert browser.class_combo.count() == 2
    # Thumbnails of the first class arrive from the thread pool.
    qtbot.waitUntil(lambda: all(not browser.pages["image"].thumb_model.item(r).icon().isNull()
                                for r in range(browser.pages["image"].thumb_model.rowCount())), timeout=10000)
    assert browser.pages["image"].thumb_model.rowCount() == 4


def test_split_settings_show_counts_and_imbalance(tmp_path, qtbot):
    root = make_folder(tmp_path / "data", {"big": 16, "small": 4})
    state, browser = open_browser(qtbot, root)
    assert "16 images" in browser.imbalance.text() and "'small' only 4" in browser.imbalance.text()
    qtbot.waitUntil(lambda: "Train 16" in browser.split_counts.text(), timeout=10000)   # 20 % to validation
    browser.val_spin.setValue(0.25)
    browser.test_spin.setValue(0.25)
    browser.seed_spin.setValue(3)
    assert (state.project.data.val_fraction, state.project.data.test_fraction, state.project.data.seed) == (0.25, 0.25, 3)
    qtbot.waitUntil(lambda: "Train 10" in browser.split_counts.text() and "Test 5" in browser.split_counts.text(),
                    timeout=10000)
    assert imbalance_warning({"a": 9, "b": 3}) == ""


def test_one_class_is_explained_not_crashed(tmp_path, qtbot):
    root = make_folder(tmp_path / "data", {"only": 3})
    state, browser = open_browser(qtbot, root)
    assert state.dataset is None
    assert browser.message.isVisibleTo(browser) and "only one class" in browser.message.text()


def test_augmentation_previews_of_the_selected_image(tmp_path, qtbot):
    root = make_folder(tmp_path / "data", {"a": 3, "b": 3})
    state, browser = open_browser(qtbot, root)
    state.project.model.image_size = 48
    browser.pages["image"].augment_combo.setCurrentIndex(browser.pages["image"].augment_combo.findData("light"))
    assert state.project.data.augment == "light"
    browser.pages["image"].thumb_view.setCurrentIndex(browser.pages["image"].thumb_model.index(1, 0))
    qtbot.waitUntil(lambda: all(label.pixmap() is not None and not label.pixmap().isNull()
                                for label in browser.pages["image"].preview_labels), timeout=30000)
    assert "preset 'light'" in browser.pages["image"].preview_note.text()


def test_split_is_computed_once_per_burst_of_spin_box_ticks_off_the_gui_thread(tmp_path, qtbot, monkeypatch):
    import threading

    from tlstudio.core.data import index as data_index

    root = make_folder(tmp_path / "data", {"big": 16, "small": 4})
    state, browser = open_browser(qtbot, root)
    qtbot.waitUntil(lambda: "Train" in browser.split_counts.text(), timeout=10000)
    calls = []
    real = data_index.split_dataset

    def counted(*args, **kwargs):
        calls.append(threading.current_thread() is threading.main_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(data_index, "split_dataset", counted)
    for tick in range(1, 11):                       # ten quick spin-box ticks
        browser.seed_spin.setValue(tick)
    assert calls == []                               # nothing computed per tick on the GUI thread
    qtbot.waitUntil(lambda: bool(calls), timeout=10000)
    qtbot.wait(600)                                  # longer than the debounce: no second computation
    assert calls == [False]                          # once, in a worker
    assert state.project.data.seed == 10


def test_rescan_does_not_wait_for_the_cancelled_scan(tmp_path, qtbot, monkeypatch):
    import threading
    import time

    from tlstudio.core.data import images

    root = make_folder(tmp_path / "data", {"a": 3, "b": 3})
    release = threading.Event()
    real = images.scan

    def slow_scan(path, job=None, **options):
        release.wait(5)                  # a file that takes long to decode: no cancel check meanwhile
        return real(path, job=job, **options)

    monkeypatch.setattr(images, "scan", slow_scan)
    state = ProjectState()
    browser = DatasetBrowser(state)
    qtbot.addWidget(browser)
    browser.open_path(root)
    assert browser.is_scanning()
    t0 = time.perf_counter()
    browser.rescan()                     # supersedes the running scan
    elapsed = time.perf_counter() - t0
    release.set()
    assert elapsed < 1.0, f"the GUI thread waited {elapsed:.1f} s for a cancelled scan"
    with qtbot.waitSignal(state.datasetChanged, timeout=30000):
        pass
    assert state.dataset is not None and len(state.dataset.samples) == 6
