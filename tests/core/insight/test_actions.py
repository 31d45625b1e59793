"""Audit actions: curation edits, and apply-to-disk + undo that restore the files byte for byte."""
from __future__ import annotations

import glob
import hashlib
import shutil
from pathlib import Path

import pytest

from tlstudio.core.data.curation import apply_curation
from tlstudio.core.data.images import scan
from tlstudio.core.errors import DatasetError
from tlstudio.core.insight.actions import (apply_to_disk, exclude, include, latest_undo_record, planned_moves,
                                           relabel, undo_apply)
from tlstudio.core.paths import demo_data_dir
from tlstudio.core.project import Project


def tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def project(tmp_path):
    data = tmp_path / "proj" / "data"
    for cls in ("bag", "sneaker"):
        (data / cls).mkdir(parents=True)
        for f in sorted(glob.glob(str(demo_data_dir() / cls / "*.png")))[:3]:
            shutil.copy(f, data / cls)
    p = Project(name="a")
    p.data.path = str(data)
    return p


def test_exclude_include_relabel(project):
    assert exclude(project.data, ["bag/000.png", "bag/000.png", "bag/001.png"]) == 2
    assert exclude(project.data, ["bag/000.png"]) == 0 and include(project.data, ["bag/001.png"]) == 1
    relabel(project.data, "bag/002.png", "sneaker", scanned="bag")
    relabel(project.data, "sneaker/000.png", "sneaker", scanned="sneaker")      # its own class: no override
    assert project.data.exclusions == ["bag/000.png"] and project.data.label_overrides == {"bag/002.png": "sneaker"}
    assert apply_curation(scan(project.data.path), project.data).counts() == {"bag": 1, "sneaker": 4}
    relabel(project.data, "bag/002.png", None)
    assert project.data.label_overrides == {}


def test_apply_to_disk_and_undo_restore_the_files(project, tmp_path):
    root = Path(project.data.path)
    before = tree(root)
    project_file = tmp_path / "proj" / "a.json"
    relabel(project.data, "bag/001.png", "sneaker")
    relabel(project.data, "sneaker/002.png", "bag")
    counts = apply_curation(scan(root), project.data).counts()
    with pytest.raises(DatasetError, match="Save the project first"):
        apply_to_disk(project, None)
    record = apply_to_disk(project, project_file)
    assert record.parent == project_file.parent and latest_undo_record(project_file) == record
    # sneaker/001.png existed: the moved bag image gets a free name, nothing is overwritten.
    assert hashlib.sha256((root / "sneaker" / "001-1.png").read_bytes()).hexdigest() == before["bag/001.png"]
    assert tree(root)["sneaker/001.png"] == before["sneaker/001.png"] and not (root / "bag" / "001.png").exists()
    assert project.data.label_overrides == {}                     # the folders say it now
    assert scan(root).counts() == counts
    restored = undo_apply(record)
    assert restored == {"bag/001.png": "sneaker", "sneaker/002.png": "bag"}
    assert tree(root) == before and not record.exists()


def test_apply_to_disk_refuses_without_touching_anything(project, tmp_path):
    root = Path(project.data.path)
    before = tree(root)
    relabel(project.data, "bag/000.png", "sneaker")
    project.data.label_overrides = {**project.data.label_overrides, "../outside.png": "bag"}
    with pytest.raises(DatasetError, match="outside the dataset folder"):
        apply_to_disk(project, tmp_path / "p.json")
    project.data.label_overrides = {"bag/000.png": "sneaker", "bag/001.png": "../.."}
    with pytest.raises(DatasetError, match="outside the dataset folder|no class folder"):
        apply_to_disk(project, tmp_path / "p.json")
    project.data.label_overrides = {"bag/000.png": "sneaker", "bag/gone.png": "sneaker"}
    with pytest.raises(DatasetError, match="not in the dataset folder any more"):
        apply_to_disk(project, tmp_path / "p.json")
    assert tree(root) == before and not list(tmp_path.glob("audit-undo-*"))
    text = Project(task="text")
    text.data.path = str(tmp_path)
    with pytest.raises(DatasetError, match="Text datasets are never changed on disk"):
        planned_moves(text)


def test_undo_refuses_when_a_moved_file_changed(project, tmp_path):
    root = Path(project.data.path)
    relabel(project.data, "bag/001.png", "sneaker")
    record = apply_to_disk(project, tmp_path / "p.json")
    (root / "sneaker" / "001-1.png").write_bytes(b"edited")
    with pytest.raises(DatasetError, match="changed since it was moved"):
        undo_apply(record)
    assert record.exists() and (root / "sneaker" / "001-1.png").read_bytes() == b"edited"
    (root / "bag" / "001.png").write_bytes(b"new file")      # its old place taken: refused as well
    (root / "sneaker" / "001-1.png").unlink()
    with pytest.raises(DatasetError):
        undo_apply(record)
    assert (root / "bag" / "001.png").read_bytes() == b"new file"
