"""Train tab: settings binding, a real run in the main window, stop, close, errors, GUI stalls."""
import os
import time

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QCheckBox, QComboBox, QMessageBox, QWidget

from tlstudio.core import events as ev
from tlstudio.core import paths
from tlstudio.core.project import Project
from tlstudio.gui.state import ProjectState
from tlstudio.gui.panels.training_panel import TrainingPanel
from tlstudio.gui.jobs.training import default_run_dir

from .conftest import close_window

RUN_TIMEOUT_MS = 300_000
SHOTS = "/tmp/gui_shots"


def small_settings(project: Project, epochs: int = 2) -> None:
    project.model.image_size = 64
    project.training.epochs = epochs
    project.training.batch_size = 32
    project.training.use_cache = True
    project.training.head_fit = "epochs"     # the panel's epoch-by-epoch display
    project.finetune.enabled = False
    project.training.head_fit = "epochs"     # the panel's epoch-by-epoch display (the search: test_head_search_is_shown)


def demo_project(epochs: int = 2) -> Project:
    project = Project(name="panel test")
    project.data.path = str(paths.demo_data_dir())
    small_settings(project, epochs)
    return project


class Recorder:
    """Every event the panel received, in order (on the GUI thread)."""

    def __init__(self, panel):
        self.events = []
        panel.eventReceived.connect(self.events.append)

    def count(self, kind):
        return sum(isinstance(e, kind) for e in self.events)

    def names(self):
        return [type(e).__name__ for e in self.events]


class Heartbeat:
    """A 10 ms timer on the GUI thread; the longest gap between ticks is the worst stall."""

    def __init__(self):
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.worst = 0.0
        self._last = None

    def start(self):
        self._t0 = self._last = time.perf_counter()
        self.long_gaps = []
        self.timer.start()

    def _tick(self):
        now = time.perf_counter()
        gap = now - self._last
        if gap > 0.05:
            self.long_gaps.append((round(now - self._t0, 2), round(gap * 1000)))
        self.worst = max(self.worst, gap)
        self._last = now

    def stop(self):
        self.timer.stop()


class FakeTrainer:
    """Stands in for core.train.trainer.Trainer: records what the worker handed it."""

    seen: dict = {}

    def __init__(self, project, run_dir, callback=None, job=None, resume=False, dataset=None):
        FakeTrainer.seen = {"dataset": dataset, "job": job}
        self.callback = callback

    def run(self):
        self.callback(ev.StageStarted(stage=1, epochs=1, trainable_params=10, cached_features=True))
        self.callback(ev.RunFinished(run_dir="x", best_val_acc=0.5, epochs_run=1, seconds=0.1, cancelled=False))
        return {"val_accuracy": 0.5}


def test_training_reuses_the_data_tabs_scanned_dataset(qtbot, monkeypatch):
    from tlstudio.core.data.images import scan
    from tlstudio.core.train import trainer

    state = ProjectState(demo_project())
    state.set_dataset(scan(state.project.data.path))
    monkeypatch.setattr(trainer, "Trainer", FakeTrainer)
    panel = TrainingPanel(state)
    qtbot.addWidget(panel)
    recorder = Recorder(panel)
    with qtbot.waitSignal(panel.trainingFinished, timeout=60_000):
        panel.start_button.click()
    assert FakeTrainer.seen["dataset"] is state.dataset          # not scanned (decoded) again
    assert recorder.names() == ["StageStarted", "RunFinished"]   # one signal, dispatched by type
    assert panel._stage_epochs == {1: 1}
    assert "Finished: best validation accuracy 50.0%" in panel.log_view.toPlainText()


def test_stop_before_the_worker_thread_runs_reaches_the_trainer(qtbot, monkeypatch):
    from tlstudio.core.train import trainer
    from tlstudio.gui.jobs.training import TrainingWorker

    worker = TrainingWorker(demo_project(), "unused")
    worker.pause()
    worker.cancel()                     # no replay: the job state exists before the thread starts
    monkeypatch.setattr(trainer, "Trainer", FakeTrainer)
    worker.work()
    job = FakeTrainer.seen["job"]
    assert job is worker.job and job.is_cancelled and not job.is_paused


