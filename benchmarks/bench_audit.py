"""Data-audit benchmark: audit time vs one feature-extraction pass, and how well planted label errors are found.

A 1 000-image subsample of Fashion-MNIST's test set (10 classes, 28 px images
saved as PNG class folders) gets ``--noise`` of its images moved into the
folder of another, random class (planted label errors) and 10 re-encoded
copies (JPEG, twice the size) under new names. Then, in one process with a
fresh feature cache, ``run_audit`` with the bundled EfficientNet-Lite0 at its
default input size: its ``features`` step *is* one extraction pass over the
images (scan, model, frozen base on every image), so the ratio
total / features is the audit's cost over that pass (target <= 1.3x). A second
audit on the warm cache shows the cost when a run already extracted the
features. Printed: timings, precision and recall of the planted errors in the
top k (k = the number planted, and 2x), the flagged set's precision/recall,
and how many re-encoded copies were grouped with their original.

Fashion-MNIST: ``apt-get install dataset-fashion-mnist`` (Debian/Ubuntu), or
set FASHION_MNIST_DIR to a folder with t10k-images-idx3-ubyte.gz and
t10k-labels-idx1-ubyte.gz. Run: ``python benchmarks/bench_audit.py [--n 1000]
[--noise 0.05] [--device cpu]``.
"""
from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NAMES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
COPIES = 10


def fashion_mnist():
    folder = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
    images, labels = folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
    if not images.is_file() or not labels.is_file():
        sys.exit(f"Fashion-MNIST not found in {folder}; install dataset-fashion-mnist or set FASHION_MNIST_DIR.")
    x = np.frombuffer(gzip.open(images).read(), np.uint8, offset=16).reshape(-1, 28, 28)
    y = np.frombuffer(gzip.open(labels).read(), np.uint8, offset=8).astype(int)
    return x, y


def write_dataset(root: Path, n: int, noise: float, seed: int = 0):
    """Class folders with planted errors and copies; returns {key: true class} of the planted errors
    and [(copy key, original key)]."""
    from PIL import Image

    x, y = fashion_mnist()
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(y))[:n]
    flip = set(rng.choice(n, size=int(round(noise * n)), replace=False).tolist())
    planted, copies = {}, []
    for j, i in enumerate(idx):
        true = NAMES[y[i]]
        given = NAMES[(y[i] + rng.integers(1, len(NAMES))) % len(NAMES)] if j in flip else true
        (root / given).mkdir(parents=True, exist_ok=True)
        Image.fromarray(x[i]).convert("RGB").save(root / given / f"{j:05d}.png")
        if j in flip:
            planted[f"{given}/{j:05d}.png"] = true
    for j in rng.choice([j for j in range(n) if j not in flip], size=COPIES, replace=False).tolist():
        name = NAMES[y[idx[j]]]
        im = Image.open(root / name / f"{j:05d}.png")
        im.resize((56, 56), Image.Resampling.BICUBIC).save(root / name / f"copy-{j:05d}.jpg", "JPEG", quality=85)
        copies.append((f"{name}/copy-{j:05d}.jpg", f"{name}/{j:05d}.png"))
    return planted, copies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--noise", type=float, default=0.05)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    os.environ["TLSTUDIO_CACHE_DIR"] = str(work / "cache")          # a fresh feature cache
    import torch

    from tlstudio.core.insight.report import run_audit
    from tlstudio.core.project import Project

    try:
        data = work / "data"
        planted, copies = write_dataset(data, args.n, args.noise)
        project = Project(name="bench")
        project.data.path = str(data)
        project.training.device = args.device
        cold = run_audit(project)
        warm = run_audit(project)
        s = cold.seconds
        keys = cold.data.keys
        ranked = [keys[x.index] for x in cold.label_issues]
        k = len(planted)
        print(f"Fashion-MNIST: {len(keys)} images ({args.n} + {COPIES} copies), {k} planted label errors; "
              f"{cold.data.model_name}, device {args.device}, torch threads {torch.get_num_threads()}")
        print(f"feature extraction pass (scan, model, base on every image): {s['features']:.1f} s")
        print(f"audit, cold cache: {s['total']:.1f} s = {s['total'] / s['features']:.2f}x the extraction pass "
              f"(label issues {s['label_issues']:.1f} s, duplicates {s['duplicates']:.1f} s, "
              f"outliers {s['outliers']:.2f} s)")
        print(f"audit, warm cache: {warm.seconds['total']:.1f} s")
        for top in (k, 2 * k):
            hits = sum(key in planted for key in ranked[:top])
            print(f"top-{top}: precision {hits / max(1, min(top, len(ranked))):.2f}, recall {hits / k:.2f}")
        hits = sum(key in planted for key in ranked)
        suggested = sum(planted.get(keys[x.index]) == cold.class_name(x.suggested) for x in cold.label_issues)
        print(f"flagged: {len(ranked)}, precision {hits / max(1, len(ranked)):.2f}, recall {hits / k:.2f}; "
              f"suggested label right for {suggested}/{hits} planted errors found")
        groups = [set(keys[i] for i in g.members) for g in cold.duplicates]
        found = sum(any({c, o} <= g for g in groups) for c, o in copies)
        kinds = sorted({g.kind for g in cold.duplicates})
        print(f"re-encoded copies grouped with their original: {found}/{len(copies)}; duplicate groups "
              f"{len(cold.duplicates)} ({', '.join(kinds)}), outliers {len(cold.outliers)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load: {os.getloadavg()[0]:.1f} (1 min), {time.strftime('%H:%M')}")


if __name__ == "__main__":
    main()
