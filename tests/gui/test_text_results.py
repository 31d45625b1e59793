"""Results of a text run: mistakes as texts, matrix clicks, and "Try a text" (debounced, off the GUI
thread, stale predictions dropped)."""
import threading
import time

from tlstudio.core.project import Project
from tlstudio.gui.jobs import results_jobs
from tlstudio.gui.panels.results_panel import ResultsPanel
from tlstudio.gui.state import ProjectState

RESULT = {
    "task": "text", "samples": 4, "source": "validation split", "accuracy": 0.5, "top_k": 2,
    "top_k_accuracy": 1.0, "macro_f1": 0.5, "classes": ["animal", "food"],
    "per_class": {"animal": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2},
                  "food": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}},
    "confusion_matrix": [[1, 1], [1, 1]],
    "predictions": [
        {"path": "d.csv:2", "text": "a small furry rodent", "true": "animal", "predicted": "animal", "confidence": 0.9},
        {"path": "d.csv:3", "text": "a sweet baked dessert", "true": "food", "predicted": "animal", "confidence": 0.6},
        {"path": "d.csv:4", "text": "a large striped cat", "true": "animal", "predicted": "food", "confidence": 0.7},
        {"path": "d.csv:5", "text": "a thick vegetable soup", "true": "food", "predicted": "food", "confidence": 0.8},
    ],
}
RESULT["misclassified"] = [p for p in RESULT["predictions"] if p["true"] != p["predicted"]]


def make_panel(qtbot):
    state = ProjectState(Project(task="text"))
    panel = ResultsPanel(state)
    qtbot.addWidget(panel)
    panel.resize(1100, 700)
    panel.show()
    panel.run_dir = "/runs/text-run"
    panel.result = RESULT
    panel._show_result(RESULT)
    return panel


def test_a_text_run_shows_its_mistakes_as_texts_and_a_cell_click_lists_them(qtbot):
    panel = make_panel(qtbot)
    assert panel.run_modality() == "text" and panel.tabs.tabText(2) == "Try a text"
    assert panel.misclassified_stack.currentWidget() is panel.samples["text"].misclassified
    rows = panel.samples["text"].misclassified.visible_rows()
    assert rows == [("food", "animal", "60%", "a sweet baked dessert"), ("animal", "food", "70%", "a large striped cat")]
    assert "evaluated on 4 texts" in panel.status_label.text()
    panel.show_cell(1, 1)
    assert panel.samples["text"].cell.visible_rows() == [("food", "food", "80%", "a thick vegetable soup")]
    assert panel.tabs.tabText(1) == "food → food (1)"


def test_try_a_text_predicts_the_last_text_typed_off_the_gui_thread(qtbot, monkeypatch):
    calls = []

    def fake_predict(loaded, text, top_k=3):
        calls.append((text, threading.current_thread() is threading.main_thread()))
        time.sleep(0.3 if text == "first" else 0.01)      # the older text answers last
        return [{"text": text, "top_k": [{"label": f"class of {text}", "probability": 0.75},
                                         {"label": "other", "probability": 0.25}]}]

    monkeypatch.setattr(results_jobs, "predict_text_job", fake_predict)
    panel = make_panel(qtbot)
    panel.loaded = object()
    panel._set_model_actions_enabled(True)
    panel.try_text("first")
    qtbot.waitUntil(lambda: len(calls) == 1, timeout=5000)       # the debounce ended: "first" is predicted
    panel.try_text_edit.setPlainText("second")                   # typed on while it runs
    with qtbot.waitSignal(panel.predicted, timeout=10000) as blocker:
        pass
    assert blocker.args[0][0]["text"] == "second"
    qtbot.wait(500)                                              # "first" has come back by now: dropped
    assert panel.try_text_result[0]["label"] == "class of second"
    assert panel.try_text_table.visible_rows() == [("class of second", "75.0%"), ("other", "25.0%")]
    assert [c[0] for c in calls] == ["first", "second"] and not any(c[1] for c in calls)
    # Several quick edits are one prediction (debounced).
    for text in ("t", "th", "thr", "three"):
        panel.try_text_edit.setPlainText(text)
    qtbot.waitUntil(lambda: panel.try_text_result and panel.try_text_result[0]["label"] == "class of three",
                    timeout=5000)
    assert [c[0] for c in calls] == ["first", "second", "three"]
