"""One "project changed" path: after the text demo (with a run shown, a map, curves, a tried text, an audit),
File › New image project leaves nothing of it on any tab."""
import numpy as np

from tlstudio.gui import app
from tlstudio.gui.views.image_results import ImageExplain

from tests.gui.conftest import wait_ready
from tests.gui.test_text_results import RESULT

# A text run's result as the Results tab gets it (out-of-fold, with the selector's choices).
TEXT_RESULT = dict(RESULT, source="out-of-fold predictions (5-fold cross-validation)", heldout=True,
                   evaluated_on="heldout", choices=[("heldout", "Out-of-fold (4)")])


def fake_map() -> dict:
    return {"xy": np.array([[0.0, 0.0], [1.0, 1.0]]), "keys": ["k1", "k2"], "paths": ["d.csv:2", "d.csv:3"],
            "texts": ["a small furry rodent", "the upper arm"], "labels": np.array([0, 1]),
            "splits": ["train", "val"], "classes": ["animal", "food"], "task": "text", "note": "", "seconds": 0.1,
            "total": 2}


def test_text_demo_then_new_image_project_leaves_nothing_of_the_old_project(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_DATA_DIR", str(tmp_path / "data"))
    window = app.build_main_window(text_demo=True)
    qtbot.addWidget(window)
    window.resize(1024, 700)
    window.show()
    wait_ready(qtbot, window)
    resets = []
    monkeypatch.setattr(window.training_panel, "reset_for_new_project", lambda: resets.append(True), raising=False)
    # The old project's Results: a run shown with its table, matrix, mistakes, a cell, a map and a tried text.
    results = window.results_panel
    window.state.project.add_run(str(tmp_path / "run-1"), {"name": "run-1", "val_accuracy": 0.5})
    results.refresh_runs()
    results.run_dir = str(tmp_path / "run-1")
    results.result = TEXT_RESULT
    results._show_choices(TEXT_RESULT["choices"], "heldout")
    results._show_result(TEXT_RESULT)
    results._set_model_actions_enabled(True)
    results.show_cell(1, 0)
    results.embedding_map.show_map(fake_map())
    results.explain_controls.toggle.setChecked(True)
    assert results.tabs.tabText(0) == "Misclassified (2)" and results.tabs.tabText(1) == "food → animal (1)"
    assert results.metrics_model.rowCount() == 2 and results.samples["text"].misclassified.model.rowCount() == 2
    assert results.explain_controls.toggle.text() != ImageExplain.label and results.embedding_map.lasso_button.isEnabled()
    assert window.dataset_browser.pages["text"].lengths_box.isVisibleTo(window.dataset_browser)

    window.new_action.trigger()                      # File › New image project (the project is not modified)

    assert window.state.project.task == "image" and not window.state.project.runs
    assert resets == [True]                          # the Train tab's reset hook was called
    # Results: no run, table, matrix, gallery, cell, map, tried text or text-only control.
    assert results.run_combo.count() == 0 and results.split_combo.count() == 0 and results.run_dir is None
    assert results.result is None and results.loaded is None and results.confusion.matrix is None
    assert results.metrics_model.rowCount() == 0 and results.summary_label.text() == ""
    assert results.samples["text"].misclassified.model.rowCount() == 0 and results.samples["text"].cell.model.rowCount() == 0
    assert results.samples["image"].misclassified.count() == 0 and results.samples["image"].cell.count() == 0
    assert [results.tabs.tabText(i) for i in range(3)] == ["Misclassified", "Cell", "Try an image"]
    assert results.misclassified_stack.currentWidget() is results.samples["image"].misclassified
    assert results.embedding_map.data is None and not results.embedding_map.lasso_button.isEnabled()
    assert "Compute the map first" in results.embedding_map.lasso_button.toolTip()
    assert results.data_needs.curves is None
    toggle = results.explain_controls.toggle
    assert toggle.text() == ImageExplain.label and not toggle.isChecked() and not toggle.isEnabled()
    assert "run first" in toggle.toolTip()
    assert results.try_text_edit.toPlainText() == "" and not results.try_view.open_images_button.isEnabled()
    assert results.status_label.text() == "Train a model to see its results here."
    # Audit: no report, no rows.
    audit = window.audit_panel
    assert audit.report is None and all(t.rowCount() == 0 for t in (audit.issues, audit.dups, audit.outliers))
    # Data: no texts, no token lengths; the image page.
    browser = window.dataset_browser
    assert window.state.dataset is None and browser.summary.text() == ""
    assert not browser.pages["text"].lengths_box.isVisibleTo(browser) and browser.items_stack.currentWidget() is browser.pages["image"].thumb_view
    # Model: the image default model and no text-only max length.
    qtbot.waitUntil(lambda: not window.model_panel.is_loading(), timeout=120_000)
    assert not window.model_panel.max_length_spin.isVisibleTo(window.model_panel)
    assert window.state.project.model.name != "all-MiniLM-L6-v2"
    # Head: sized for no classes yet (the old project's six are gone).
    assert window.state.num_classes() != 6
    # Export is disabled with no run, and says why.
    assert not window.export_action.isEnabled() and "Train a model first" in window.export_action.toolTip()
