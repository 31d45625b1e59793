"""The Results tab of a multi-label run (a result in the shape core.runs.label_set_evaluation gives): the per-label
table, the threshold slider recomputing that label's figures as core computes them, the matrix, the
galleries of a label's false positives and misses (texts and images), and that a single-label
result still gets the single-label pages."""
import numpy as np
from PIL import Image

from tlstudio.core.project import Project
from tlstudio.core.runs.multilabel_metrics import multilabel_metrics
from tlstudio.gui.panels.results_panel import ResultsPanel
from tlstudio.gui.state import ProjectState
from tlstudio.gui.views.multilabel_results import label_confusion
from tlstudio.gui.widgets.label_thresholds import SLIDER_STEPS

LABELS = ["billing", "login", "refund"]
# 6 samples × 3 labels; thresholds 0.5, 0.4, 0.7 (as tuned and stored in the run)
PROBS = np.array([[0.9, 0.2, 0.1],
                  [0.6, 0.7, 0.8],
                  [0.3, 0.45, 0.2],
                  [0.55, 0.1, 0.65],
                  [0.2, 0.35, 0.9],
                  [0.1, 0.05, 0.3]])
TRUE = [["billing"], ["billing", "login", "refund"], ["login"], ["refund"], ["login", "refund"], []]
TEXTS = ["my invoice is wrong", "charged twice, cannot log in, want money back", "password reset fails",
         "please return my money", "locked out and want a refund", "where is the office"]
THRESHOLDS = [0.5, 0.4, 0.7]


def multilabel_result(task="text", paths=None):
    targets = np.array([[name in t for name in LABELS] for t in TRUE])
    metrics = multilabel_metrics(PROBS, targets, THRESHOLDS, LABELS).to_dict()
    predictions = []
    for i, true in enumerate(TRUE):
        entry = {"path": paths[i] if paths else f"tickets.csv:{i + 2}", "true": true,
                 "probabilities": dict(zip(LABELS, PROBS[i].tolist()))}
        if task == "text":
            entry["text"] = TEXTS[i]
        predictions.append(entry)
    # the shape of core.runs.label_set_evaluation's result
    return dict(metrics, task=task, source="out-of-fold predictions", predictions=predictions, skipped=[],
                probabilities=PROBS.tolist(), targets=targets.astype(int).tolist(), classes=LABELS)


def make_panel(qtbot, result, task="text"):
    panel = ResultsPanel(ProjectState(Project(task=task)))
    qtbot.addWidget(panel)
    panel.resize(1280, 800)
    panel.show()
    panel.run_dir = "/runs/tickets"
    panel._show_result(result)
    return panel


def table_rows(view):
    model = view.thresholds.model
    return [tuple(model.data(model.index(r, c)) for c in range(model.columnCount())) for r in range(model.rowCount())]


def test_the_table_shows_every_label_with_its_figures_at_the_tuned_thresholds(qtbot):
    panel = make_panel(qtbot, multilabel_result())
    view = panel.task_views["multilabel"]
    assert panel.upper_stack.currentWidget() is view.upper
    assert panel.first_tab_stack.currentWidget() is view.first_tab
    # billing: predicted on samples 0, 1, 3 (>= 0.5); true on 0, 1 -> P 2/3, R 1, F1 0.8, AP 1.0
    # login (0.4): predicted 1, 2 -> both true; missed 4 (0.35) -> P 1, R 2/3, F1 0.8
    # refund (0.7): predicted 1, 4 -> true; missed 3 (0.65) -> P 1, R 2/3, F1 0.8
    assert table_rows(view) == [
        ("billing", "2", "0.667", "1.000", "0.800", "1.000", "0.500"),
        ("login", "3", "1.000", "0.667", "0.800", "1.000", "0.400"),
        ("refund", "3", "1.000", "0.667", "0.800", "1.000", "0.700")]
    summary = view.summary_label.text()
    # micro: tp 6, fp 1, fn 2 -> P 6/7, R 6/8, F1 0.8; exact sets: samples 0, 1, 2, 5 -> 4/6
    assert "micro-F1 0.800" in summary and "exact label sets 66.7%" in summary and "6 texts" in summary
    comparison = view.thresholds.comparison.text()
    assert "one threshold 0.5 for every label" in comparison and "tuned per label" in comparison
    assert "as set now" not in comparison
    assert panel.tabs.tabText(2) == "Try a text"


def test_moving_a_slider_recomputes_that_label_as_the_core_does(qtbot):
    panel = make_panel(qtbot, multilabel_result())
    view = panel.task_views["multilabel"]
    thresholds = view.thresholds
    thresholds.select(0)
    assert thresholds.figure("billing", "f1") == 0.8
    thresholds.slider.setValue(int(0.58 * SLIDER_STEPS))         # sample 3 (0.55) no longer given 'billing'
    expected = multilabel_metrics(PROBS, view.data.targets, [0.58, 0.4, 0.7], LABELS)
    assert thresholds.figure("billing", "f1") == expected.per_label["billing"]["f1"] == 1.0
    assert table_rows(view)[0] == ("billing", "2", "1.000", "1.000", "1.000", "1.000", "0.580")
    assert f"micro-F1 {expected.micro_f1:.3f}" in view.summary_label.text()
    assert "as set now" in thresholds.comparison.text()
    # The galleries follow once the slider rests.
    qtbot.waitUntil(lambda: panel.tabs.tabText(0) == "Wrongly given 'billing' (0)", timeout=3000)
    thresholds.tuned_button.click()
    assert thresholds.figure("billing", "f1") == 0.8 and "as set now" not in thresholds.comparison.text()
    thresholds.all_default_button.click()                         # 0.5 everywhere: refund gains sample 3
    assert thresholds.figure("refund", "recall") == 1.0 and thresholds.figure("login", "recall") == 1 / 3


