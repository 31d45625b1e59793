"""The Audit tab on real images: run in a worker, relabel/exclude change the project and the Data tab's
counts, apply to disk asks first and undo puts the files back byte for byte."""
import glob
import hashlib
import shutil
from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from tlstudio.core.model.head import HeadSpec
from tlstudio.core.paths import demo_data_dir
from tlstudio.core.project import Project
from tlstudio.gui.jobs import tasks

from tests.gui.conftest import close_window, wait_ready


def tree(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_audit_tab_end_to_end(qtbot, tmp_path, dialogs):
    from tlstudio.gui.app import build_main_window

    data = tmp_path / "data"
    for cls in ("bag", "sneaker", "trouser"):
        (data / cls).mkdir(parents=True)
        for f in sorted(glob.glob(str(demo_data_dir() / cls / "*.png")))[:8]:
            shutil.copy(f, data / cls / f"{cls}-{Path(f).name}")
    shutil.move(data / "bag" / "bag-000.png", data / "trouser" / "bag-000.png")      # a planted label error
    p = Project(name="audit")
    p.data.path = str(data)
    p.model.name = "tf_efficientnet_lite0"
    p.model.image_size = 64
    p.head = HeadSpec(layers=[])
    p.training.device = "cpu"
    p.save(tmp_path / "audit.json")
    window = build_main_window(demo=False)
    qtbot.addWidget(window)
    window.state.replace_project(Project.load(tmp_path / "audit.json"), tmp_path / "audit.json")
    window.show()
    wait_ready(qtbot, window)
    panel = window.audit_panel
    assert window.tabs.tabText(window.tabs.indexOf(panel)) == "Audit"
    panel.run_audit()
    assert panel.job is not None and not panel.run_button.isEnabled()
    qtbot.waitUntil(lambda: panel.job is None, timeout=120000)
    assert panel.report is not None, panel.summary.text()
    keys = [panel.issues.item(r, 0).data(Qt_user()) for r in range(panel.issues.rowCount())]
    assert "trouser/bag-000.png" in keys[:3], keys
    # The findings are marked on the Results tab's embedding map too.
    assert "trouser/bag-000.png" in window.results_panel.embedding_map._flagged
    row = keys.index("trouser/bag-000.png")
    assert panel.issues.item(row, 3).text() == "bag"
    before_disk = tree(data)
    panel.issues.selectRow(row)
    panel.relabel_selected()
    state = window.state
    assert state.dirty and state.project.data.label_overrides == {"trouser/bag-000.png": "bag"}
    assert panel.issues.item(row, 5).text() == "→ bag"
    assert window.dataset_browser.chart._rows == [("bag", 8), ("sneaker", 8), ("trouser", 8)]
    # Exclude it: one fewer; Restore: included again with its scanned label; then relabel again.
    panel.exclude_selected(panel.issues)
    assert sum(n for _, n in window.dataset_browser.chart._rows) == 23 and panel.issues.item(row, 5).text() == "excluded"
    panel.restore_selected(panel.issues)
    assert state.project.data.exclusions == [] and state.project.data.label_overrides == {}
    assert window.dataset_browser.chart._rows == [("bag", 7), ("sneaker", 8), ("trouser", 9)]
    panel.relabel_selected()
    # Apply to disk: refused in the dialog -> nothing moves; accepted -> moved, with an undo record.
    state.save()
    panel.apply_to_disk()
    assert dialogs.calls and dialogs.calls[-1][0] == "question" and tree(data) == before_disk
    dialogs.answer = QMessageBox.StandardButton.Yes
    panel.apply_to_disk()
    qtbot.waitUntil(lambda: not tasks.running_tasks(), timeout=20000)
    assert (data / "bag" / "bag-000.png").exists(), panel.summary.text()
    qtbot.waitUntil(lambda: state.project.data.label_overrides == {}, timeout=20000)
    assert list(tmp_path.glob("audit-undo-*.json"))
    panel.undo_apply()
    qtbot.waitUntil(lambda: tree(data) == before_disk, timeout=20000)
    qtbot.waitUntil(lambda: state.project.data.label_overrides == {"trouser/bag-000.png": "bag"}, timeout=20000)
    panel.grab().save(str(tmp_path / "audit.png"))
    close_window(window)


def Qt_user():
    from PySide6.QtCore import Qt

    return Qt.ItemDataRole.UserRole


def test_before_a_first_audit_the_tab_says_what_to_do_and_offers_no_action(qtbot):
    from tlstudio.gui.panels.audit_panel import AuditPanel
    from tlstudio.gui.state import ProjectState

    panel = AuditPanel(ProjectState(Project(name="fresh")))
    qtbot.addWidget(panel)
    assert panel.summary.text().startswith("No audit yet: press Run audit")
    for button in (panel.exclude_button, panel.relabel_button, panel.restore_button, panel.outlier_button,
                   panel.dup_button, panel.undo_button):
        assert not button.isEnabled(), button.text()
    assert "Run the audit first" in panel.exclude_button.toolTip()
    assert "Nothing to undo" in panel.undo_button.toolTip()


def test_a_multilabel_audit_lists_its_label_set_issues_and_relabel_stores_the_fixed_set(qtbot):
    """A multi-label report's issues are per (sample, label): the tab lists them (given and suggested label
    sets) instead of saying "0 likely label errors", and "Relabel" stores the suggested set as a label cell."""
    from tlstudio.gui.panels.audit_panel import AuditPanel
    from tlstudio.gui.state import ProjectState

    state = ProjectState(Project(name="ml"))
    state.project.task = "text"
    panel = AuditPanel(state)
    qtbot.addWidget(panel)
    issue = {"key": "t.csv:4", "path": "t.csv:4", "text": "a cat on a mat", "label": "dog", "kind": "wrong",
             "probability": 0.03, "score": 0.97, "split": "train", "given": "cat;dog", "suggested": "cat"}
    report = {"task": "text", "samples": 40, "model": "all-MiniLM-L6-v2", "seconds": {"total": 1.0},
              "label_issues": [], "label_set_issues": [issue], "duplicates": [], "outliers": [], "notes": [],
              "counts": {"label_issues": 0, "label_set_issues": 1, "duplicates": 0, "leaking_duplicates": 0,
                         "similar": 0, "outliers": 0}}
    panel.show_report(report)
    assert "1 likely label errors" in panel.summary.text()
    assert panel.tabs.tabText(0) == "Likely label errors (1)"
    assert [panel.issues.item(0, c).text() for c in (1, 2, 3)] == ["a cat on a mat", "cat;dog", "cat"]
    panel.issues.selectRow(0)
    panel.relabel_button.click()
    assert state.project.data.label_overrides == {"t.csv:4": "cat"}