def test_an_unexpected_trainer_crash_is_logged_with_its_traceback(qtbot, monkeypatch, tmp_path):
    from tlstudio.core.train import trainer
    from tlstudio.gui.jobs import tasks

    class Broken(FakeTrainer):
        def run(self):
            return {}["missing"]

    log_file = tasks.install_error_log(tmp_path / "tlstudio.log")
    monkeypatch.setattr(trainer, "Trainer", Broken)
    panel = TrainingPanel(ProjectState(demo_project()))
    qtbot.addWidget(panel)
    try:
        with qtbot.waitSignal(panel.trainingFinished, timeout=60_000) as blocker:
            panel.start_button.click()
    finally:
        tasks.uninstall_error_log()
    assert "KeyError" in blocker.args[0]["error"] and str(log_file) in blocker.args[0]["error"]
    text = log_file.read_text()
    assert "ERROR" in text and "Traceback" in text and "return {}[\"missing\"]" in text


def test_default_run_dir_is_under_data_dir_and_unique():
    project = Project(name="My project: v2")
    first = default_run_dir(project)
    assert first.parent == paths.data_dir() / "runs"
    assert first.name.startswith("My-project-v2-")
    first.mkdir(parents=True)
    assert default_run_dir(project) != first


def test_settings_are_bound_to_the_project(qtbot):
    state = ProjectState(demo_project())
    panel = TrainingPanel(state)
    qtbot.addWidget(panel)
    assert panel.widget_for("training", "epochs").value() == 2

    panel.widget_for("training", "epochs").setValue(7)
    panel.widget_for("training", "lr").setValue(3e-4)
    panel.widget_for("training", "class_weighted").setChecked(True)
    schedule = panel.widget_for("training", "schedule")
    schedule.setCurrentIndex(schedule.findData("step"))
    panel.widget_for("finetune", "enabled").setChecked(True)
    panel.widget_for("finetune", "unfreeze_last").setValue(3)
    panel.widget_for("finetune", "train_batchnorm").setChecked(True)
    t, ft = state.project.training, state.project.finetune
    assert (t.epochs, t.lr, t.class_weighted, t.schedule) == (7, pytest.approx(3e-4), True, "step")
    assert (ft.enabled, ft.unfreeze_last, ft.train_batchnorm) == (True, 3, True)
    assert state.dirty

    other = demo_project(epochs=11)
    other.training.device = "cpu"
    other.training.use_cache = False
    state.replace_project(other)
    assert panel.widget_for("training", "epochs").value() == 11
    assert panel.widget_for("training", "device").currentData() == "cpu"
    assert not panel.widget_for("training", "use_cache").isChecked()
    assert not panel.widget_for("finetune", "epochs").isEnabled()     # fine-tune off -> its fields greyed
    assert not state.dirty                                            # reloading wrote nothing back


def test_device_chooser_lists_what_torch_sees(qtbot):
    import torch

    panel = TrainingPanel(ProjectState(demo_project()))
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: not panel.devices_task.is_running(), timeout=60_000)   # asked in a worker
    combo: QComboBox = panel.device_combo
    values = [combo.itemData(i) for i in range(combo.count())]
    assert values[0] == "auto" and values[-1] == "cpu"
    cuda = [v for v in values if v.startswith("cuda:")]
    assert len(cuda) == torch.cuda.device_count()
    for i, value in enumerate(cuda):
        assert torch.cuda.get_device_name(i) in combo.itemText(values.index(value))
    assert ("mps" in values) == bool(torch.backends.mps.is_available())


