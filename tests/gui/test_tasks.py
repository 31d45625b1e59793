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
    assert "Traceback" not in blocker.args[0] and "division by zero" not in blocker.args[0]


def test_progress_and_cancel(qtbot):
    started = threading.Event()
    updates = []

    def work(job):
        job.set_progress(0, 10)
        started.set()
        while not job.is_cancelled:
            threading.Event().wait(0.01)
        job.set_progress(10, 10)
        return "stopped"

    task = run_task(work, with_progress=True, on_progress=lambda d, t: updates.append((d, t)))
    assert started.wait(5)
    task.cancel()
    with qtbot.waitSignal(task.finished, timeout=5000) as blocker:
        pass
    assert blocker.args == ["stopped"]
    assert updates[0] == (0, 10) and updates[-1] == (10, 10)


def test_a_job_that_checks_stops_with_cancelled(qtbot):
    started = threading.Event()

    def work(job):
        started.set()
        while True:
            job.check()
            threading.Event().wait(0.01)

    task = run_task(work, with_progress=True)
    assert started.wait(5)
    task.cancel()
    with qtbot.waitSignal(task.failed, timeout=5000) as blocker:
        pass
    assert blocker.args == ["Cancelled."] and task.was_cancelled()


def test_unexpected_errors_are_logged_with_traceback_to_the_app_log(qtbot, tmp_path, monkeypatch):
    import sys

    from tlstudio.gui import app
    from tlstudio.gui.jobs import tasks

    monkeypatch.setenv("TLSTUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)    # restored after the test
    log_path = app.setup_error_log()
    try:
        assert log_path.parent.parent == tmp_path / "data"

        def buggy_job():
            return {"a": 1}["b"]

        task = run_task(buggy_job)
        with qtbot.waitSignal(task.failed, timeout=5000) as blocker:
            pass
    finally:
        tasks.uninstall_error_log()
    message = blocker.args[0]
    assert message.startswith("Unexpected error (KeyError)") and str(log_path) in message
    assert "'b'" not in message     # the exception's text stays in the log
    text = log_path.read_text()
    assert "ERROR" in text and "buggy_job" in text and "Traceback" in text and "KeyError: 'b'" in text


def test_a_finished_task_is_freed_without_the_garbage_collector(qtbot):
    """Lambdas capturing their task must not keep it in a cycle that a worker thread's GC then frees."""
    import gc
    import weakref

    got = []

    def start():
        task = run_task(lambda: 5)
        task.finished.connect(lambda result: got.append((task.error, result)))
        return weakref.ref(task)

    ref = start()
    # This task's own end (another test's job may still be winding down: running_tasks() is global).
    qtbot.waitUntil(lambda: bool(got) and (ref() is None or ref() not in running_tasks()), timeout=5000)
    qtbot.wait(50)
    gc.disable()
    try:
        assert got == [(None, 5)]
        assert ref() is None
    finally:
        gc.enable()
