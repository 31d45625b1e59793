"""The background-task runner: results, readable errors, progress, GUI-thread delivery."""
import threading

from PySide6.QtCore import QThread

from tlstudio.core.errors import DatasetError
from tlstudio.gui.jobs.tasks import run_task, running_tasks


def test_result_arrives_on_gui_thread(qtbot):
    seen = {}
    gui_thread = QThread.currentThread()

    def job(a, b):
        seen["worker"] = threading.current_thread() is not threading.main_thread()
        return a + b

    def done(result):
        seen["result"] = result
        seen["on_gui"] = QThread.currentThread() is gui_thread

    task = run_task(job, 2, b=3, on_finished=done)
    with qtbot.waitSignal(task.done, timeout=5000):
        pass
    assert seen == {"worker": True, "result": 5, "on_gui": True}
    qtbot.waitUntil(lambda: task not in running_tasks(), timeout=5000)


def test_core_error_becomes_its_message(qtbot):
    def job():
        raise DatasetError("The folder has only one class.")

    task = run_task(job)
    with qtbot.waitSignal(task.failed, timeout=5000) as blocker:
        pass
    assert blocker.args == ["The folder has only one class."]


def test_unexpected_error_is_named_not_traced(qtbot):
    task = run_task(lambda: 1 / 0)
    with qtbot.waitSignal(task.failed, timeout=5000) as blocker:
        pass
    assert blocker.args[0].startswith("Unexpected error (ZeroDivisionError)")
    assert "Traceback" not in blocker.args[0]


def test_progress_and_cancel(qtbot):
    started = threading.Event()
    updates = []

    def job(progress, cancel):
        progress(0, 10)
        started.set()
        while not cancel.is_cancelled:
            threading.Event().wait(0.01)
        progress(10, 10)
        return "stopped"

    task = run_task(job, with_progress=True, on_progress=lambda d, t: updates.append((d, t)))
    assert started.wait(5)
    task.cancel()
    with qtbot.waitSignal(task.finished, timeout=5000) as blocker:
        pass
    assert blocker.args == ["stopped"]
    assert updates[0] == (0, 10) and updates[-1] == (10, 10)