def test_a_bad_dataset_shows_an_error_and_the_app_keeps_going(qtbot):
    project = demo_project()
    project.data.path = "/nonexistent/folder/for/tlstudio"
    state = ProjectState(project)
    panel = TrainingPanel(state)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.trainingFinished, timeout=RUN_TIMEOUT_MS) as blocker:
        panel.start_button.click()
    info = blocker.args[0]
    assert info["error"] and not info["recorded"]
    assert not panel.error_label.isHidden()
    assert "Training failed" in panel.error_label.text()
    assert "/nonexistent/folder/for/tlstudio" in panel.error_label.text()
    assert "ERROR" in panel.log_view.toPlainText()
    assert state.project.runs == []
    qtbot.waitUntil(lambda: not panel.is_running())
    assert panel.start_button.isEnabled()


def _panels(window):
    return window.training_panel, window.results_panel


def test_full_run_in_the_main_window(qtbot, demo_window):
    window = demo_window
    training, results = _panels(window)
    assert training.objectName() == "trainingPanel" and results.objectName() == "resultsPanel"
    small_settings(window.state.project, epochs=2)
    training.reload()
    window.tabs.setCurrentWidget(training)
    qtbot.wait(300)                    # the tab's first paint is not part of the run
    # A user does not press Start within the first seconds; the trainer's imports are done by then.
    qtbot.waitUntil(lambda: not training.preload_task.is_running(), timeout=120_000)
    recorder = Recorder(training)
    done, evaluated = [], []
    training.trainingFinished.connect(done.append)
    results.evaluated.connect(evaluated.append)
    heartbeat = Heartbeat()
    heartbeat.start()
    with qtbot.waitSignal(training.trainingStarted, timeout=5000):
        qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
    assert training.is_running() and not training.start_button.isEnabled()
    # The worker's events arrive re-emitted on the GUI thread: wait for each step in turn.
    qtbot.waitUntil(lambda: recorder.count(ev.StageStarted) == 1, timeout=RUN_TIMEOUT_MS)
    qtbot.waitUntil(lambda: recorder.count(ev.EpochEnded) == 1, timeout=RUN_TIMEOUT_MS)
    qtbot.waitUntil(lambda: recorder.count(ev.EpochEnded) == 2, timeout=RUN_TIMEOUT_MS)
    qtbot.waitUntil(lambda: bool(done), timeout=RUN_TIMEOUT_MS)
    # The end of a run included: the user opens the results, which load and draw (off the GUI thread).
    window.tabs.setCurrentWidget(results)
    qtbot.waitUntil(lambda: bool(evaluated), timeout=RUN_TIMEOUT_MS)
    qtbot.waitUntil(lambda: results.confusion.renders > 0 and not results.confusion.busy()
                    and results.confusion.matrix is not None, timeout=RUN_TIMEOUT_MS)
    heartbeat.stop()
    print(f"\nworst GUI stall during a demo training run: {heartbeat.worst * 1000:.0f} ms; "
          f"gaps over 50 ms (s, ms): {heartbeat.long_gaps}; events: {recorder.names()}")

    names = recorder.names()
    assert names[0] == "StageStarted"
    assert names[-1] == "RunFinished"
    assert names.count("EpochEnded") == 2
    assert names.index("EpochEnded") < names.index("RunFinished")
    finished = recorder.events[-1]
    assert not finished.cancelled

    loss, accuracy = training.charts.loss.series(), training.charts.accuracy.series()
    assert loss["x"] == [1.0, 2.0] and accuracy["x"] == [1.0, 2.0]
    assert all(v > 0 for v in loss["train"] + loss["val"])
    assert accuracy["val"][-1] > 1 / 6 + 0.2          # well above chance on 6 classes
    assert training.progress.format() == "Done"

    record = window.state.project.runs[-1]
    assert record.run_dir == finished.run_dir and not record.cancelled
    assert os.path.isfile(os.path.join(finished.run_dir, "best.safetensors"))

    matrix = results.confusion.matrix
    assert matrix.shape == (6, 6)
    assert int(matrix.sum()) == len(results.result["predictions"]) == 60
    assert results.metrics_model.rowCount() == 6
    assert results.run_combo.currentData() == finished.run_dir

    window.resize(1280, 800)
    os.makedirs(SHOTS, exist_ok=True)
    window.tabs.setCurrentWidget(training)
    charts = (training.charts.loss, training.charts.accuracy)
    qtbot.waitUntil(lambda: all(c.image is not None and not c.busy() for c in charts), timeout=30_000)
    training.grab().save(f"{SHOTS}/train.png")
    window.tabs.setCurrentWidget(results)
    qtbot.waitUntil(lambda: not results.samples["image"].misclassified.is_running() and not results.confusion.busy(),
                    timeout=30_000)
    results.grab().save(f"{SHOTS}/results.png")
    window.grab().save(f"{SHOTS}/window_results.png")
    # A guard against a GUI thread that really blocks (a forward pass or a weights load on it takes
    # seconds here); the 50 ms target is measured by benchmarks/bench_gui_stalls.py, not by a timed test.
    worst = heartbeat.worst
    if worst >= 0.500:
        # These machines are shared and noisy: one slow scheduling slice must not fail the
        # suite, a GUI thread that really blocks fails a second, identical run as well.
        window.tabs.setCurrentWidget(training)
        qtbot.wait(300)                # the tab's first paint is not part of the run
        again = []
        training.trainingFinished.connect(again.append)
        heartbeat = Heartbeat()
        heartbeat.start()
        qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: bool(again), timeout=RUN_TIMEOUT_MS)
        heartbeat.stop()
        print(f"first run stalled {worst * 1000:.0f} ms; second run: {heartbeat.worst * 1000:.0f} ms")
        worst = heartbeat.worst
    assert worst < 0.500, f"the GUI thread stalled for {worst * 1000:.0f} ms"


