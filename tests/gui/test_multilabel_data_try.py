"""A multi-label dataset in the Data tab (real composed texts and images: the scan report, the
co-occurrence matrix, a label's samples), the task type on the Model and Train tabs, and "Try" of a
multi-label run (every label against its threshold, the rest greyed); a single-label project as before."""
from types import SimpleNamespace

from PySide6.QtCore import Qt

from tests.multilabel_data import compose_images, compose_texts, demo_image_items, demo_text_items
from tlstudio.core.data.label_sets import multilabel_report, sample_labels
from tlstudio.core.project import Project
from tlstudio.gui.jobs import results_jobs
from tlstudio.gui.panels.dataset_browser import DatasetBrowser
from tlstudio.gui.panels.head_designer import HeadDesigner
from tlstudio.gui.panels.training_panel import TrainingPanel
from tlstudio.gui.state import ProjectState
from tlstudio.gui.widgets.text_widgets import MUTED_COLOR
from tests.gui.test_multilabel_results import make_panel, multilabel_result

TIMEOUT_MS = 60_000


def scanned(qtbot, path, task):
    state = ProjectState(Project(task=task))
    browser = DatasetBrowser(state)
    qtbot.addWidget(browser)
    browser.resize(1280, 760)
    browser.show()
    browser.open_path(path)
    qtbot.waitUntil(lambda: state.dataset is not None and not browser.is_scanning(), timeout=TIMEOUT_MS)
    return state, browser


def test_a_multilabel_text_table_shows_its_label_sets_and_co_occurrence(qtbot, tmp_path):
    state, browser = scanned(qtbot, compose_texts(demo_text_items(), tmp_path, 120, seed=3), "text")
    index = state.dataset
    assert index.task_type == "multilabel"
    view = browser.task_views["multilabel"]
    assert view.widget.isVisible() and browser.summary.text() == f"{len(index.samples)} texts with 6 labels (multi-label)"
    report = multilabel_report(index)
    text = view.report.text()
    assert text.startswith("<b>Multi-label</b>: ") and f"{report['cardinality']:.2f} labels per sample" in text
    assert f"{report['without_label']} row(s) without a label" in text and "Most frequent label pairs" in text
    qtbot.waitUntil(lambda: view.matrix.matrix is not None, timeout=5000)
    assert view.matrix.matrix.tolist() == report["cooccurrence"] and view.matrix.classes == index.classes
    # A label's samples are every sample carrying it, not only those where it comes first.
    browser.class_combo.setCurrentIndex(3)
    rows = browser.pages["text"].text_table.visible_rows()
    carrying = [s for s in index.samples if 3 in sample_labels(s)]
    assert len(rows) == len(carrying) > sum(1 for s in index.samples if s.label == 3)
    view.matrix.cellClicked.emit(1, 4)
    assert browser.class_combo.currentIndex() == 1


def test_a_multilabel_image_manifest_counts_samples_per_label(qtbot, tmp_path):
    state, browser = scanned(qtbot, compose_images(demo_image_items(12), tmp_path, 60, seed=1), "image")
    index = state.dataset
    assert index.task_type == "multilabel" and browser.summary.text().endswith("with 6 labels (multi-label)")
    browser.class_combo.setCurrentIndex(0)
    model = browser.pages["image"].thumb_model
    shown = {model.item(r).data(Qt.ItemDataRole.UserRole) for r in range(model.rowCount())}
    assert shown == {s.path for s in index.samples if 0 in sample_labels(s)}


def test_the_model_and_train_tabs_say_multi_label_and_single_label_stays_as_it_was(qtbot, tmp_path):
    state = ProjectState(Project(task="text"))
    designer, training = HeadDesigner(state), TrainingPanel(state)
    for widget in (designer, training):
        qtbot.addWidget(widget)
    assert designer.output_label.text().startswith("<b>Output: Linear(") and "one unit per class" in designer.output_label.text()
    assert training.task_label.isHidden() and not designer.diagram.text().endswith("sigmoid")
    state.project.data.task_type = "multilabel"
    state.project.head.num_classes = 6
    state.mark_changed("data")
    state.set_dataset(None)            # datasetChanged: the views read the task type again
    assert "+ sigmoid</b> — one unit per label" in designer.output_label.text()
    assert designer.diagram.text().endswith("→ Linear(6) → sigmoid")
    assert not training.task_label.isHidden() and "Multi-label: sigmoid per label" in training.task_label.text()


def fake_loaded():
    return SimpleNamespace(classes=["billing", "login", "refund"], thresholds=[0.5, 0.4, 0.7], info={"task": "text"})


def test_try_a_text_of_a_multilabel_run_lists_every_label_against_its_threshold(qtbot, monkeypatch):
    asked = []

    def fake_predict(loaded, text, top_k=3):
        asked.append(top_k)
        return [{"text": text, "top_k": [{"label": "billing", "probability": 0.91},
                                         {"label": "refund", "probability": 0.62},
                                         {"label": "login", "probability": 0.45}]}]

    monkeypatch.setattr(results_jobs, "predict_text_job", fake_predict)
    panel = make_panel(qtbot, multilabel_result())
    panel.loaded = fake_loaded()
    panel._set_model_actions_enabled(True)
    assert panel.try_text_table.model.headers == ["Label", "Probability", "Threshold"]
    with qtbot.waitSignal(panel.predicted, timeout=10_000):
        panel.try_text("charged twice and locked out")
    assert asked == [3]                                  # every label, not the top 3 of them
    # billing and login pass their thresholds (0.5, 0.4); refund (0.62 < 0.7) is greyed, last.
    assert panel.try_text_table.visible_rows() == [("billing", "91.0%", "0.500"), ("login", "45.0%", "0.400"),
                                                   ("refund", "62.0%", "0.700")]
    model = panel.try_text_table.model
    assert model.muted == {2}
    assert model.data(model.index(2, 0), Qt.ItemDataRole.ForegroundRole).name() == MUTED_COLOR
    assert model.data(model.index(0, 0), Qt.ItemDataRole.ForegroundRole) is None
    assert panel.try_view.text_note.text().startswith("Predicted labels: billing, login")


def test_try_images_of_a_multilabel_run_and_back_to_single_label(qtbot, monkeypatch, tmp_path):
    from PIL import Image

    from tests.gui.test_text_results import RESULT
    from tlstudio.core.runs import predict

    image = tmp_path / "desk.png"
    Image.new("RGB", (32, 32), (90, 60, 30)).save(image)
    monkeypatch.setattr(predict, "predict_images", lambda loaded, paths, top_k, job=None: [
        {"path": paths[0], "top_k": [{"label": "refund", "probability": 0.2}, {"label": "login", "probability": 0.1},
                                     {"label": "billing", "probability": 0.05}][:top_k]}])
    panel = make_panel(qtbot, multilabel_result("image", [str(image)] * 6), task="image")
    panel.loaded = fake_loaded()
    with qtbot.waitSignal(panel.predicted, timeout=10_000):
        panel.try_images([str(image)])
    assert panel.try_grid.captions() == ["(no label above its threshold)"]
    assert panel.try_view.image_table.visible_rows()[0] == ("desk.png", "refund", "20.0%", "0.700")
    assert panel.try_view.image_table.model.muted == {0, 1, 2}
    panel._show_result(RESULT)                            # a single-label run: its headers again
    assert panel.try_view.image_table.model.headers == ["Image", "1st class", "2nd class", "3rd class"]
    assert panel.try_text_table.model.headers == ["Class", "Probability"]
