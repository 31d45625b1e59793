"""How many decoding workers a loader gets: few when the CPU also runs the model, more for a GPU."""
import pytest

from tlstudio.core.data import loaders


@pytest.fixture
def cpus(monkeypatch):
    monkeypatch.delenv("TLSTUDIO_LOADER_WORKERS", raising=False)

    def set_cpus(n: int) -> None:
        monkeypatch.setattr(loaders, "usable_cpus", lambda: n)
    return set_cpus


def test_cpu_runs_keep_two_workers_whatever_the_core_count(cpus):
    cpus(16)
    assert loaders.auto_workers(10_000, "cpu") == 2
    cpus(1)
    assert loaders.auto_workers(10_000, "cpu") == 1


def test_a_gpu_gets_all_cores_but_one_up_to_the_cap(cpus):
    cpus(16)
    assert loaders.auto_workers(10_000, "cuda") == loaders.MAX_ACCELERATOR_WORKERS
    cpus(6)
    assert loaders.auto_workers(10_000, "cuda") == 5
    cpus(2)
    assert loaders.auto_workers(10_000, "cuda") == 2


def test_small_sets_decode_in_the_main_process(cpus):
    cpus(16)
    assert loaders.auto_workers(loaders.MIN_ITEMS_FOR_WORKERS - 1, "cuda") == 0


def test_the_environment_variable_wins(cpus, monkeypatch):
    cpus(16)
    monkeypatch.setenv("TLSTUDIO_LOADER_WORKERS", "3")
    assert loaders.auto_workers(10_000, "cuda") == 3
    assert loaders.auto_workers(10, "cpu") == 3


def test_folder_prediction_reads_with_as_many_threads(cpus):
    from tlstudio.core.runs.predict_folder import decode_threads
    cpus(16)
    assert decode_threads("cuda") == loaders.MAX_ACCELERATOR_WORKERS
    assert decode_threads("cpu") == 2
