"""A real multi-label run (composed Fashion-MNIST pictures, two garments per image, trained on real
features) in the Results tab: the per-label table as the core computes it, a slider step, a label's
false positives and misses, and "Try an image" listing every label against its threshold."""
import numpy as np
import pytest

from tests.multilabel_data import compose_images, demo_image_items
from tlstudio.core.project import Project
from tlstudio.core.runs.multilabel_metrics import multilabel_metrics, predicted_matrix
from tlstudio.core.train.trainer import Trainer
from tlstudio.gui.panels.results_panel import ResultsPanel
from tlstudio.gui.state import ProjectState
from tlstudio.gui.widgets.label_thresholds import SLIDER_STEPS

TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("multilabel_run")
    manifest = compose_images(demo_image_items(16), base / "data", 96, seed=2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLSTUDIO_CACHE_DIR", str(base / "cache"))
        mp.setenv("TLSTUDIO_DATA_DIR", str(base / "data_dir"))
        project = Project(name="multi-label test")
        project.data.path = str(manifest)
        project.data.val_fraction = 0.3
        project.model.image_size = 64
        project.training.head_fit = "epochs"            # an untouched validation split, evaluated by the model
        project.training.epochs = 4
        folder = base / "run"
        metrics = Trainer(project, folder).run()
    assert metrics["error"] is None
    return str(folder)


def test_a_trained_multilabel_run_in_the_results_tab(qtbot, run_dir):
    project = Project(name="multi-label test")
    project.add_run(run_dir, {"name": "ml", "cancelled": False})
    panel = ResultsPanel(ProjectState(project))
    qtbot.addWidget(panel)
    panel.resize(1280, 800)
    panel.show()
    with qtbot.waitSignal(panel.evaluated, timeout=TIMEOUT_MS) as blocker:
        panel.load_selected()
    result = blocker.args[0]
    assert result["task_type"] == "multilabel" and result["source"] == "val split"
    view = panel.task_views["multilabel"]
    assert panel.upper_stack.currentWidget() is view.upper
    assert view.data is result["arrays"]          # made by the worker, not converted on the GUI thread
    probs, targets = np.array(result["probabilities"]), np.array(result["targets"], dtype=bool)
    labels, tuned = result["labels"], result["thresholds"]
    assert len(labels) == 6 and probs.shape == (len(result["predictions"]), 6)
    expected = multilabel_metrics(probs, targets, tuned, labels)
    thresholds = view.thresholds
    assert [thresholds.model.data(thresholds.model.index(r, 0)) for r in range(6)] == labels
    for name in labels:
        assert thresholds.figure(name, "f1") == expected.per_label[name]["f1"]
        assert thresholds.figure(name, "support") == int(targets[:, labels.index(name)].sum())
    # A slider step: that label's F1 as the core computes it at the new threshold.
    thresholds.select(1)
    with qtbot.waitSignal(thresholds.thresholdsSettled, timeout=5000):     # the galleries follow once it rests
        thresholds.slider.setValue(int(0.9 * SLIDER_STEPS))
    moved = list(tuned)
    moved[1] = 0.9
    at_09 = multilabel_metrics(probs, targets, moved, labels)
    assert thresholds.figure(labels[1], "f1") == at_09.per_label[labels[1]]["f1"]
    assert thresholds.figure(labels[0], "f1") == expected.per_label[labels[0]]["f1"]
    # The galleries of label 1 at 0.9: the images wrongly given it, and those that miss it.
    predicted = predicted_matrix(probs, moved)
    paths = [p["path"] for p in result["predictions"]]
    grids = view.samples["image"]
    assert panel.tabs.tabText(1).startswith(f"Missed '{labels[1]}'")
    wrong = [i for i in range(len(paths)) if predicted[i, 1] and not targets[i, 1]]
    missed = [i for i in range(len(paths)) if targets[i, 1] and not predicted[i, 1]]
    assert sorted(grids.misclassified.paths()) == sorted(paths[i] for i in wrong)
    assert sorted(grids.cell.paths()) == sorted(paths[i] for i in missed)
    assert grids.cell.paths() == sorted((paths[i] for i in missed), key=lambda p: probs[paths.index(p), 1])
    # Try an image: every label with its probability; those below the threshold greyed.
    thresholds.all_tuned_button.click()
    image = paths[0]
    with qtbot.waitSignal(panel.predicted, timeout=TIMEOUT_MS) as blocker:
        panel.try_images([image])
    prediction = blocker.args[0][0]
    rows = panel.try_view.image_table.model.rows
    assert len(rows) == 6 and {r[1] for r in rows} == set(labels)
    above = {p["label"] for p in prediction["labels"]}
    muted = panel.try_view.image_table.model.muted
    assert {rows[i][1] for i in range(6) if i not in muted} == above
    assert panel.try_grid.captions()[0].startswith(prediction["labels"][0]["label"]) if above else True
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=TIMEOUT_MS)
