"""Run folder lock (one writer, no stale lock after a kill) and run state (complete / cancelled / interrupted)."""
import os
import signal
import subprocess
import sys
import time

import pytest

from tlstudio.core.errors import RunFolderError
from tlstudio.core.runs import status
from tlstudio.core.runs.lock import LOCK_NAME, RunLock, is_locked


def test_second_lock_is_refused_at_once_and_released_on_exit(tmp_path):
    run = tmp_path / "run"
    first = RunLock(run).acquire()
    assert is_locked(run)
    start = time.perf_counter()
    with pytest.raises(RunFolderError, match="Another training .* is writing to"):
        RunLock(run).acquire()
    assert time.perf_counter() - start < 1.0
    first.release()
    assert not is_locked(run)
    with RunLock(run):
        assert is_locked(run)
    assert not is_locked(run)


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    run = tmp_path / "run"
    code = ("import sys, time; from tlstudio.core.runs.lock import RunLock; RunLock(sys.argv[1]).acquire(); "
            "print('locked', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(run)], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    try:
        assert proc.stdout.readline().strip() == "locked"
        assert is_locked(run)
        with pytest.raises(RunFolderError, match=f"process {proc.pid}"):
            RunLock(run).acquire()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (run / LOCK_NAME).is_file()          # the file stays, the lock does not
    assert not is_locked(run)
    RunLock(run).acquire().release()


def _fake_run(run, state, extra=()):
    run.mkdir(parents=True, exist_ok=True)
    for name in ("project.json", "split.json", "model.json", "best.safetensors", *extra):
        (run / name).write_text("{}")
    if state:
        status.write_state(run, state)


def test_a_kill_between_best_and_last_never_looks_complete(tmp_path):
    run = tmp_path / "run"
    _fake_run(run, status.RUNNING)            # best.safetensors + model.json written, then killed
    found = status.describe(run)
    assert found.status == status.INTERRUPTED and found.incomplete and found.reusable
    assert not found.resumable                 # no last.pt yet
    (run / "last.pt").write_bytes(b"x")
    assert status.describe(run).resumable
    with RunLock(run):                         # while a trainer holds it, it is running, not interrupted
        assert status.describe(run).status == status.RUNNING
        with pytest.raises(RunFolderError, match="Another training"):
            status.check_target(run, resume=False)


@pytest.mark.parametrize("state, resume, ok", [
    (status.COMPLETE, False, False), (status.COMPLETE, True, False),
    (status.CANCELLED, False, True), (status.CANCELLED, True, True),
    (status.FAILED, False, True), (None, False, False), (None, True, False),
])
def test_check_target(tmp_path, state, resume, ok):
    run = tmp_path / "run"
    _fake_run(run, state)
    if ok:
        status.check_target(run, resume)
    else:
        with pytest.raises(RunFolderError):
            status.check_target(run, resume)


def test_only_the_runs_own_files_are_reusable_and_cleared(tmp_path):
    run = tmp_path / "run"
    _fake_run(run, status.CANCELLED, extra=(".last.pt.0123abcd.tmp",))
    assert status.describe(run).reusable
    (run / "notes.txt").write_text("mine")
    found = status.describe(run)
    assert found.incomplete and not found.reusable
    with pytest.raises(RunFolderError, match="not empty"):
        status.check_target(run, resume=False)
    status.clear_run_files(run)
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]
    assert status.describe(tmp_path / "missing").status == status.EMPTY
