"""A text project end to end in the main window: the model tree of the encoder, training through the
Start button, the results of the run, and "Try a text" on the trained model."""
from tlstudio.gui.app import build_main_window

from .conftest import close_window
from .train_via_start import train_via_start_button

TIMEOUT_MS = 300_000


def test_the_gui_trains_a_text_project_and_tries_a_text(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TLSTUDIO_DATA_DIR", str(tmp_path / "data"))
    window = build_main_window(text_demo=True)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    state = window.state
    qtbot.waitUntil(lambda: state.dataset is not None and state.model is not None
                    and not window.model_panel.is_loading(), timeout=TIMEOUT_MS)
    assert state.project.task == "text" and len(state.dataset.classes) == 6
    # The Model tab: the encoder's tree (embeddings, six transformer layers), frozen; text catalog.
    panel = window.model_panel
    names = [n.name for n in panel.tree_model.root.walk()]
    assert any(n.endswith("embeddings") for n in names)
    assert sum(1 for n in names if n.rsplit(".", 1)[-1].isdigit() and ".layer." in n) >= 6
    assert panel.table.horizontalHeaderItem(3).text() == "Max length"
    assert panel.max_length_spin.isVisibleTo(panel) and panel.max_length_spin.maximum() == 256
    assert state.project.frozen == ["base"]
    window.tabs.setCurrentWidget(panel)
    qtbot.wait(200)
    panel.grab().save(str(tmp_path / "text-model.png"))

    result = train_via_start_button(qtbot, window, 3, TIMEOUT_MS)
    results = window.results_panel
    # Real transfer on real text: far above chance (1/6) on held-out definitions.
    assert result["accuracy"] > 0.5, result["accuracy"]
    assert results.run_modality() == "text" and results.tabs.tabText(2) == "Try a text"
    rows = results.samples["text"].misclassified.visible_rows()
    assert len(rows) == len(result["misclassified"])
    texts = {s.text for s in state.dataset.samples}
    assert all(r[3] in texts for r in rows)                     # the texts themselves, not locators
    window.tabs.setCurrentWidget(results)
    qtbot.wait(200)
    window.grab().save(str(tmp_path / "text-results.png"))

    with qtbot.waitSignal(results.predicted, timeout=TIMEOUT_MS) as blocker:
        results.try_text("a large wild cat with a striped coat that hunts deer")
    predicted = blocker.args[0][0]
    assert predicted["text"].startswith("a large wild cat")
    assert results.try_text_result[0]["label"] == predicted["label"] == "animal"
    assert results.try_text_table.model.rowCount() == 3
    close_window(window)
