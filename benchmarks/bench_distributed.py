"""Benchmark: feature extraction and fine-tuning on 1 and 2 ranks (torchrun), and on one GPU when there is one.

On this CPU the two cores are shared either as 1 rank x 2 threads (plain
process) or 2 ranks x 1 thread (``torchrun --nproc-per-node 2``, Gloo); 1 rank x
1 thread is printed too, as the per-core baseline. Speed-ups are against
1 rank x 2 threads. Each
configuration runs the product's own code in a worker:

  extraction   ``features.sharded.build_sharded_entry`` (each rank its share of the
               images through the frozen base, rows gathered on rank 0, one
               cache entry written), timed barrier to barrier;
  fine-tuning  the Trainer: a one-epoch head, then stage 2 with the last 2
               blocks unfrozen (DDP over each global batch's shares under
               torchrun); the second stage-2 epoch's seconds (train +
               validation pass) from its EpochEnded event.

Default model (EfficientNet-Lite0), demo images at 128 px. Prints one table
with the machine's load average before and after.

    python benchmarks/bench_distributed.py [--images-per-class 20] [--size 128]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


# --------------------------------------------------------------------------- worker (one rank)

def worker(data: Path, out: Path, size: int, device_name: str, threads: int) -> None:
    import numpy as np
    import torch

    from tlstudio.core.data.loaders import make_loader
    from tlstudio.core.data.modality import modality_for
    from tlstudio.core.model.head import HeadSpec
    from tlstudio.core.project import Project
    from tlstudio.core.train import distributed, events as ev
    from tlstudio.core.features.cache import FeatureCache, extract_features
    from tlstudio.core.features.sharded import build_sharded_entry
    from tlstudio.core.device import resolve_device
    from tlstudio.core.train.trainer import Trainer
    from tlstudio.core.model.build import create_transfer_model
    from tlstudio.core.zoo.cards import DEFAULT_MODEL

    torch.set_num_threads(threads)
    device = resolve_device(device_name)
    dist = distributed.init_from_env(device.type == "cuda")
    device = dist.device_for(device)
    project = Project(name="bench")
    project.data.path = str(data)
    project.model.name = DEFAULT_MODEL
    project.model.image_size = size
    modality = modality_for("image")
    index = modality.scan(str(data))
    card = modality.model_card(project.model)
    pre = modality.preprocessing(card, project.model)
    model = create_transfer_model(card, HeadSpec(layers=[]), len(index.classes), weights=project.model.weights)
    model.base.to(device)
    dataset = modality.eval_dataset(pre, index.samples)
    workers = 0 if device.type == "cpu" else 4

    def extract(mine, rows):
        loader = make_loader(dataset, 64, sampler=mine, num_workers=workers, collate=modality.collate,
                             pin_memory=device.type == "cuda")
        return extract_features(model.base, loader, rows, device=device)

    warm = min(64, len(dataset))
    extract(list(range(warm)), np.zeros((warm, int(model.feature_dim)), np.float16))     # warm-up, not timed
    cache = FeatureCache(out / f"cache-{dist.world_size}-{device.type}")
    dist.barrier()
    t0 = time.perf_counter()
    entry, forwards = build_sharded_entry(dist, cache, "bench", order=list(range(len(dataset))), dim=int(model.feature_dim),
                                  extract=extract, create=lambda fill: cache.create(
                                      "bench", views=1, n_train=len(dataset), n_val=0, dim=int(model.feature_dim),
                                      meta={}, fill=fill))
    extract_s = time.perf_counter() - t0

    project.head = HeadSpec(layers=[])
    project.training.head_fit = "epochs"
    project.training.epochs = 1
    project.training.batch_size = 32
    project.training.device = device.type
    project.finetune.enabled = True
    project.finetune.epochs = 2
    project.finetune.unfreeze_last = 2
    epochs: list = []
    os.environ["TLSTUDIO_CACHE_DIR"] = str(out / f"trainer-cache-{dist.world_size}-{device.type}")
    trainer = Trainer(project, out / f"run-{dist.world_size}-{device.type}",
                      callback=lambda e: epochs.append(e) if isinstance(e, ev.EpochEnded) and e.stage == 2 else None)
    trainer.num_workers = workers
    metrics = trainer.run()
    if dist.is_main:
        last = epochs[-1]
        result = {"ranks": dist.world_size, "threads": threads, "device": str(device.type),
                  "images": len(dataset), "extract_s": extract_s, "extract_rate": len(dataset) / extract_s,
                  "ft_samples": metrics["train_images"] + metrics["val_images"], "ft_epoch_s": last.seconds,
                  "ft_rate": (metrics["train_images"] + metrics["val_images"]) / last.seconds,
                  "error": metrics["error"]}
        (out / f"result-{dist.world_size}-{device.type}.json").write_text(json.dumps(result))
    distributed.shutdown()


# --------------------------------------------------------------------------- driver

def _load() -> str:
    """The 1/5/15-minute load averages (the machine may be shared)."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _run(cmd: list[str], env: dict) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"worker failed: {' '.join(cmd[:6])} ...")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images-per-class", type=int, default=20)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--worker", nargs=3, metavar=("DATA", "OUT", "DEVICE"), help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        data, out, device = args.worker
        worker(Path(data), Path(out), args.size, device, args.threads)
        return

    import torch

    from tests.demo_subset import make_subset      # the repository root is on sys.path (above)

    tmp = Path(tempfile.mkdtemp(prefix="bench-ddp-"))
    try:
        data = make_subset(tmp / "data", args.images_per_class)
        base_env = {k: v for k, v in os.environ.items()
                    if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
        base_env.update(PYTHONPATH=str(REPO), TLSTUDIO_CACHE_DIR=str(tmp / "cache"))
        me = [sys.executable, str(Path(__file__).resolve())]
        common = ["--size", str(args.size)]
        print(f"load average before: {_load()}   (uptime: {os.popen('uptime').read().strip()})")
        runs = [("CPU, 1 rank x 1 thread (per-core baseline)",
                 me + ["--worker", str(data), str(tmp / "r0"), "cpu", "--threads", "1"] + common,
                 dict(base_env, OMP_NUM_THREADS="1"), tmp / "r0" / "result-1-cpu.json"),
                ("CPU, 1 rank x 2 threads", me + ["--worker", str(data), str(tmp / "r1"), "cpu", "--threads", "2"]
                 + common, dict(base_env, OMP_NUM_THREADS="2"), tmp / "r1" / "result-1-cpu.json"),
                ("CPU, 2 ranks x 1 thread", [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                             "--nproc-per-node", "2", *me[1:], "--worker", str(data), str(tmp / "r2"),
                                             "cpu", "--threads", "1"] + common,
                 dict(base_env, OMP_NUM_THREADS="1"), tmp / "r2" / "result-2-cpu.json")]
        if torch.cuda.is_available():
            runs.append((f"CUDA, 1 rank ({torch.cuda.get_device_name(0)})",
                         me + ["--worker", str(data), str(tmp / "g1"), "cuda", "--threads", "4"] + common,
                         dict(base_env), tmp / "g1" / "result-1-cuda.json"))
        results = []
        for label, cmd, env, path in runs:
            path.parent.mkdir(parents=True, exist_ok=True)
            _run(cmd, env)
            results.append((label, json.loads(path.read_text())))
        r0 = results[1][1]      # speed-ups against 1 rank x 2 threads
        print(f"\n{DEFAULT_NOTE} {r0['images']} images at {args.size} px; fine-tuning: "
              f"{r0['ft_samples']} samples per epoch (train + validation), batch 32, last 2 blocks unfrozen")
        print(f"{'configuration':<42} {'extract img/s':>13} {'speed-up':>8} {'fine-tune samples/s':>20} {'speed-up':>8}")
        for label, r in results:
            print(f"{label:<42} {r['extract_rate']:>13.1f} {r['extract_rate'] / r0['extract_rate']:>7.2f}x "
                  f"{r['ft_rate']:>20.1f} {r['ft_rate'] / r0['ft_rate']:>7.2f}x")
        if not torch.cuda.is_available():
            print("CUDA: no GPU on this machine; the 1-GPU figures are skipped.")
        print(f"load average after: {_load()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


DEFAULT_NOTE = "EfficientNet-Lite0 (the default model), extraction:"

if __name__ == "__main__":
    main()
