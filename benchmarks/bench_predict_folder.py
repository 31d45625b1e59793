"""Benchmark: predicting a folder to CSV vs the feature extraction of the same model on the same images.

Real images: the first N Fashion-MNIST test images (Debian's dataset-fashion-mnist,
/usr/share/datasets/fashion-mnist) written as PNGs into class sub-folders of a
temporary folder. The model: a run folder holding the bundled EfficientNet-Lite0
(ImageNet weights, its own 224 px preprocessing) with a linear head for the 10
classes (the head's weights do not matter for speed); ``--size`` sets a smaller input size.

Each measurement runs in a fresh process (so its peak RSS is its own), warms up
on one batch, then times one pass:

  extract   the feature cache's extraction pass (``make_loader`` over the
            modality's ``eval_dataset``, its batch size and decode workers,
            ``extract_features``) over the 1 000 images;
  predict   ``predict_folder`` of the 1 000-image folder to a new CSV;
  predict4k the same for a 4 000-image folder: peak RSS against 1 000 shows
            that memory does not grow with the number of files.

Target: predict >= 0.9x the extraction throughput. The machine may be shared:
the load average is printed next to the figures, and each pass's CPU time
(user + system, all threads) beside its wall time, which other processes
disturb less.

    python benchmarks/bench_predict_folder.py [--small 1000] [--large 4000] [--size 224] [--rounds 2]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SOURCE = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ("t-shirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot")


def write_images(folder: Path, n: int) -> None:
    import numpy as np
    from PIL import Image

    with gzip.open(SOURCE / "t10k-images-idx3-ubyte.gz") as fh:
        pixels = np.frombuffer(fh.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(SOURCE / "t10k-labels-idx1-ubyte.gz") as fh:
        labels = np.frombuffer(fh.read(), np.uint8, offset=8)
    for i in range(n):
        sub = folder / CLASSES[labels[i]]
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels[i], mode="L").save(sub / f"{i:05d}.png")


def make_run(run_dir: Path, size: int) -> None:
    import torch

    from tlstudio.core.model.build import create_transfer_model
    from tlstudio.core.model.head import HeadSpec
    from tlstudio.core.runs.folder import write_model_files
    from tlstudio.core.zoo.cards import DEFAULT_MODEL, get_card

    torch.manual_seed(0)
    head = HeadSpec([], num_classes=len(CLASSES))
    model = create_transfer_model(DEFAULT_MODEL, head, len(CLASSES), weights="auto")
    pre = get_card(DEFAULT_MODEL).preprocessing.with_input_size(size)
    write_model_files(run_dir, model, {"model_name": DEFAULT_MODEL, "library": "timm", "arch": DEFAULT_MODEL,
                                       "classes": list(CLASSES), "head": head.to_dict(),
                                       "feature_dim": model.feature_dim, "preprocessing": pre.to_dict()})


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(kind: str, run_dir: str, folder: str, out: str) -> dict:
    import numpy as np
    import torch

    from tlstudio.core.data.folder_inputs import walk_files
    from tlstudio.core.data.index import Sample
    from tlstudio.core.data.loaders import make_loader
    from tlstudio.core.data.modality import modality_for
    from tlstudio.core.runs.folder import load_model
    from tlstudio.core.runs.predict_folder import FolderPredictor, predict_folder
    from tlstudio.core.features.cache import extract_features
    from tlstudio.core.train.stage_data import extraction_batch_size, extraction_workers

    loaded = load_model(run_dir)
    modality = modality_for("image")
    device = torch.device("cpu")
    batch = extraction_batch_size(device)
    warm = FolderPredictor(loaded, folder)                       # warm-up: one batch through the model
    next(warm.batches())
    cpu_start = _cpu_seconds()
    if kind == "extract":
        samples = [Sample(path, 0) for path, _ in walk_files(folder, {".png"})]
        dataset = modality.eval_dataset(loaded.preprocessing, samples)
        workers = extraction_workers(device, len(samples))
        out_rows = np.zeros((len(samples), loaded.model.feature_dim), np.float16)
        start = time.perf_counter()
        loader = make_loader(dataset, batch, num_workers=workers, collate=modality.collate)
        n = extract_features(loaded.model.base, loader, out_rows, device=device)
        seconds = time.perf_counter() - start
        extra = {"workers": workers}
    else:
        start = time.perf_counter()
        summary = predict_folder(loaded, folder, out)
        seconds = time.perf_counter() - start
        n = summary["new"]
        extra = {"threads": FolderPredictor(loaded, folder).threads, "errors": summary["errors"]}
    cpu = _cpu_seconds() - cpu_start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"kind": kind, "n": n, "seconds": seconds, "per_second": n / seconds, "batch": batch,
            "cpu_seconds": cpu, "per_cpu_second": n / cpu,
            "peak_rss_mb": peak_mb, "torch_threads": torch.get_num_threads(), **extra}


def measure(kind: str, run_dir: Path, folder: Path, out: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", kind, str(run_dir), str(folder), str(out)],
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=4000)
    parser.add_argument("--size", type=int, default=224, help="input size in px (the model's own: 224)")
    parser.add_argument("--rounds", type=int, default=2, help="extract/predict pairs on the small folder, "
                                                                "alternated so load changes hit both")
    parser.add_argument("--child", nargs=4, metavar=("KIND", "RUN", "FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    with tempfile.TemporaryDirectory(prefix="bench_predict_folder_") as tmp:
        tmp = Path(tmp)
        small, large = tmp / f"images_{args.small}", tmp / f"images_{args.large}"
        write_images(small, args.small)
        write_images(large, args.large)
        make_run(tmp / "run", args.size)
        print(f"Fashion-MNIST test PNGs: {args.small} and {args.large}; bundled EfficientNet-Lite0 at "
              f"{args.size} px, CPU, {os.cpu_count()} cores")
        results = []
        for i in range(args.rounds):
            results.append(measure("extract", tmp / "run", small, tmp / "unused"))
            results.append(measure("predict", tmp / "run", small, tmp / f"small{i}.csv"))
        results.append(measure("predict", tmp / "run", large, tmp / "large.csv"))
        for r in results:
            how = f"{r['workers']} decode workers" if "workers" in r else f"{r['threads']} decode threads"
            print(f"{r['kind']:8s} {r['n']:5d} images  {r['seconds']:7.1f} s  {r['per_second']:6.1f} images/s  "
                  f"{r['per_cpu_second']:6.1f} images/CPU-s  "
                  f"peak RSS {r['peak_rss_mb']:6.0f} MB  (batch {r['batch']}, {how}, {r['torch_threads']} torch "
                  "threads)")
        def mean_rate(kind: str, seconds: str = "seconds") -> float:
            chosen = [r for r in results[:-1] if r["kind"] == kind]
            return sum(r["n"] for r in chosen) / sum(r[seconds] for r in chosen)

        ratio = mean_rate("predict") / mean_rate("extract")
        small_rss = max(r["peak_rss_mb"] for r in results[:-1] if r["kind"] == "predict")
        large_rss = results[-1]["peak_rss_mb"]
        rows = sum(1 for _ in open(tmp / "large.csv")) - 1
        print(f"predict / extract throughput over {args.rounds} alternated rounds: {mean_rate('predict'):.1f} / "
              f"{mean_rate('extract'):.1f} images/s = {ratio:.2f}x (target >= 0.9x): "
              f"{'met' if ratio >= 0.9 else 'NOT met'}")
        cpu_ratio = mean_rate("predict", "cpu_seconds") / mean_rate("extract", "cpu_seconds")
        print(f"per CPU-second (less sensitive to other processes): {mean_rate('predict', 'cpu_seconds'):.1f} / "
              f"{mean_rate('extract', 'cpu_seconds'):.1f} images/CPU-s = {cpu_ratio:.2f}x")
        print(f"peak RSS predicting {args.large} vs {args.small} files: {large_rss:.0f} vs {small_rss:.0f} MB "
              f"({large_rss - small_rss:+.0f} MB); {rows} rows in the {args.large}-file CSV")
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
