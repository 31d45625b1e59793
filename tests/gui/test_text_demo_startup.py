"""The text demo started exactly as ``tlstudio --text-demo`` starts it: a fresh process, ``main()``, the
splash, the window, the model load and the token-length count in two workers at once. The Token lengths
panel must hold a histogram and the error log must stay empty (two workers importing ``transformers`` at
once used to fail with "cannot import name 'AutoConfig'")."""
import json
import os
import subprocess
import sys

SCRIPT = r"""
import json, sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import tlstudio.gui.app as app

report = {}
started = time.monotonic()

def window():
    qapp = QApplication.instance()
    return next((w for w in qapp.topLevelWidgets() if w.objectName() == "mainWindow"), None)

def poll():
    global PRELOADED
    win = window()
    if win is not None:
        if PRELOADED is None:     # the window exists only after the splash: was transformers loaded under it?
            PRELOADED = "transformers" in sys.modules
        browser = win.dataset_browser
        counted = browser.state.dataset is not None and not browser.pages["text"].is_counting_tokens()
        if counted and browser.pages["text"].histogram.stats is not None or time.monotonic() - started > 240:
            report.update(histogram=browser.pages["text"].histogram.stats is not None,
                          texts=len(browser.pages["text"].histogram.stats.lengths) if browser.pages["text"].histogram.stats else 0,
                          note=browser.pages["text"].truncation_label.text(), transformers_preloaded=PRELOADED)
            win.state.set_dirty(False)
            win.close()
            return
    QTimer.singleShot(100, poll)

PRELOADED = None
QTimer.singleShot(0, poll)
code = app.main(["--text-demo"])
print(json.dumps(dict(report, code=code)))
"""


def test_the_text_demo_started_as_the_app_does_shows_the_token_histogram(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TLSTUDIO_DATA_DIR=str(tmp_path / "data"),
               TLSTUDIO_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=400, env=env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["histogram"] and report["texts"] == 360, report
    assert "texts fit the max length" in report["note"] or "longer than the max length" in report["note"]
    assert report["transformers_preloaded"] is True          # loaded under the splash, before any worker
    log = tmp_path / "data" / "logs" / "tlstudio.log"
    errors = log.read_text() if log.exists() else ""
    assert "ERROR" not in errors, errors
