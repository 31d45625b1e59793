"""Before Qt starts: are the system libraries its X11 (xcb) plugin needs installed?

Without them Qt prints a terse "could not load the Qt platform plugin" and
aborts with a core dump, before TL Studio can say anything. This check runs
first, names the missing libraries and the one command that installs them on
the user's distribution.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from pathlib import Path

# Libraries the xcb plugin loads (linked, or dlopen'ed like xcb-cursor), and their packages.
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": {"apt": "libxcb-cursor0", "dnf": "xcb-util-cursor", "pacman": "xcb-util-cursor",
                           "zypper": "libxcb-cursor0"},
    "libxcb-icccm.so.4": {"apt": "libxcb-icccm4", "dnf": "xcb-util-wm", "pacman": "xcb-util-wm",
                          "zypper": "libxcb-icccm4"},
    "libxcb-keysyms.so.1": {"apt": "libxcb-keysyms1", "dnf": "xcb-util-keysyms", "pacman": "xcb-util-keysyms",
                            "zypper": "libxcb-keysyms1"},
    "libxcb-image.so.0": {"apt": "libxcb-image0", "dnf": "xcb-util-image", "pacman": "xcb-util-image",
                          "zypper": "libxcb-image0"},
    "libxcb-render-util.so.0": {"apt": "libxcb-render-util0", "dnf": "xcb-util-renderutil",
                                "pacman": "xcb-util-renderutil", "zypper": "libxcb-render-util0"},
    "libxcb-shape.so.0": {"apt": "libxcb-shape0", "dnf": "libxcb", "pacman": "libxcb", "zypper": "libxcb-shape0"},
    "libxcb-xkb.so.1": {"apt": "libxcb-xkb1", "dnf": "libxcb", "pacman": "libxcb", "zypper": "libxcb-xkb1"},
    "libxkbcommon-x11.so.0": {"apt": "libxkbcommon-x11-0", "dnf": "libxkbcommon-x11", "pacman": "libxkbcommon-x11",
                              "zypper": "libxkbcommon-x11-0"},
}
INSTALL = {"apt": "sudo apt install", "dnf": "sudo dnf install", "pacman": "sudo pacman -S",
           "zypper": "sudo zypper install"}
FAMILIES = {"debian": "apt", "ubuntu": "apt", "linuxmint": "apt", "pop": "apt", "fedora": "dnf", "rhel": "dnf",
            "centos": "dnf", "rocky": "dnf", "almalinux": "dnf", "arch": "pacman", "manjaro": "pacman",
            "opensuse": "zypper", "suse": "zypper", "sles": "zypper"}


def chosen_platform(environ=os.environ) -> str:
    """The platform plugin Qt will pick on this machine (what matters: xcb or not)."""
    explicit = (environ.get("QT_QPA_PLATFORM") or "").split(":")[0].split(";")[0].strip()
    if explicit:
        return explicit
    if not sys.platform.startswith("linux"):
        return "native"
    if environ.get("WAYLAND_DISPLAY") and environ.get("XDG_SESSION_TYPE") == "wayland":
        return "wayland"
    return "xcb"


def _loadable(name: str) -> bool:
    try:
        ctypes.CDLL(name)
        return True
    except OSError:
        return False


def _unresolved_by_ldd(plugin: Path) -> set[str]:
    """Libraries the dynamic loader cannot find for the xcb plugin ({} when ldd is unavailable)."""
    ldd = shutil.which("ldd")
    if not ldd or not plugin.is_file():
        return set()
    try:
        out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {line.split("=>")[0].strip() for line in out.splitlines() if "not found" in line}


def xcb_plugin_path() -> Path:
    import PySide6  # the package only: no Qt module is loaded

    return Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"


def missing_xcb_libraries(loadable=_loadable, unresolved=None) -> list[str]:
    """Names of the xcb plugin's libraries this system lacks, sorted."""
    missing = {name for name in XCB_LIBRARIES if not loadable(name)}
    missing |= unresolved if unresolved is not None else _unresolved_by_ldd(xcb_plugin_path())
    return sorted(missing)


def package_manager(os_release: str | None = None) -> str | None:
    if os_release is None:
        try:
            os_release = Path("/etc/os-release").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    fields = dict(line.split("=", 1) for line in os_release.splitlines() if "=" in line)
    ids = [fields.get("ID", "")] + fields.get("ID_LIKE", "").split()
    for raw in ids:
        key = raw.strip().strip('"').lower()
        for prefix, manager in FAMILIES.items():
            if key.startswith(prefix):
                return manager
    return None


def missing_libraries_message(missing: list[str], manager: str | None) -> str:
    lines = [f"TL Studio cannot open a window: Qt's X11 support needs system libraries that are not "
             f"installed: {', '.join(missing)}."]
    if manager is not None:
        packages = sorted({XCB_LIBRARIES.get(name, {}).get(manager) or name for name in missing})
        lines.append(f"Install them with:  {INSTALL[manager]} {' '.join(packages)}")
    else:
        packages = sorted({XCB_LIBRARIES.get(name, {}).get("apt") or name for name in missing})
        lines.append("Install them with your system's package manager (on Debian/Ubuntu: "
                     f"sudo apt install {' '.join(packages)}).")
    lines.append("The command line (tlstudio-cli) works without them.")
    return "\n".join(lines)


def startup_problem(environ=os.environ) -> str | None:
    """A message for the user when Qt would abort at start-up on this machine; None when fine."""
    if chosen_platform(environ) != "xcb" or not sys.platform.startswith("linux"):
        return None
    missing = missing_xcb_libraries()
    if missing:
        return missing_libraries_message(missing, package_manager())
    if not environ.get("DISPLAY"):
        return ("TL Studio cannot open a window: no display was found (DISPLAY is not set). Start it from a "
                "desktop session, or use the command line (tlstudio-cli).")
    return None
