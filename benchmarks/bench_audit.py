"""Data-audit benchmark: audit time vs one feature-extraction pass, and how well planted label errors are found.

``--n`` images of Fashion-MNIST (10 classes, 28 px images saved as PNG class
folders; the test set, and the training set too beyond 10 000) get ``--noise``
of their images moved into the folder of another, random class (planted label
errors) and 10 copies under new names (``tests/planted_copies.py``: JPEG
re-encodes at the same and at twice the size, half-size and 5 %-cropped
copies). ``--train`` first trains a run on the same folder (whole process
timed). Peak RSS (this process and its children) is printed at the end. Then, in one process with a
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
[--noise 0.05] [--device cpu] [--image-size PX] [--train]``. At 50 000 images on 2 cores use a small
``--image-size`` (32) and expect tens of minutes.
"""
from __future__ import annotations

import argparse
import gzip
import os
import resource
import subprocess
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NAMES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
COPIES = 10


def fashion_mnist(n: int):
    """The test set's images, and the training set's after them when ``n`` needs more."""
    folder = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
    xs, ys = [], []
    for split in ("t10k", "train")[:1 + (n > 10000)]:
        images, labels = folder / f"{split}-images-idx3-ubyte.gz", folder / f"{split}-labels-idx1-ubyte.gz"
        if not images.is_file() or not labels.is_file():
            sys.exit(f"Fashion-MNIST not found in {folder}; install dataset-fashion-mnist or set FASHION_MNIST_DIR.")
        xs.append(np.frombuffer(gzip.open(images).read(), np.uint8, offset=16).reshape(-1, 28, 28))
        ys.append(np.frombuffer(gzip.open(labels).read(), np.uint8, offset=8).astype(int))
    return np.concatenate(xs), np.concatenate(ys)


def write_dataset(root: Path, n: int, noise: float, seed: int = 0):
    """Class folders with planted errors and copies; returns {key: true class} of the planted errors
    and [(copy key, original key)]."""
    from PIL import Image

    from tests.planted_copies import save_copy

    x, y = fashion_mnist(n)
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
    kinds = ("jpeg", "jpeg-2x", "half-size", "crop-5%")
    for c, j in enumerate(rng.choice([j for j in range(n) if j not in flip], size=COPIES, replace=False).tolist()):
        name = NAMES[y[idx[j]]]
        im = Image.open(root / name / f"{j:05d}.png")
        out = save_copy(im, kinds[c % len(kinds)], root / name / f"copy-{j:05d}")
        copies.append((f"{name}/{out.name}", f"{name}/{j:05d}.png", kinds[c % len(kinds)]))
    return planted, copies


def peak_rss_gb() -> tuple[float, float]:
    """Peak resident memory of this process and of its largest finished child, in GB (Linux: KiB units)."""
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2)


def train_once(data: Path, work: Path, args) -> None:
    """``tlstudio-cli train`` on the folder in a child process, timed."""
    cmd = [sys.executable, "-m", "tlstudio.cli", "train", str(data), "--out", str(work / "run"), "--device",
           args.device, "--quiet"] + (["--image-size", str(args.image_size)] if args.image_size else [])
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    print(f"train (whole process): {time.perf_counter() - t0:.1f} s, its peak RSS {peak_rss_gb()[1]:.2f} GB",
          flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--noise", type=float, default=0.05)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--image-size", type=int, default=None, help="model input size (default: the model's)")
    ap.add_argument("--train", action="store_true", help="train a run on the data first (timed)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    os.environ["TLSTUDIO_CACHE_DIR"] = str(work / "cache")          # a fresh feature cache
    import torch

    from tlstudio.cli.progress import TerminalProgress
    from tlstudio.core.insight.report import run_audit
    from tlstudio.core.project import Project

    try:
        data = work / "data"
        t0 = time.perf_counter()
        planted, copies = write_dataset(data, args.n, args.noise)
        print(f"wrote {args.n + COPIES} PNG/JPEG files in {time.perf_counter() - t0:.0f} s", flush=True)
        if args.train:
            train_once(data, work, args)
            shutil.rmtree(work / "cache", ignore_errors=True)          # the audit starts cold again
        project = Project(name="bench")
        project.data.path = str(data)
        project.training.device = args.device
        project.model.image_size = args.image_size
        bar = TerminalProgress()
        cold = run_audit(project, job=bar.scan_job())
        bar.close()
        warm = run_audit(project)
        s = cold.seconds
        keys = cold.data.keys
        ranked = [keys[x.index] for x in cold.label_issues]
        k = len(planted)
        print(f"Fashion-MNIST: {len(keys)} images ({args.n} + {COPIES} copies), {k} planted label errors; "
              f"{cold.data.model_name}, device {args.device}, torch threads {torch.get_num_threads()}")
        print(f"feature extraction pass (scan, model, base on every image): {s['features']:.1f} s")
        print(f"audit, cold cache: {s['total']:.1f} s = {s['total'] / s['features']:.2f}x the extraction pass "
              f"(label issues {s['label_issues']:.1f} s, neighbours {s['neighbours']:.1f} s, duplicates "
              f"{s['duplicates']:.1f} s, outliers {s['outliers']:.2f} s)")
        print(f"audit, warm cache: {warm.seconds['total']:.1f} s")
        for top in (k, 2 * k):
            hits = sum(key in planted for key in ranked[:top])
            print(f"top-{top}: precision {hits / max(1, min(top, len(ranked))):.2f}, recall {hits / k:.2f}")
        hits = sum(key in planted for key in ranked)
        suggested = sum(planted.get(keys[x.index]) == cold.class_name(x.suggested) for x in cold.label_issues)
        print(f"flagged: {len(ranked)}, precision {hits / max(1, len(ranked)):.2f}, recall {hits / k:.2f}; "
              f"suggested label right for {suggested}/{hits} planted errors found")
        dups = [g for g in cold.duplicates if g.tier == "duplicate"]
        groups = [set(keys[i] for i in g.members) for g in dups]
        found = [kind for c, o, kind in copies if any({c, o} <= g for g in groups)]
        false = sum(not any({c, o} <= g for c, o, _ in copies) for g in groups)
        print(f"planted copies grouped with their original: {len(found)}/{len(copies)} "
              f"({', '.join(f'{k} {found.count(k)}/{sum(x[2] == k for x in copies)}' for k in dict.fromkeys(x[2] for x in copies))}); "
              f"duplicate groups {len(dups)}, of which without a planted copy {false}; similar groups "
              f"{len(cold.duplicates) - len(dups)}; outliers {len(cold.outliers)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"peak RSS: {peak_rss_gb()[0]:.2f} GB (this process); load: {os.getloadavg()[0]:.1f} (1 min), "
          f"{time.strftime('%H:%M')}")


if __name__ == "__main__":
    main()
