"""Keep the test suite out of the user's own TL Studio folders.

The top-level conftest points every per-user location the app (or a library it uses) writes to at a
throw-away sandbox before anything is imported, so the settings, feature cache, data/runs and log
folders of a developer who also uses the app are never read or written by a test — and subprocesses
(CLI, torchrun) inherit the same environment. It also records the real folders at session start
and fails the run if they changed by its end.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

APP_NAME = "TLStudio"
# XDG folders (Linux) that QSettings, platformdirs, fontconfig and matplotlib honour.
XDG_VARS = ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")


def real_user_folders() -> list[Path]:
    """The user's TL Studio folders as the app would find them (call before ``redirect``)."""
    home = Path(os.path.expanduser("~"))
    bases = [Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config"),
             Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache"),
             Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")]
    folders = [base / APP_NAME for base in bases]
    try:
        import platformdirs
        folders += [Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
                    Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
                    Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))]
    except ImportError:  # pragma: no cover - platformdirs is a dependency
        pass
    for name in ("TLSTUDIO_CACHE_DIR", "TLSTUDIO_DATA_DIR"):
        if os.environ.get(name):
            folders.append(Path(os.environ[name]))
    return sorted(set(folders))


def redirect(sandbox: Path) -> None:
    """Point every per-user location at ``sandbox`` (in ``os.environ``, so subprocesses follow)."""
    for var in XDG_VARS:
        folder = sandbox / var.lower()
        folder.mkdir(parents=True, exist_ok=True)
        os.environ[var] = str(folder)
    # Session-wide defaults; the per-test fixture gives each test its own on top.
    os.environ["TLSTUDIO_CACHE_DIR"] = str(sandbox / "tlstudio-cache")
    os.environ["TLSTUDIO_DATA_DIR"] = str(sandbox / "tlstudio-data")
    os.environ["TORCH_HOME"] = str(sandbox / "torch")
    os.environ["HF_HOME"] = str(sandbox / "hf")


def make_sandbox() -> Path:
    return Path(tempfile.mkdtemp(prefix="tlstudio-tests-"))


def remove_sandbox(sandbox: Path) -> None:
    shutil.rmtree(sandbox, ignore_errors=True)


def snapshot(folders: list[Path]) -> dict[str, tuple]:
    """Every entry under ``folders``: path -> (kind, size, mtime_ns); a missing folder is recorded too."""
    state: dict[str, tuple] = {}
    for folder in folders:
        if not folder.exists():
            state[str(folder)] = ("missing",)
            continue
        for root, dirs, files in os.walk(folder):
            for name in dirs + files:
                path = os.path.join(root, name)
                try:
                    info = os.lstat(path)
                except OSError:
                    continue
                kind = "dir" if name in dirs else "file"
                state[path] = (kind, None if kind == "dir" else info.st_size, info.st_mtime_ns)
            state[root] = ("dir", None, os.lstat(root).st_mtime_ns)
    return state


def differences(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    """One line per path added, removed or changed between two snapshots."""
    lines = []
    for path in sorted(set(before) | set(after)):
        if path not in after:
            lines.append(f"removed: {path}")
        elif path not in before:
            lines.append(f"added:   {path}")
        elif before[path] != after[path]:
            lines.append(f"changed: {path}")
    return lines
