"""Training the open project the way a user does: the Train tab's Start button, then the Results tab's
evaluation (shared by the GUI tests that train)."""
from PySide6.QtCore import Qt


def train_via_start_button(qtbot, window, epochs: int, timeout_ms: int) -> dict:
    """Set ``epochs``, press Start on the Train tab and return the Results tab's first evaluation."""
    window.state.project.training.epochs = epochs
    training, results = window.training_panel, window.results_panel
    training.reload()
    window.tabs.setCurrentWidget(training)
    qtbot.waitUntil(lambda: not training.preload_task.is_running(), timeout=timeout_ms)
    evaluated = []
    results.evaluated.connect(evaluated.append)
    with qtbot.waitSignal(training.trainingStarted, timeout=10000):
        qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(evaluated), timeout=timeout_ms)
    return evaluated[-1]
