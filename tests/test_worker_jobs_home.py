"""Every worker job of the GUI lives in ``tlstudio/gui/jobs/``: no panel, widget or view defines a QRunnable or
a QThread subclass or starts a thread pool of its own (they hand a job function to ``gui.jobs.tasks.run_task``
or use a loader from ``gui/jobs``)."""
import ast
from pathlib import Path

import tlstudio

GUI = Path(tlstudio.__file__).parent / "gui"
THREADING = {"QRunnable", "QThread", "QThreadPool"}


def thread_machinery(path: Path) -> list[str]:
    """Classes deriving from a Qt threading class, and thread pools created, in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef):
            found += [f"{path.name}:{node.lineno} class {node.name}({b.id})" for b in node.bases
                      if isinstance(b, ast.Name) and b.id in THREADING]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in THREADING:
            found.append(f"{path.name}:{node.lineno} {node.func.id}()")
    return found


def test_the_check_sees_a_runnable(tmp_path):
    sample = tmp_path / "panel.py"
    sample.write_text("from PySide6.QtCore import QRunnable, QThreadPool\n"
                      "class Job(QRunnable):\n    pass\npool = QThreadPool()\n")
    assert len(thread_machinery(sample)) == 2


def test_worker_jobs_live_in_gui_jobs():
    outside = [hit for path in sorted(GUI.rglob("*.py")) if "jobs" not in path.relative_to(GUI).parts[:1]
               for hit in thread_machinery(path)]
    assert outside == []
