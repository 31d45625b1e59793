"""Bad numbers, hostile files, a locked or interrupted run folder, SIGTERM, and the last-resort guard."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tlstudio.cli import commands as cli
from tlstudio.core.runs import status
from tlstudio.core.runs.lock import RunLock
from tests.cli.test_cli import REPO, _bad, _main, _subset


@pytest.fixture()
def data(tmp_path):
    return _subset(tmp_path / "data", classes=("bag", "trouser"), per_class=2)


@pytest.mark.parametrize("flag, value", [
    ("--lr", "inf"), ("--lr", "nan"), ("--lr", "-1"), ("--seed", str(10 ** 30)), ("--seed", "-3"),
    ("--image-size", "100000"), ("--epochs", "-5"), ("--batch-size", "0"), ("--finetune-epochs", "-2"),
    ("--unfreeze-last", "-1"), ("--val-split", "1.5"), ("--test-split", "nan"),
])
def test_every_bad_number_is_one_line_with_its_range(data, tmp_path, capsys, flag, value):
    line = _bad(capsys, ["train", data, "--out", tmp_path / "run", flag, value, "-q"])
    assert flag in line and ("[" in line or "(" in line)       # the range is in the message
    assert not (tmp_path / "run").exists()


def _project(tmp_path, data, text=None, **training):
    path = tmp_path / "p.json"
    if text is None:
        text = json.dumps({"version": 1, "data": {"path": str(data)}, "training": training}).replace(
            '"INF"', "Infinity")
    path.write_text(text)
    return path


def test_bad_project_files_are_one_line(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert "training.lr" in _bad(capsys, ["train", "--project", _project(tmp_path, data, lr="INF"), "--out", out])
    assert "training.early_stopping_patience" in _bad(
        capsys, ["train", "--project", _project(tmp_path, data, early_stopping_patience=-1), "--out", out])
    deep = '{"version": 1, "runs": [' + "[" * 100_000 + "]" * 100_000 + "]}"
    assert "nested more than" in _bad(capsys, ["train", "--project", _project(tmp_path, data, deep), "--out", out])
    many = json.dumps({"version": 1, "data": {"path": str(data)}, "head": {"layers": [], "num_classes": 10 ** 7}})
    assert "at most 100000 classes" in _bad(capsys, ["train", "--project", _project(tmp_path, data, many),
                                                     "--out", out])
    assert not out.exists()


def test_a_locked_run_folder_is_refused_at_once(data, tmp_path, capsys):
    with RunLock(tmp_path / "run"):
        start = time.perf_counter()
        assert "Another training" in _bad(capsys, ["train", data, "--out", tmp_path / "run", "-q"])
        assert time.perf_counter() - start < 5


def test_an_unexpected_error_is_one_line_and_a_logged_traceback(monkeypatch, capsys, tmp_path):
    def broken(args):
        raise ValueError("something nobody expected\nsecond line")
    monkeypatch.setattr(cli, "cmd_models", broken)
    monkeypatch.setenv("TLSTUDIO_DATA_DIR", str(tmp_path / "appdata"))
    assert _main(["models"]) == 2
    err = capsys.readouterr().err
    line = err.strip()
    assert "\n" not in line and "Traceback" not in err
    assert line.startswith("error: unexpected ValueError: something nobody expected")
    log = tmp_path / "appdata" / "logs" / "tlstudio.log"
    assert str(log) in line
    text = log.read_text()
    assert "Traceback" in text and "something nobody expected" in text and "ERROR" in text


def test_sigterm_saves_and_marks_the_run_cancelled_then_it_resumes(tmp_path):
    data = _subset(tmp_path / "data", classes=("bag", "trouser"), per_class=8)
    run = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="2")
    args = [sys.executable, "-m", "tlstudio.cli", "train", str(data), "--out", str(run), "--image-size", "32",
            "--batch-size", "4", "--seed", "1", "-q", "--no-search"]   # the epoch loop: checkpoints per epoch
    proc = subprocess.Popen([*args, "--epochs", "5000"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (run / "last.pt").is_file() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert (run / "last.pt").is_file()        # the first epoch is checkpointed at once
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    found = status.describe(run)
    assert found.status == status.CANCELLED and found.resumable
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["cancelled"] is True and metrics["epochs_run"] >= 1
    done = metrics["epochs_run"] + 1
    proc = subprocess.run([*args, "--epochs", str(done), "--resume"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert status.describe(run).status == status.COMPLETE
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == done
