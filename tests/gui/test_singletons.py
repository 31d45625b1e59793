"""The app survives a Qt binding that loses a reference to None on every void call (PySide6 6.12.0 on
CPython 3.11): importing ``tlstudio.gui`` keeps None/True/False alive however many calls are made."""
import subprocess
import sys

CALLS = 30_000        # far more than None's ~5 300 references in a bare interpreter

SCRIPT = f"""
import sys
{{guard}}
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QLabel
app = QApplication(['x', '-platform', 'offscreen'])
label = QLabel()
class Emitter(QObject):
    ping = Signal()
e = Emitter()
for _ in range({CALLS}):
    label.setText('a')
    e.ping.emit()
print('done', flush=True)
"""


def _run(guard: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT.format(guard=guard)], capture_output=True, text=True,
                          timeout=300)


def test_many_void_qt_calls_and_emits_do_not_abort_the_interpreter():
    proc = _run("import tlstudio.gui")
    assert proc.returncode == 0 and "done" in proc.stdout, proc.stderr[-2000:]


def test_the_guard_is_what_keeps_it_alive_on_an_affected_binding():
    """Without the guard the same script aborts where the binding leaks (else this binding is fine and the
    guard is harmless)."""
    import ctypes

    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication.instance() or QApplication(["x", "-platform", "offscreen"])
    label = QLabel()
    before = sys.getrefcount(None)
    for _ in range(1000):
        label.setText("a")
    leaks = before - sys.getrefcount(None) >= 900
    proc = _run("")
    if leaks and sys.version_info < (3, 12):
        assert proc.returncode != 0 and ("none_dealloc" in proc.stderr or "bool_dealloc" in proc.stderr), proc.stderr[-500:]
    assert ctypes.c_ssize_t.from_address(id(None)).value > 1 << 59 or sys.version_info >= (3, 12)
    del app
