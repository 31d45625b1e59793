"""A run folder is never written twice at once, never holds a NaN "best", and always says what state it is in."""
from __future__ import annotations

import json
import math

import pytest
from safetensors.torch import load_file

from tlstudio.core.progress import JobState
from tlstudio.core.project import Project
from tlstudio.core.runs import status
from tlstudio.core.runs.lock import RunLock
from tlstudio.core import events as ev
from tlstudio.core.train.trainer import Trainer
from tests.core.train.test_trainer import make_project, make_subset, of_type, run


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_subset(tmp_path_factory.mktemp("safety") / "data", 6)      # 36 images: 30 train / 6 val


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_a_second_writer_fails_at_once_and_touches_nothing(data, tmp_path):
    run_dir = tmp_path / "run"
    with RunLock(run_dir):                                   # another training holds the folder
        before = _files(run_dir)
        _, metrics, events = run(make_project(data, epochs=1), run_dir)
        assert "Another training" in of_type(events, ev.RunFailed)[0].message
        assert not of_type(events, ev.EpochEnded) and metrics["error"]
        assert _files(run_dir) == before
    _, metrics, _ = run(make_project(data, epochs=1), run_dir)        # released: the folder takes the run
    assert metrics["error"] is None and status.describe(run_dir).status == status.COMPLETE


def test_non_finite_settings_are_refused_before_any_file(data, tmp_path):
    for lr in (float("inf"), float("nan"), 1e30):
        _, metrics, events = run(make_project(data, lr=lr), tmp_path / "run")
        assert "training.lr must be a number in (0.0, 10.0]" in of_type(events, ev.RunFailed)[0].message
    assert not (tmp_path / "run").exists()


def test_nan_weights_are_never_saved_as_best(data, tmp_path, monkeypatch):
    # One batch per epoch: the training loss of the only batch is finite, the step then ruins the weights.
    monkeypatch.setattr(Project, "validate", lambda self, labels=None: None)
    run_dir = tmp_path / "run"
    _, metrics, events = run(make_project(data, epochs=1, batch=64, lr=float("inf"), optimizer="adamw"), run_dir)
    failed = of_type(events, ev.RunFailed)
    assert failed and "NaN or infinite" in failed[0].message and metrics["error"]
    assert not of_type(events, ev.RunFinished)
    if (run_dir / "best.safetensors").exists():
        assert all(math.isfinite(float(t.float().abs().sum())) for t in load_file(run_dir / "best.safetensors").values())
    assert status.describe(run_dir).status == status.FAILED


def test_first_epoch_is_checkpointed_at_once_and_the_run_ends_complete(data, tmp_path):
    run_dir = tmp_path / "run"
    _, metrics, events = run(make_project(data, epochs=3), run_dir, checkpoint_interval=1e9)
    assert metrics["error"] is None
    assert 1 in [e.epoch for e in of_type(events, ev.CheckpointSaved)]   # not only at the stage end
    assert status.read_state(run_dir)["status"] == status.COMPLETE


def test_an_interrupted_run_can_be_reused_or_resumed(data, tmp_path):
    run_dir = tmp_path / "run"
    project = make_project(data, epochs=2)
    run(project, run_dir)
    status.write_state(run_dir, status.RUNNING)          # as a kill -9 leaves it: "running", nobody holding it
    assert status.describe(run_dir).status == status.INTERRUPTED
    (run_dir / "last.pt").unlink()                       # killed before the first last.pt
    _, metrics, token_events = run(project, run_dir, resume=True)     # nothing saved: starts over
    assert metrics["error"] is None and [e.epoch for e in of_type(token_events, ev.EpochEnded)] == [1, 2]
    status.write_state(run_dir, status.RUNNING)
    _, metrics, events = run(project, run_dir)           # a resume point is never thrown away by a new run
    message = of_type(events, ev.RunFailed)[0].message
    assert "stopped at epoch 2" in message and "--resume" in message and "\n" not in message
    assert (run_dir / "last.pt").is_file()
    (run_dir / "last.pt").unlink()
    _, metrics, _ = run(project, run_dir)                # ... without one, a new run may take the folder
    assert metrics["error"] is None and status.describe(run_dir).status == status.COMPLETE
    _, metrics, events = run(project, run_dir)           # ... but never a finished one
    assert "already exists and is not empty" in of_type(events, ev.RunFailed)[0].message


def test_resume_refuses_another_image_size_or_a_damaged_last_pt(data, tmp_path):
    run_dir = tmp_path / "run"
    project = make_project(data, epochs=3)
    job = JobState()

    def cancel_after_first_epoch(event):
        if isinstance(event, ev.EpochEnded):
            job.cancel()

    Trainer(project, run_dir, callback=cancel_after_first_epoch, job=job).run()
    assert status.describe(run_dir).status == status.CANCELLED and status.describe(run_dir).resumable
    before = _files(run_dir)
    other = make_project(data, epochs=3, size=96)
    _, _, events = run(other, run_dir, resume=True)
    message = of_type(events, ev.RunFailed)[0].message
    assert "Cannot resume" in message and "image size" in message
    assert _files(run_dir) == before                     # the run's own description is never rewritten
    last = run_dir / "last.pt"
    last.write_bytes(before["last.pt"][: len(before["last.pt"]) // 2])
    _, _, events = run(project, run_dir, resume=True)
    message = of_type(events, ev.RunFailed)[0].message
    assert "last.pt" in message and "\n" not in message
    assert json.loads((run_dir / "run_state.json").read_text())["status"] == status.CANCELLED