def test_stop_mid_run(qtbot, demo_window):
    training, _ = _panels(demo_window)
    small_settings(demo_window.state.project, epochs=200)
    training.reload()
    recorder = Recorder(training)

    def stop_on_first_batch(event):
        if isinstance(event, ev.BatchProgress) and training.stop_button.isEnabled():
            training.stop_button.click()

    training.eventReceived.connect(stop_on_first_batch)
    with qtbot.waitSignal(training.trainingFinished, timeout=RUN_TIMEOUT_MS) as blocker:
        training.start_button.click()
    info = blocker.args[0]
    assert info["cancelled"] and not info["error"]
    assert recorder.names()[-1] == "RunFinished" and recorder.events[-1].cancelled
    assert recorder.names().count("EpochEnded") < 200
    qtbot.waitUntil(lambda: not training.is_running(), timeout=10_000)
    assert training.progress.format() == "Stopped"
    assert training.start_button.isEnabled()


def test_close_during_a_run_stops_the_worker(qtbot, dialogs):
    from tlstudio.gui.app import build_main_window

    window = build_main_window(demo=True)
    qtbot.addWidget(window)
    window.show()
    training, _ = _panels(window)
    small_settings(window.state.project, epochs=200)
    training.reload()
    first_batch = []
    training.eventReceived.connect(lambda e: first_batch.append(e) if isinstance(e, ev.BatchProgress) else None)
    training.start_button.click()
    thread = training._thread
    qtbot.waitUntil(lambda: bool(first_batch), timeout=RUN_TIMEOUT_MS)
    dialogs.answer = QMessageBox.StandardButton.Yes
    window.state.set_dirty(False)
    started = time.perf_counter()
    assert window.close()
    assert any(call[0] == "question" for call in dialogs.calls)
    assert not training.is_running()
    assert thread.isFinished()
    assert time.perf_counter() - started < 30
    qtbot.waitUntil(lambda: training.worker is None, timeout=5000)   # thread.finished reached the panel
    close_window(window)


def test_pause_and_resume(qtbot):
    state = ProjectState(demo_project(epochs=200))
    panel = TrainingPanel(state)
    qtbot.addWidget(panel)
    batches = []
    panel.eventReceived.connect(lambda e: batches.append(e) if isinstance(e, ev.BatchProgress) else None)
    panel.start_button.click()
    qtbot.waitUntil(lambda: bool(batches), timeout=RUN_TIMEOUT_MS)
    panel.pause_button.click()
    assert panel.pause_button.text() == "Resume"
    qtbot.wait(300)                        # let in-flight events arrive
    seen = len(batches)
    qtbot.wait(1500)
    assert len(batches) == seen            # paused: no progress
    panel.pause_button.click()
    qtbot.waitUntil(lambda: len(batches) > seen, timeout=60_000)
    with qtbot.waitSignal(panel.trainingFinished, timeout=60_000):
        panel.stop_button.click()
    assert not panel.is_running() or panel.stop_and_wait(5000)


