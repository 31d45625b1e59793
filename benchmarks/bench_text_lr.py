"""Benchmark: the epoch loop's learning rate for a text head, on the demo text data.

The bundled all-MiniLM-L6-v2 (frozen, features cached after the first run),
the Project's default head, AdamW, cosine schedule, batch 32, weight decay 1e-4,
split 80/20 (seed 0), ``head_fit="epochs"``. For each learning rate and epoch
count: the best validation accuracy and the final validation loss, mean over
seeds. Used to choose ``TextModality.default_lr`` (the image default 1e-3 is
slow for a head on sentence features).

    python benchmarks/bench_text_lr.py [--lrs 1e-3 3e-3 1e-2 3e-2 1e-1] [--epochs 5 10 20] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2, 3e-2, 1e-1])
    ap.add_argument("--epochs", type=int, nargs="+", default=[5, 10, 20])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tlstudio-bench-text-lr-"))
    os.environ["TLSTUDIO_CACHE_DIR"] = str(scratch / "cache")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from tlstudio.core.paths import resources_dir
    from tlstudio.core.project import Project
    from tlstudio.core.train.trainer import Trainer

    torch.set_num_threads(2)
    demo = resources_dir() / "demo_text_data" / "wordnet_definitions.csv"
    print(f"data: {demo.name}; uptime: {os.getloadavg()}")
    print("lr       " + "  ".join(f"{e:>2} ep: acc  loss" for e in args.epochs))
    for lr in args.lrs:
        cells = []
        for epochs in args.epochs:
            accs, losses = [], []
            for seed in args.seeds:
                p = Project(name="lr", task="text")
                p.choose_model("all-MiniLM-L6-v2")
                p.data.path = str(demo)
                p.training.head_fit = "epochs"
                p.training.epochs, p.training.lr, p.training.seed = epochs, lr, seed
                p.training.set_explicit("lr")
                run = scratch / f"run-{lr}-{epochs}-{seed}"
                history: list = []
                metrics = Trainer(p, run, lambda e: history.append(e) if type(e).__name__ == "EpochEnded"
                                  else None).run()
                assert metrics["error"] is None, metrics["error"]
                accs.append(metrics["val_accuracy"])
                losses.append(history[-1].val_loss)
            cells.append(f"{statistics.mean(accs):.3f} {statistics.mean(losses):.3f}")
        print(f"{lr:<8.0e} " + "  ".join(f"       {c}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
