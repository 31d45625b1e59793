"""GUI start-up contract: importing the app and building the main window import no torch on the GUI thread."""
import json
import os
import subprocess
import sys

SCRIPT = r"""
import json, sys, threading

class Watch:
    # Records which thread first imports a torch module; finds nothing itself.
    def __init__(self):
        self.on_gui_thread = []
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "timm") and threading.current_thread() is threading.main_thread():
            self.on_gui_thread.append(name)
        return None

watch = Watch()
sys.meta_path.insert(0, watch)
import tlstudio.gui.app as app
after_import = sorted(m for m in sys.modules if m.split(".")[0] == "torch")
window = app.build_main_window()
for _ in range(20):
    app.QApplication.processEvents()
gui_thread = sorted(set(watch.on_gui_thread))
from tlstudio.gui.jobs import tasks
tasks.wait_for_all(120000)
print(json.dumps({"after_import": after_import, "gui_thread": gui_thread}))
"""


def _env(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TLSTUDIO_DATA_DIR=str(tmp_path / "data"),
               TLSTUDIO_CACHE_DIR=str(tmp_path / "cache"))
    return env


def test_app_import_and_main_window_import_no_torch_on_the_gui_thread(tmp_path):
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300,
                          env=_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["after_import"] == []
    assert report["gui_thread"] == []


def test_importtime_of_the_app_lists_no_torch(tmp_path):
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import tlstudio.gui.app"],
                          capture_output=True, text=True, timeout=120, env=_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    modules = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line]
    assert "tlstudio.gui.app" in modules                  # the report really covers the app
    assert not [m for m in modules if m.split(".")[0] == "torch"]


def test_naming_a_new_run_imports_no_torch(tmp_path):
    """Start names the run folder on the GUI thread: while the trainer preload still imports torch in a
    worker, importing torch there would wait for it (a 7 s freeze was measured)."""
    script = ("import sys; from tlstudio.core.project import Project; "
              "from tlstudio.gui.jobs.training import default_run_dir; "
              "print(default_run_dir(Project(name='p')).name); "
              "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env=_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    name, torch_modules = proc.stdout.strip().splitlines()
    assert name.startswith("p-") and torch_modules == "[]"


SPLASH_SCRIPT = r"""
import json, sys
import tlstudio.gui.app as app
from tlstudio.gui import splash as splash_mod
qapp = app.ensure_application()
messages = []
original = splash_mod.QSplashScreen.showMessage
def record(self, text, *args):
    messages.append((text, self.isVisible()))
    return original(self, text, *args)
splash_mod.QSplashScreen.showMessage = record
before = [m for m, _ in splash_mod.HEAVY_MODULES if m in sys.modules]
splash = splash_mod.show_loading(qapp)
after = [m for m, _ in splash_mod.HEAVY_MODULES if m in sys.modules]
window = app.build_main_window()
window.show()
splash.finish(window)
image = splash.pixmap().toImage()
colours = len({image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)})
from tlstudio.gui.jobs import tasks
tasks.wait_for_all(120000)
print(json.dumps({"before": before, "after": after, "messages": messages, "splash_hidden": not splash.isVisible(),
                  "colours": colours, "again": splash_mod.preload_libraries()}))
"""


def test_the_app_loads_torch_under_a_splash_before_the_window(tmp_path):
    """main() imports torch, torchvision and timm while a splash says so, before the window exists: in a
    worker after the window showed, their imports held the GIL and froze the window for 80-190 ms."""
    proc = subprocess.run([sys.executable, "-c", SPLASH_SCRIPT], capture_output=True, text=True, timeout=300,
                          env=_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["before"] == [] and report["after"] == ["torch", "torchvision", "timm"]
    assert [text for text, _ in report["messages"]] == ["Loading PyTorch…", "Loading torchvision…",
                                                         "Loading the model zoo (timm)…"]
    assert all(visible for _, visible in report["messages"])      # said while the splash was on screen
    assert report["splash_hidden"] and report["colours"] > 3        # gone once the window shows; not blank
    assert report["again"] == []                                    # a second call imports nothing


def test_a_library_that_fails_to_import_does_not_stop_the_start(monkeypatch, caplog):
    """A broken torch install must not end the app with a traceback at the splash: it is logged and the
    window opens (the job that needs torch then reports the error in one line)."""
    from tlstudio.gui import splash

    seen = []

    def fake_import(name):
        seen.append(name)
        raise ImportError(f"{name} is broken")

    monkeypatch.setattr(splash, "HEAVY_MODULES", (("not_a_real_module_x", "X"), ("not_a_real_module_y", "Y")))
    monkeypatch.setattr(splash.importlib, "import_module", fake_import)
    with caplog.at_level("ERROR"):
        assert splash.preload_libraries() == []
    assert seen == ["not_a_real_module_x"]            # stops at the first failure
    assert "Could not import not_a_real_module_x" in caplog.text
