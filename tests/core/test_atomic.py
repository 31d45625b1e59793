"""Atomic writes: the file appears whole, with the user's normal permissions, and no temp file stays."""
import os
import stat

import pytest

from tlstudio.core import atomic


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_written_file_has_normal_permissions(tmp_path, umask_022):
    target = tmp_path / "out.json"
    atomic.write_json(target, {"a": 1})
    assert stat.S_IMODE(target.stat().st_mode) == 0o644     # was 0600 with mkstemp
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
