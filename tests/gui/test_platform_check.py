"""Before Qt starts: missing X11 libraries are named with the install command, exit 2, no core dump."""
import os
import subprocess
import sys

import pytest

from tlstudio.gui import platform_check as pc

DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12"\nID=debian\n'
UBUNTU = 'ID=ubuntu\nID_LIKE=debian\n'
FEDORA = 'ID=fedora\n'


def test_missing_libraries_are_found_and_named():
    missing = pc.missing_xcb_libraries(loadable=lambda name: name != "libxcb-icccm.so.4",
                                       unresolved={"libxcb-keysyms.so.1"})
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert pc.missing_xcb_libraries(loadable=lambda name: True, unresolved=set()) == []


@pytest.mark.parametrize("release, command", [
    (DEBIAN, "sudo apt install libxcb-cursor0 libxcb-icccm4"),
    (UBUNTU, "sudo apt install libxcb-cursor0 libxcb-icccm4"),
    (FEDORA, "sudo dnf install xcb-util-cursor xcb-util-wm"),
])
def test_message_gives_the_distributions_install_command(release, command):
    message = pc.missing_libraries_message(["libxcb-icccm.so.4", "libxcb-cursor.so.0"], pc.package_manager(release))
    assert command in message and "libxcb-icccm.so.4" in message


def test_platform_choice_follows_the_environment():
    assert pc.chosen_platform({"QT_QPA_PLATFORM": "offscreen"}) == "offscreen"
    assert pc.startup_problem({"QT_QPA_PLATFORM": "offscreen"}) is None
    if sys.platform.startswith("linux"):
        assert pc.chosen_platform({"DISPLAY": ":0"}) == "xcb"


@pytest.mark.skipif(not sys.platform.startswith("linux") or not pc.missing_xcb_libraries(),
                    reason="this machine has every xcb library; Qt would try a real display")
def test_app_exits_2_with_the_message_instead_of_aborting(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", DISPLAY=":99", HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "tlstudio"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert "needs system libraries" in proc.stderr and "Traceback" not in proc.stderr
