"""The X11 (xcb) helper libraries the Linux bundle must carry, found on the build machine.

Qt's xcb platform plugin needs them (libxcb-cursor is even dlopen'ed, so
PyInstaller's dependency scan never sees it). A user's fresh desktop may lack
them, so the bundle ships them; a build machine that lacks any of them fails
the build with the one command that installs them. The list is the GUI's own
start-up check (tlstudio/gui/platform_check.py).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tlstudio.gui.platform_check import XCB_LIBRARIES  # noqa: E402

SEARCH_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib64", "/lib")


def ldconfig_paths() -> dict[str, str]:
    """soname -> path, from the dynamic linker's cache (empty when ldconfig cannot be run)."""
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        try:
            out = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return {}
    found: dict[str, str] = {}
    for line in out.splitlines():
        if "=>" not in line:
            continue
        left, path = line.split("=>", 1)
        soname = left.strip().split(" ", 1)[0]
        found.setdefault(soname, path.strip())
    return found


def find(cache: dict[str, str] | None = None, search_dirs=SEARCH_DIRS) -> tuple[list[Path], list[str]]:
    """(paths of the libraries found, sonames missing)."""
    cache = ldconfig_paths() if cache is None else cache
    paths, missing = [], []
    for soname in XCB_LIBRARIES:
        candidates = [cache[soname]] if soname in cache else []
        candidates += [str(Path(d) / soname) for d in search_dirs]
        hit = next((Path(c) for c in candidates if Path(c).is_file()), None)
        if hit is None:
            missing.append(soname)
        else:
            paths.append(hit)
    return paths, missing


def missing_message(missing: list[str]) -> str:
    packages = " ".join(sorted({XCB_LIBRARIES[s]["apt"] for s in missing}))
    return (f"packaging: the build machine lacks {', '.join(missing)}, which the bundle must carry for Qt's "
            f"X11 (xcb) platform; install them (Debian/Ubuntu: sudo apt install {packages}) and build again.")


def binaries() -> list[tuple[str, str]]:
    """PyInstaller ``binaries`` entries (into the bundle's library folder); SystemExit when any is missing."""
    paths, missing = find()
    if missing:
        raise SystemExit(missing_message(missing))
    return [(str(p), ".") for p in paths]
