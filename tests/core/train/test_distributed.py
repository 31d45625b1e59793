"""Training under torchrun (2 CPU processes, Gloo) against the same run in one process.

The tests marked ``slow`` start torchrun as a subprocess on a subset of the demo
images at 64 px (each takes 10-40 s on two cores); they stay in ``make test``.
"""
from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.demo_subset import make_subset
from tlstudio.core.train import distributed
from tlstudio.core.train.distributed import Dist

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
TRAIN = ["--image-size", "64", "--epochs", "2", "--batch-size", "8", "--seed", "3"]


def _env(cache: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", TLSTUDIO_CACHE_DIR=str(cache), PYTHONPATH=str(REPO),
               TLSTUDIO_LOADER_WORKERS="0")
    for name in distributed.LAUNCH_VARS + ("TORCHELASTIC_RESTART_COUNT", "TORCHELASTIC_RUN_ID"):
        env.pop(name, None)
    return env


def _torchrun(nproc: int, *args, max_restarts: int = 0) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            f"--max-restarts={max_restarts}", *map(str, args)]


def _entry(cache: Path) -> np.ndarray:
    found = glob.glob(str(cache / "features" / "*" / "features.npy"))
    assert len(found) == 1, found
    return np.load(found[0]).astype(np.float32)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_subset(tmp_path_factory.mktemp("ddp") / "data", 10)       # 60 images: 48 train / 12 val


# --------------------------------------------------------------------------- without torchrun

def test_alone_nothing_is_initialised():
    assert not distributed.launched()
    assert distributed.current() is distributed.SINGLE
    d = distributed.SINGLE
    assert (d.rank, d.world_size, d.active, d.is_main) == (0, 1, False, True)
    assert d.on_main(lambda: 7) == 7
    assert d.weighted_mean((0.25, 5 / 6), 6) == ([0.25, 5 / 6], 6)      # unchanged, not recomputed
    assert not torch.distributed.is_initialized()


def test_shards_give_each_item_to_exactly_one_rank():
    items = list(range(23))
    for world in (2, 3, 5):
        shares = [Dist(rank=r, world_size=world).shard(items) for r in range(world)]
        assert sorted(sum(shares, [])) == items
        assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_device_for_maps_cuda_to_the_local_gpu():
    d = Dist(rank=3, world_size=4, local_rank=1, backend="nccl")
    assert d.device_for(torch.device("cuda")) == torch.device("cuda", 1)
    assert d.device_for(torch.device("cpu")) == torch.device("cpu")
    assert distributed.SINGLE.device_for(torch.device("cuda")) == torch.device("cuda")


# --------------------------------------------------------------------------- under torchrun (slow)

@pytest.mark.slow
def test_two_ranks_write_one_run_equal_to_one_process(data, tmp_path):
    """Search head on sharded features, then one DDP fine-tuning epoch: the same numbers as one process."""
    args = ["-m", "tlstudio.cli", "train", data, *TRAIN, "--finetune-epochs", "1", "--json"]
    one = subprocess.run([sys.executable, *map(str, args), "--out", tmp_path / "one"], capture_output=True,
                         text=True, env=_env(tmp_path / "cache1"), timeout=600, cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    two = subprocess.run(_torchrun(2, *args, "--out", tmp_path / "two"), capture_output=True, text=True,
                         env=_env(tmp_path / "cache2"), timeout=600, cwd=tmp_path)
    assert two.returncode == 0, two.stderr
    # One run folder, written by rank 0; rank 1 printed nothing (one JSON document, one start line).
    assert sorted(p.name for p in tmp_path.iterdir() if p.name not in ("cache1", "cache2")) == ["one", "two"]
    metrics2 = json.loads(two.stdout)
    assert two.stderr.count("Training tf_efficientnet_lite0 on 60 images") == 1
    m1 = json.loads((tmp_path / "one" / "metrics.json").read_text())
    m2 = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert metrics2["val_accuracy"] == m2["val_accuracy"]
    assert json.loads((tmp_path / "two" / "run_state.json").read_text())["status"] == "complete"
    # Same validation accuracy (stage-1 search and the fine-tuning epoch) as one process.
    assert m2["val_accuracy"] == m1["val_accuracy"]
    h1 = json.loads((tmp_path / "one" / "history.json").read_text())
    h2 = json.loads((tmp_path / "two" / "history.json").read_text())
    assert [h["val_acc"] for h in h2] == [h["val_acc"] for h in h1]
    assert [h["train_loss"] for h in h2] == pytest.approx([h["train_loss"] for h in h1], rel=1e-4)
    # Each rank ran half of the samples through the base: extraction 30 + fine-tuning 24 train + 6 val.
    assert m2["ranks"] == {"world_size": 2, "base_forward_images": [60, 60]}
    assert m1["base_forward_images"] == 120
    # The cache entry assembled on rank 0 equals the one-process entry.
    np.testing.assert_allclose(_entry(tmp_path / "cache2"), _entry(tmp_path / "cache1"), atol=2e-3, rtol=2e-3)


@pytest.mark.slow
def test_stage2_under_ddp_changes_only_unfrozen_parameters_identically_on_every_rank(data, tmp_path):
    proc = subprocess.run(_torchrun(2, HERE / "ddp_step_worker.py", data, tmp_path), capture_output=True,
                          text=True, env=_env(tmp_path / "cache"), timeout=600)
    assert proc.returncode == 0, proc.stderr
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for report in reports:
        assert report["error"] is None
        assert report["steps"] == 6                     # 48 training images / global batch 8
        assert report["mismatch"] == 0                  # trainable parameters identical on both ranks
        assert report["frozen_changed"] == 0            # frozen weights and BatchNorm statistics untouched
        assert report["trainable_changed"] > 0


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(c) for c in (task / "children").read_text().split()]
    return kids


