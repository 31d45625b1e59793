"""tlstudio.core must load with no Qt and no matplotlib in the process."""
import json
import subprocess
import sys

SCRIPT = """
import importlib, json, pkgutil, sys
import tlstudio.core
names = sorted(m.name for m in pkgutil.walk_packages(tlstudio.core.__path__, "tlstudio.core."))
for name in names:
    importlib.import_module(name)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "matplotlib", "shiboken6"))
print(json.dumps({"modules": names, "leaked": leaked}))
"""


def test_core_imports_without_qt_or_matplotlib():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    # the walk really found the modules, so an empty package cannot pass vacuously
    assert {"tlstudio.core.model.head", "tlstudio.core.model.transfer", "tlstudio.core.model.layers"} <= set(report["modules"])
    assert report["leaked"] == []
