"""Tampered and hostile inputs around a run folder: each is refused or skipped in one clear line."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import warnings

import pytest
from PIL import Image

from tlstudio.core.errors import RunFolderError
from tlstudio.core.project import Project
from tlstudio.core.runs import run_folder as rf
from tlstudio.core.runs.folder import read_model_info
from tlstudio.core.runs.lock import RunLock, is_locked


def _image(path, size=(16, 16)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (120, 30, 200)).save(path)


def test_class_folders_and_files_linking_out_of_the_dataset_are_not_followed(tmp_path):
    from tlstudio.core.data.images import scan_folder

    outside = tmp_path / "outside"
    for i in range(3):
        _image(outside / f"o{i}.png")
    data = tmp_path / "data"
    for cls in ("a", "b"):
        for i in range(2):
            _image(data / cls / f"{cls}{i}.png")
    os.symlink(outside, data / "etc")                   # a class folder that is a link out
    os.symlink(outside / "o0.png", data / "a" / "leak.png")
    index = scan_folder(data)
    assert index.classes == ["a", "b"] and len(index.samples) == 4
    reasons = {os.path.basename(s.path): s.reason for s in index.skipped}
    assert "leads outside the dataset folder" in reasons["etc"]
    assert "leads outside the dataset folder" in reasons["leak.png"]
    assert not any("outside" in s.path and "o1" in s.path for s in index.samples)


def test_an_image_in_pils_warning_band_is_skipped_with_one_reason(tmp_path, monkeypatch):
    from tlstudio.core.data.images import check_image_file

    path = tmp_path / "big.png"
    _image(path, (12, 12))                               # 144 px: above the limit, below twice it
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # a raw warning would fail here
        assert check_image_file(path) == "image too large (possible decompression bomb)"


@pytest.mark.parametrize("change, words", [
    ({"classes": ["cat", "cat", "dog"]}, "listed twice"),
    ({"classes": ["cat", " ", "dog"]}, "class name is empty"),
    ({"calibration": {"temperature": float("nan")}}, "temperature"),
    ({"calibration": {"temperature": -1}}, "temperature"),
])
def test_a_tampered_model_json_is_refused(tmp_path, change, words):
    info = {"model_name": "m", "classes": ["cat", "dog", "bird"], "head": {}, "preprocessing": {},
            "calibration": {"temperature": 1.5}}
    info.update(change)
    (tmp_path / rf.MODEL).write_text(json.dumps(info))   # json writes NaN as NaN, which json.loads accepts
    with pytest.raises(RunFolderError, match=words):
        read_model_info(tmp_path)
    info.update({"classes": ["cat", "dog", "bird"], "calibration": {"temperature": 1.5}})
    (tmp_path / rf.MODEL).write_text(json.dumps(info))
    assert read_model_info(tmp_path)["classes"] == ["cat", "dog", "bird"]


def test_a_project_file_with_a_utf8_byte_order_mark_loads(tmp_path):
    path = tmp_path / "p.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(Project(name="bom").to_dict()).encode())
    assert Project.load(path).name == "bom"


def test_a_lock_left_to_a_dead_owners_workers_is_stale(tmp_path):
    # A forked worker keeps the lock after its owner died: the file names the dead owner.
    run = tmp_path / "run"
    run.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(run / '.tlstudio.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
        f"fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'{dead}'); print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert not is_locked(run)                        # nobody runs a training there
        with RunLock(run) as lock:                       # and a new run takes it at once
            assert lock.held and is_locked(run)
        alive = RunLock(run).acquire()                   # a live owner still refuses others
        try:
            assert is_locked(run)
            with pytest.raises(RunFolderError, match="Another training"):
                RunLock(run).acquire()
        finally:
            alive.release()
    finally:
        holder.kill()
        holder.wait()


def test_the_progress_bar_counts_texts_on_a_text_run():
    from tlstudio.cli.progress import TerminalProgress
    from tlstudio.core import events as ev

    out = io.StringIO()
    bar = TerminalProgress(stream=out)
    bar.rate_unit = "texts/s"
    bar(ev.FeatureExtractionProgress(done=10, total=10, images_per_second=50.0, eta_seconds=0.0))
    assert "texts/s" in out.getvalue() and "img/s" not in out.getvalue()


def test_every_file_the_trainer_writes_is_its_own():
    assert {rf.SEARCH, rf.HELDOUT, rf.PROJECT, rf.SPLIT, rf.MODEL, rf.BEST, rf.LAST, rf.HISTORY,
            rf.METRICS, rf.STATE} <= rf.FILES