def _rank_of(pid: int) -> int | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in env:
        if item.startswith(b"RANK="):
            return int(item[5:])
    return None


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the rank's process through /proc")
def test_a_killed_rank_is_restarted_and_the_run_resumes_and_finishes(data, tmp_path):
    run = tmp_path / "run"
    args = ["-m", "tlstudio.cli", "train", data, *TRAIN, "--finetune-epochs", "4", "--out", run]
    # stderr is read by one thread only: communicate() reading it too took lines at random (the
    # restart line among them), which made this test flaky.
    proc = subprocess.Popen(_torchrun(2, *args, max_restarts=1), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=_env(tmp_path / "cache"), cwd=tmp_path)
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + 300
    killed = None
    while killed is None and time.monotonic() < deadline and proc.poll() is None:
        # Stage 1 is checkpointed (last.pt) and fine-tuning is under way: kill rank 1.
        if (run / "last.pt").is_file() and any("Stage 2" in line for line in "".join(err).split("\r")):
            for child in _children(proc.pid):
                if _rank_of(child) == 1:
                    os.kill(child, signal.SIGKILL)
                    killed = child
        time.sleep(0.05)
    proc.wait(timeout=600)
    reader.join(timeout=10)
    log = "".join(err)
    assert killed is not None, log
    assert proc.returncode == 0, log
    assert "restart 1, resuming from its last checkpoint" in log
    assert log.count("Head search (") == 1               # stage 1 was not redone after the restart
    assert json.loads((run / "run_state.json").read_text())["status"] == "complete"
    history = json.loads((run / "history.json").read_text())
    assert [(h["stage"], h["epoch"]) for h in history] == [(2, e) for e in range(1, 5)]
    assert (run / "best.safetensors").is_file()


@pytest.mark.slow
def test_a_text_project_trains_on_two_ranks_like_on_one(tmp_path):
    """MiniLM on 120 demo texts: sharded extraction (length-sorted order), then a DDP fine-tuning epoch.

    The accuracy may differ by one validation text: in the unfrozen encoder block dropout
    draws its masks from each rank's generator, so the steps are equal in distribution, not bitwise.
    """
    from tlstudio.core.paths import resources_dir

    rows = (resources_dir() / "demo_text_data" / "wordnet_definitions.csv").read_text(encoding="utf-8").splitlines()
    data = tmp_path / "texts.csv"
    data.write_text("\n".join([rows[0]] + rows[3::3]) + "\n", encoding="utf-8")        # 120 texts
    args = ["-m", "tlstudio.cli", "train", data, "--max-length", "32", "--epochs", "2", "--batch-size", "8",
            "--finetune-epochs", "1", "--unfreeze-last", "1", "--few-shot", "off", "--json", "--quiet"]
    one = subprocess.run([sys.executable, *map(str, args), "--out", tmp_path / "one"], capture_output=True,
                         text=True, env=_env(tmp_path / "cache1"), timeout=600)
    assert one.returncode == 0, one.stderr
    two = subprocess.run(_torchrun(2, *args, "--out", tmp_path / "two"), capture_output=True, text=True,
                         env=_env(tmp_path / "cache2"), timeout=600)
    assert two.returncode == 0, two.stderr
    m1, m2 = json.loads(one.stdout), json.loads(two.stdout)
    n_val = m1["val_images"]
    assert abs(m2["val_accuracy"] - m1["val_accuracy"]) <= 1 / n_val + 1e-9
    assert m2["ranks"] == {"world_size": 2, "base_forward_images": [120, 120]}     # 60 extracted + 48 + 12 each
    assert m1["base_forward_images"] == 240
    np.testing.assert_allclose(_entry(tmp_path / "cache2"), _entry(tmp_path / "cache1"), atol=2e-3, rtol=2e-3)


def test_build_sharded_entry_alone_stores_every_row_in_its_place(tmp_path):
    from tlstudio.core.features.cache import FeatureCache
    from tlstudio.core.features.sharded import build_sharded_entry

    cache = FeatureCache(tmp_path / "cache")
    order = [3, 0, 4, 1, 2]

    def extract(mine, out):
        out[:] = np.asarray(mine, dtype=np.float16)[:, None]       # row k: the k-th item's index
        return len(mine)

    entry, forwards = build_sharded_entry(distributed.SINGLE, cache, "k", order=order, dim=2, extract=extract,
                                  create=lambda fill: cache.create("k", views=1, n_train=5, n_val=0, dim=2,
                                                                   meta={}, fill=fill))
    assert forwards == 5
    assert np.asarray(entry.rows, dtype=np.float32)[:, 0].tolist() == [0, 1, 2, 3, 4]
