"""Real trainings killed, stopped, starved of disk and tampered with; each ends usable or in one clear line."""
from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.demo_subset import make_subset

CLI = [sys.executable, "-m", "tlstudio.cli"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_subset(tmp_path_factory.mktemp("interrupt") / "data", 10)      # 60 images, 6 classes


def _train(data, run, *extra):
    return CLI + ["train", str(data), "--out", str(run), "--image-size", "64", "-q", *extra]


def _state(run) -> str:
    return json.loads((run / "run_state.json").read_text())["status"]


def _start_and_signal(cmd, when, sig, timeout=400):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while not when() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        proc.send_signal(sig)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode


def _run(cmd, timeout=600, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def test_a_killed_run_is_refused_in_one_line_then_resumes_to_complete(data, tmp_path):
    run = tmp_path / "run"
    cmd = _train(data, run, "--epochs", "12", "--no-search", "--no-cache")
    _start_and_signal(cmd, lambda: (run / "last.pt").is_file(), signal.SIGKILL)      # a power cut
    assert _state(run) == "running"
    # Evaluate, predict and export say what they hold; the bundle is marked.
    evaluated = _run(CLI + ["evaluate", str(run), "-q"], timeout=300)
    assert evaluated.returncode == 0 and "run interrupted at epoch" in evaluated.stderr
    bundle = tmp_path / "bundle"
    exported = _run(CLI + ["export", str(run), "--format", "bundle", "--out", str(bundle)], timeout=300)
    assert exported.returncode == 0 and "run interrupted at epoch" in exported.stderr
    assert json.loads((bundle / "model.json").read_text())["unfinished_run"].startswith("run interrupted at epoch")
    started = time.monotonic()
    again = _run(cmd, timeout=120)                      # the same command again: one line, exit 2, promptly
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1, again.stderr
    assert "stopped at epoch" in again.stderr and "--resume" in again.stderr
    assert time.monotonic() - started < 120 and (run / "last.pt").is_file()
    resumed = _run(cmd + ["--resume"], timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert _state(run) == "complete"
    assert _run(CLI + ["evaluate", str(run), "-q"], timeout=300).stderr.count("interrupted") == 0


def test_sigterm_after_the_search_resumes_with_the_runs_own_head(data, tmp_path):
    run = tmp_path / "run"
    cmd = _train(data, run, "--epochs", "2", "--finetune-epochs", "2")
    code = _start_and_signal(cmd, lambda: (run / "search.json").is_file(), signal.SIGTERM)
    assert code == 130 and _state(run) == "cancelled"
    resumed = _run(cmd + ["--resume"])
    assert resumed.returncode == 0, resumed.stderr
    assert _state(run) == "complete"
    chosen = json.loads((run / "project.json").read_text())["head"]
    assert json.loads((run / "model.json").read_text())["head"]["layers"] == chosen["layers"]


def test_a_run_failed_on_a_full_disk_can_be_resumed(data, tmp_path):
    run = tmp_path / "run"
    cmd = _train(data, run, "--epochs", "2", "--no-search")

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (500_000, 500_000))     # best.safetensors needs ~13 MB

    failed = _run(cmd, preexec_fn=small_files)
    assert failed.returncode == 2 and "File too large" in failed.stderr and _state(run) == "failed"
    resumed = _run(cmd + ["--resume"])
    assert resumed.returncode == 0, resumed.stderr
    assert _state(run) == "complete"


def test_a_refit_head_is_never_scored_on_its_own_training_samples(data, tmp_path):
    run = tmp_path / "run"
    trained = _run(_train(data, run, "--test-split", "0.2"))
    assert trained.returncode == 0, trained.stderr
    honest = json.loads(_run(CLI + ["evaluate", str(run), "--json", "-q"]).stdout)
    assert honest["heldout"] is True                          # out-of-fold figures, not the refit head on val
    for missing in ("search.json", "metrics.json"):
        copy = tmp_path / f"no-{missing}"
        shutil.copytree(run, copy)
        (copy / missing).unlink()
        again = json.loads(_run(CLI + ["evaluate", str(copy), "--json", "-q"]).stdout)
        assert again["accuracy"] == honest["accuracy"] and again["heldout"] is True
    copy = tmp_path / "tampered"
    shutil.copytree(run, copy)
    (copy / "search.json").unlink()
    (copy / "heldout_predictions.json").write_text(json.dumps({"source": "x", "classes": [], "predictions": []}))
    refused = _run(CLI + ["evaluate", str(copy), "-q"])
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "trained on its validation split" in refused.stderr
    test_split = _run(CLI + ["evaluate", str(copy), "--split", "test", "--json", "-q"])     # untouched data: fine
    assert test_split.returncode == 0 and json.loads(test_split.stdout)["source"] == "test split"