def test_a_label_s_false_positives_and_misses_are_listed_most_confident_first(qtbot):
    panel = make_panel(qtbot, multilabel_result())
    view = panel.task_views["multilabel"]
    texts = view.samples["text"]
    assert panel.tabs.tabText(0) == "Wrongly given 'billing' (1)" and panel.tabs.tabText(1) == "Missed 'billing' (0)"
    assert texts.misclassified.visible_rows() == [("refund", "billing", "55%", "please return my money")]
    view.thresholds.select(1)                                     # login
    assert texts.misclassified.visible_rows() == []
    assert texts.cell.visible_rows() == [("login; refund", "refund", "35%", "locked out and want a refund")]
    assert panel.tabs.tabText(1) == "Missed 'login' (1)"


def test_the_label_confusion_matrix_and_a_click_on_it(qtbot):
    panel = make_panel(qtbot, multilabel_result())
    view = panel.task_views["multilabel"]
    predicted = PROBS >= np.array(THRESHOLDS)
    matrix = label_confusion(view.data.targets, predicted)
    # diagonal: found; [refund, billing]: 'billing' given to sample 3, which carries 'refund' only
    assert matrix.tolist() == [[2, 0, 0], [0, 2, 0], [1, 0, 2]]
    qtbot.waitUntil(lambda: view.matrix.matrix is not None, timeout=3000)
    assert view.matrix.matrix.tolist() == matrix.tolist() and view.matrix.classes == LABELS
    view._on_cell(1, 0)           # true 'login', predicted 'billing': none of login's samples wrongly got it
    assert view.thresholds.selected == 0
    assert panel.tabs.tabText(0) == "Wrongly given 'billing' among 'login' (0)"
    view._on_cell(2, 0)
    assert view.samples["text"].misclassified.visible_rows() == [("refund", "billing", "55%", "please return my money")]
    view.thresholds.select(2)     # another label from the table: no narrowing
    assert panel.tabs.tabText(0) == "Wrongly given 'refund' (0)"


def test_an_image_run_shows_its_label_mistakes_as_thumbnails(qtbot, tmp_path):
    paths = []
    for i in range(len(TRUE)):
        path = tmp_path / f"photo{i}.png"
        Image.new("RGB", (40, 30), (40 * i, 90, 160)).save(path)
        paths.append(str(path))
    panel = make_panel(qtbot, multilabel_result("image", paths), task="image")
    view = panel.task_views["multilabel"]
    grids = view.samples["image"]
    assert view.first_tab.currentWidget() is grids.misclassified and panel.tabs.tabText(2) == "Try an image"
    assert grids.misclassified.paths() == [paths[3]]
    assert grids.misclassified.captions() == ["billing 55%\nrefund"]
    view.thresholds.select(2)
    assert grids.cell.paths() == [paths[3]] and grids.cell.captions() == ["refund 65%\nrefund"]
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=10000)


def test_a_single_label_result_keeps_the_single_label_pages_and_back(qtbot):
    from tests.gui.test_text_results import RESULT

    panel = make_panel(qtbot, multilabel_result())
    panel._show_result(RESULT)
    assert panel.upper_stack.currentWidget() is panel.class_results
    assert panel.first_tab_stack.currentWidget() is panel.misclassified_stack
    assert panel.tabs.tabText(0) == "Misclassified (2)" and panel.metrics_model.rowCount() == 2
    panel._clear_results()
    assert panel.upper_stack.currentWidget() is panel.class_results
    assert panel.task_views["multilabel"].thresholds.model.rowCount() == 0


def test_a_large_run_recomputes_in_a_worker_and_ends_at_the_last_thresholds(qtbot):
    from tlstudio.gui.widgets.label_thresholds import INLINE_CELLS, LabelThresholds

    rng = np.random.default_rng(1)
    n, labels = INLINE_CELLS // 8 + 1, [f"l{j}" for j in range(8)]
    targets = rng.random((n, 8)) < 0.2
    probs = np.clip(np.where(targets, rng.beta(4, 2, targets.shape), rng.beta(1.5, 5, targets.shape)), 0, 1)
    widget = LabelThresholds()
    qtbot.addWidget(widget)
    widget.set_data(labels, probs, targets, np.full(8, 0.5))
    for value in (0.3, 0.35, 0.4, 0.62):                 # quick steps: the newest thresholds win
        widget.slider.setValue(int(value * SLIDER_STEPS))
    assert widget.is_computing() and widget.figure("l0", "threshold") == 0.5    # not yet: a worker computes
    qtbot.waitUntil(lambda: not widget.is_computing(), timeout=10_000)
    expected = multilabel_metrics(probs, targets, [0.62] + [0.5] * 7, labels)
    assert widget.figure("l0", "threshold") == 0.62 and widget.figure("l0", "f1") == expected.per_label["l0"]["f1"]
    assert widget.metrics.micro_f1 == expected.micro_f1
