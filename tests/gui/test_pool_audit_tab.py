"""The main window on a folder of unlabeled images only: the Data tab shows the pool and says training
needs labels, the Audit tab finds the duplicate and the foreign pictures among them."""
from __future__ import annotations

import os
import shutil

import numpy as np
from PIL import Image

from tests.core.data.test_pool import image_folder
from tests.gui.conftest import close_window, wait_ready
from tests.planted_copies import PHOTOS
from tlstudio.core.model.head import HeadSpec
from tlstudio.core.project import Project

SHOTS = os.environ.get("TLSTUDIO_SCREENSHOTS")      # a folder to keep the rendered tabs in (optional)


def test_an_all_unlabeled_folder_in_the_window(qtbot, tmp_path):
    from skimage import data as photos

    from tlstudio.gui.app import build_main_window

    data = image_folder(tmp_path / "data", {0: 0, 1: 0, 7: 0}, unlabeled=30)
    pool = data / "unlabeled"
    first = sorted(pool.glob("*.png"))[0]
    shutil.copy(first, pool / "copy.png")
    for name in PHOTOS[:3]:
        pixels = np.asarray(getattr(photos, name)())
        Image.fromarray(pixels[..., :3] if pixels.ndim == 3 else pixels).convert("RGB").resize((28, 28)).save(
            pool / f"photo-{name}.png")
    p = Project(name="pool-only")
    p.data.path = str(data)
    p.model.name, p.model.image_size, p.head = "tf_efficientnet_lite0", 64, HeadSpec(layers=[])
    p.training.device = "cpu"
    window = build_main_window(demo=False)
    qtbot.addWidget(window)
    window.resize(1280, 760)
    window.state.replace_project(p)
    window.show()
    wait_ready(qtbot, window)
    browser = window.dataset_browser
    assert browser.class_combo.currentText() == "Unlabeled (34)"
    qtbot.waitUntil(lambda: "needs labelled images" in browser.split_counts.text(), timeout=30000)
    panel = window.audit_panel
    panel.run_audit()
    qtbot.waitUntil(lambda: panel.job is None, timeout=120000)
    assert panel.report is not None, panel.summary.text()
    groups = [panel.dups.item(r, 2).text() for r in range(panel.dups.rowCount())]
    assert any(set(g.split(", ")) == {f"unlabeled/{first.name}", "unlabeled/copy.png"} for g in groups), groups
    assert all(panel.dups.item(r, 3).text() == "unlabeled" for r in range(panel.dups.rowCount()))
    top = [panel.outliers.item(r, 0).text() for r in range(min(5, panel.outliers.rowCount()))]
    assert top and top[0].startswith("unlabeled/photo-"), top
    if SHOTS:
        window.tabs.setCurrentWidget(panel)
        panel.tabs.setCurrentIndex(2)
        window.grab().save(os.path.join(SHOTS, "audit-tab-all-pool.png"))
        window.tabs.setCurrentWidget(browser)
        window.grab().save(os.path.join(SHOTS, "window-data-tab-all-pool.png"))
    close_window(window)
