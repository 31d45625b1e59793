"""The CLI under torchrun: without torchrun nothing happens; a restart finds the first attempt's run folder."""
from pathlib import Path

from tlstudio.cli import distributed_launch


def test_not_launched_by_torchrun_changes_nothing(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert distributed_launch.prepare(object(), object(), lambda: Path("unused")) is None


def test_a_restart_finds_the_run_folder_of_its_first_attempt(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job/42")
    stamps = iter(["a", "b", "c"])
    fresh = lambda: tmp_path / "runs" / f"proj-{next(stamps)}"         # noqa: E731 - a new name each call
    first = distributed_launch.noted_run_dir(fresh, restart=0)
    assert first == tmp_path / "runs" / "proj-a"
    assert distributed_launch.noted_run_dir(fresh, restart=1) == first       # the same torchrun run
    assert distributed_launch.noted_run_dir(fresh, restart=0) == tmp_path / "runs" / "proj-c"   # a new run
