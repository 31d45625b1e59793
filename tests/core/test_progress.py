"""core.progress: one cancel / pause / progress protocol, and the one throttle."""
import threading
import time

import pytest

from tlstudio.core.errors import TLStudioError
from tlstudio.core.progress import Cancelled, JobState, Throttle


def test_throttle_lets_through_ten_per_second_and_every_epoch_end():
    now = [0.0]
    gate = Throttle(0.1, clock=lambda: now[0])
    passed = 0
    for i in range(100):               # 100 batches in one second
        now[0] = i * 0.01
        passed += gate.due()
    assert passed == 10
    assert gate.due(final=True)        # the epoch's last batch always passes


def test_progress_is_throttled_but_the_final_report_always_arrives():
    now = [0.0]
    seen = []
    job = JobState(lambda d, t: seen.append((d, t)), interval=0.1, clock=lambda: now[0])
    for done in range(1, 101):
        now[0] = done * 0.001           # 100 items in 0.1 s
        job.set_progress(done, 100)
    assert seen == [(1, 100), (100, 100)]
    assert JobState().set_progress(5, 10) is False      # no callback: nothing to do


def test_check_returns_then_raises_once_cancelled():
    job = JobState()
    job.check()
    job.cancel()
    assert job.is_cancelled
    with pytest.raises(Cancelled) as info:
        job.check()
    assert isinstance(info.value, TLStudioError) and str(info.value) == "Cancelled."


def test_check_blocks_while_paused_and_cancel_wakes_it():
    job = JobState()
    job.pause()
    assert job.is_paused and not job.wait_while_paused(0.01)
    outcome = []

    def wait_for_the_job():
        try:
            job.check()
            outcome.append("ran")
        except Cancelled:
            outcome.append("cancelled")

    worker = threading.Thread(target=wait_for_the_job)
    worker.start()
    time.sleep(0.3)
    assert outcome == []                # still paused
    job.cancel()
    worker.join(5)
    assert outcome == ["cancelled"] and not job.is_paused


def test_resume_lets_a_paused_job_go_on():
    job = JobState()
    job.pause()
    threading.Timer(0.1, job.resume).start()
    t0 = time.perf_counter()
    job.check()
    assert 0.05 < time.perf_counter() - t0 < 3


def test_a_cancelled_task_cannot_be_paused():
    job = JobState()
    job.cancel()
    job.pause()
    assert not job.is_paused and job.wait_while_paused(0)
