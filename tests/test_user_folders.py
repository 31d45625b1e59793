"""The suite runs in throw-away user folders, and notices when the real ones change."""
import os
import subprocess
import sys
from pathlib import Path

from tests import conftest, user_folders


def _inside(path, folder) -> bool:
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def test_every_user_location_points_into_the_sandbox():
    for var in user_folders.XDG_VARS:
        assert _inside(os.environ[var], conftest._SANDBOX)
    for real in conftest._REAL_FOLDERS:
        assert not _inside(real, conftest._SANDBOX)


def test_a_subprocess_writes_its_settings_cache_and_log_into_the_sandbox():
    # what the CLI and torchrun tests start inherits the same folders
    code = ("from PySide6.QtCore import QCoreApplication, QSettings\n"
            "from tlstudio.core import paths\n"
            "QCoreApplication.setOrganizationName('TLStudio'); QCoreApplication.setApplicationName('TLStudio')\n"
            "print(QSettings('TLStudio', 'TLStudio').fileName()); print(paths.cache_dir());"
            " print(paths.log_file())\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLSTUDIO_")}  # the platform defaults
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    assert len(out) == 3
    for path in out:
        assert _inside(path, conftest._SANDBOX), path
        assert not any(_inside(path, real) for real in conftest._REAL_FOLDERS), path


def test_the_snapshot_sees_a_file_added_changed_or_removed(tmp_path):
    folder = tmp_path / "TLStudio"
    (folder / "features").mkdir(parents=True)
    (folder / "TLStudio.conf").write_text("[General]\n")
    before = user_folders.snapshot([folder, tmp_path / "absent"])
    assert user_folders.differences(before, user_folders.snapshot([folder, tmp_path / "absent"])) == []
    (folder / "features" / "meta.json").write_text("{}")
    added = user_folders.differences(before, user_folders.snapshot([folder, tmp_path / "absent"]))
    assert any(line.startswith("added:") and line.endswith("meta.json") for line in added)
    os.utime(folder / "TLStudio.conf", ns=(0, 0))
    (folder / "features" / "meta.json").unlink()
    changed = user_folders.differences(before, user_folders.snapshot([folder, tmp_path / "absent"]))
    assert any(line.startswith("changed:") and line.endswith("TLStudio.conf") for line in changed)
    (tmp_path / "absent").mkdir()
    assert any(line.endswith("absent") for line in
               user_folders.differences(before, user_folders.snapshot([folder, tmp_path / "absent"])))
