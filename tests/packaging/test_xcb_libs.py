"""The Linux bundle carries Qt's X11 helper libraries; a build machine without them fails the build."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from tlstudio.gui.platform_check import XCB_LIBRARIES

ROOT = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location("xcb_libs", ROOT / "packaging" / "linux" / "xcb_libs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_library_the_gui_checks_is_collected(tmp_path):
    xcb = _module()
    for soname in XCB_LIBRARIES:
        (tmp_path / soname).write_bytes(b"\x7fELF")
    paths, missing = xcb.find(cache={}, search_dirs=(str(tmp_path),))
    assert not missing and sorted(p.name for p in paths) == sorted(XCB_LIBRARIES)


def test_a_missing_library_fails_the_build_with_the_install_command(tmp_path, monkeypatch):
    xcb = _module()
    present = tmp_path / "libxcb-cursor.so.0"
    present.write_bytes(b"\x7fELF")
    paths, missing = xcb.find(cache={"libxcb-cursor.so.0": str(present)}, search_dirs=())
    assert paths == [present] and len(missing) == len(XCB_LIBRARIES) - 1
    monkeypatch.setattr(xcb, "find", lambda: (paths, ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]))
    with pytest.raises(SystemExit) as info:
        xcb.binaries()
    message = str(info.value)
    assert "libxcb-icccm.so.4" in message and "sudo apt install libxcb-icccm4 libxcb-keysyms1" in message


def test_the_spec_ships_them_and_package_test_starts_the_bundle_on_xvfb_with_xcb():
    spec = (ROOT / "packaging" / "tlstudio.spec").read_text()
    assert re.search(r"binaries \+= xcb_libs\.binaries\(\)", spec)
    script = (ROOT / "packaging" / "selftest_bundle.sh").read_text()
    assert "Xvfb -displayfd" in script and "QT_QPA_PLATFORM=xcb" in script
    assert '"qt_platform": "xcb"' in script
    makefile = (ROOT / "Makefile").read_text()
    test_recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "package" not in test_recipe and "Xvfb" not in test_recipe      # make test stays as it was