def test_checkboxes_are_not_left_unbound(qtbot):
    panel = TrainingPanel(ProjectState(demo_project()))
    qtbot.addWidget(panel)
    bound = {id(w) for w in panel.settings.widgets()}
    boxes = panel.settings_area.widget().findChildren(QCheckBox)
    assert boxes and all(id(b) in bound for b in boxes)


def test_head_search_is_shown_as_a_table_with_the_winner(qtbot):
    from tlstudio.core.headsearch.results import format_table

    project = demo_project()
    project.training.head_fit = "search"
    panel = TrainingPanel(ProjectState(project))
    qtbot.addWidget(panel)
    assert panel.search_table.isHidden()
    trials = [{"head": "linear", "lr": 1e-3, "weight_decay": 1e-2, "epochs": 31, "cv_accuracy": 0.91,
               "cv_loss": 0.3, "seconds": 0.4, "winner": False},
              {"head": "hidden 128", "lr": 1e-3, "weight_decay": 1e-3, "epochs": 9, "cv_accuracy": 0.93,
               "cv_loss": 0.25, "seconds": 1.2, "winner": True}]
    search = {"method": "5-fold cross-validation", "folds": 5, "refit": True, "fit_samples": 240,
              "seconds": 1.7, "temperature": 1.2, "ece_before": 0.05, "ece_after": 0.03, "trials": trials,
              "winner": {"head": "hidden 128", "lr": 1e-3, "weight_decay": 1e-3, "epochs": 9},
              "heldout_accuracy": 0.93}
    ev.dispatch(panel, ev.HeadSearchFinished(search=search, table=format_table(search)))
    table = panel.search_table
    assert not table.isHidden() and table.rowCount() == 2
    assert [table.item(1, c).text() for c in (1, 4, 5, 7)] == ["hidden 128", "9", "93.0%", "★ winner"]
    assert table.item(1, 1).font().bold() and not table.item(0, 1).font().bold()
    assert table.height() >= 0 and table.minimumHeight() > 7 * table.verticalHeader().defaultSectionSize()
    assert "refit on all labelled samples (240)" in panel.log_view.toPlainText()
    # The chosen values show in the settings, marked as chosen.
    assert panel.widget_for("training", "epochs").value() == 9
    assert panel.settings.marks["epochs"].badge.text() == "✓ chosen"


def test_editing_a_training_value_in_the_panel_makes_it_explicit(qtbot):
    state = ProjectState(demo_project())
    panel = TrainingPanel(state)
    qtbot.addWidget(panel)
    panel.widget_for("training", "lr").setValue(0.05)
    assert state.project.training.lr == 0.05
    assert "lr" not in state.project.training.auto and "epochs" in state.project.training.auto


def test_the_learning_rate_shown_follows_the_task_until_the_user_sets_it(qtbot):
    from tlstudio.core.data.modality import modality_for
    TEXT_DEFAULT_LR = modality_for("text").default_lr

    state = ProjectState(demo_project())
    panel = TrainingPanel(state)
    qtbot.addWidget(panel)
    lr_box = panel.findChild(QWidget, "training_lr")
    assert lr_box.value() == state.project.training.lr == 1e-3           # image default
    state.set_task("text")
    assert lr_box.value() == TEXT_DEFAULT_LR == state.project.epoch_lr()
    assert state.project.training.lr == 1e-3 and "lr" in state.project.training.auto   # nothing written
    lr_box.setValue(3e-3)                                                  # the user's choice is kept
    assert state.project.epoch_lr() == state.project.training.lr == 3e-3
    assert "lr" not in state.project.training.auto
    state.set_task("image")
    assert lr_box.value() == 3e-3
