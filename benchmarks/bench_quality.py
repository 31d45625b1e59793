"""Learning-quality benchmark: TL Studio's defaults vs a textbook loop vs a logistic-regression probe.

Real labelled images that the tests do not use for tuning, each as a 400-image
training folder and a 300-image held-out folder at 128 px:

* Fashion-MNIST, a 400/300 subsample of its test set. Debian ships it offline:
  ``apt-get install dataset-fashion-mnist`` (files land in
  /usr/share/datasets/fashion-mnist/); elsewhere download t10k-images-idx3-ubyte.gz
  and t10k-labels-idx1-ubyte.gz from https://github.com/zalandoresearch/fashion-mnist
  into a folder and set FASHION_MNIST_DIR to it.
* scikit-learn's hand-written digits (8x8, bundled with scikit-learn), upscaled.

For each set, in one run: ``tlstudio-cli train`` with defaults (a process, timed
end to end, then ``tlstudio-cli evaluate`` on the held-out folder), a textbook
PyTorch loop (same model, base frozen, 10 epochs on 80 % of the images, the base
run every epoch; a process, timed), and scikit-learn's LogisticRegression on the
same frozen features (timed: extraction + fit). Needs the ``bench`` extra
(``pip install -e '.[bench]'``). Run: ``python benchmarks/bench_quality.py``.

One split's held-out accuracy swings by a couple of points with the luck of
the draw, so ``python benchmarks/bench_quality.py --splits [N]`` also compares
the head search with the probe on N random 400/300 splits of other images of
each set (means, worst difference, how often the search is at least as good).
"""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_TRAIN, N_HELD, SIZE, SEED = 400, 300, 128, 0
FASHION_NAMES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


def fashion_mnist():
    folder = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
    images, labels = folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
    if not images.is_file() or not labels.is_file():
        sys.exit(f"Fashion-MNIST not found in {folder}. Install it with `sudo apt-get install dataset-fashion-mnist` "
                 "(Debian/Ubuntu), or download t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz from "
                 "https://github.com/zalandoresearch/fashion-mnist and set FASHION_MNIST_DIR to their folder.")
    x = np.frombuffer(gzip.open(images).read(), np.uint8, offset=16).reshape(-1, 28, 28)
    y = np.frombuffer(gzip.open(labels).read(), np.uint8, offset=8).astype(int)
    return x, y, FASHION_NAMES


def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images * (255 / 16)).astype(np.uint8), d.target.astype(int), [str(i) for i in range(10)]


def write_folders(x, y, names, root: Path) -> tuple[Path, Path]:
    from PIL import Image

    order = np.random.default_rng(SEED).permutation(len(y))[:N_TRAIN + N_HELD]
    for part, idx in (("train", order[:N_TRAIN]), ("held", order[N_TRAIN:])):
        for j, i in enumerate(idx):
            folder = root / part / names[y[i]]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(x[i]).resize((SIZE, SIZE), Image.BILINEAR).convert("RGB").save(folder / f"{j}.png")
    return root / "train", root / "held"


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-m", "tlstudio.cli", *args], capture_output=True, text=True, env=env,
                          check=True)


def tlstudio_defaults(train: Path, held: Path, work: Path) -> tuple[float, float]:
    t0 = time.perf_counter()
    cli("train", str(train), "--out", str(work / "run"), "--image-size", str(SIZE), "--quiet")
    seconds = time.perf_counter() - t0
    result = json.loads(cli("evaluate", str(work / "run"), str(held), "--json", "--quiet").stdout)
    return result["accuracy"], seconds


def _model_and_data(folder: Path):
    from tlstudio.core.data.images import scan
    from tlstudio.core.data.modality import modality_for
    from tlstudio.core.project import Project
    from tlstudio.core.model.build import create_transfer_model
    from tlstudio.core.zoo.cards import get_card

    project = Project()
    project.model.image_size = SIZE
    card = get_card(project.model.name)
    modality = modality_for("image")
    pre = modality.preprocessing(card, project.model)
    index = scan(folder)
    model = create_transfer_model(card, project.head, len(index.classes), weights="auto")
    return model, modality, pre, index


def textbook(train: Path, held: Path) -> float:
    """A plain PyTorch loop, as tutorials write it: base frozen, Adam, 10 epochs, base run every epoch."""
    import torch
    from torch.utils.data import DataLoader

    from tlstudio.core.data.index import split_dataset

    torch.manual_seed(SEED)
    model, modality, pre, index = _model_and_data(train)
    split = split_dataset(index, 0.2, 0.0, seed=SEED)
    for p in model.base.parameters():
        p.requires_grad_(False)
    loader = DataLoader(modality.eval_dataset(pre, split.train), batch_size=32, shuffle=True)
    opt = torch.optim.Adam(model.head.parameters(), lr=1e-3)
    for _ in range(10):
        model.train()
        model.base.eval()
        for x, y in loader:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    _, _, _, held_index = _model_and_data(held)
    names = {c: i for i, c in enumerate(index.classes)}
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in DataLoader(modality.eval_dataset(pre, held_index.samples), batch_size=64):
            truth = torch.tensor([names[held_index.classes[int(v)]] for v in y])
            correct += int((model(x).argmax(1) == truth).sum())
    return correct / len(held_index.samples)


def base_features(model, modality, pre, samples) -> np.ndarray:
    """The frozen base's features of ``samples`` (eval preprocessing), as the probe sees them."""
    import torch
    from torch.utils.data import DataLoader

    model.eval()
    with torch.no_grad():
        return torch.cat([model.base(x).flatten(1) for x, _ in
                          DataLoader(modality.eval_dataset(pre, samples), batch_size=64)]).numpy()


def logistic_probe(fx, fy, hx, hy) -> float:
    """scikit-learn's LogisticRegression (defaults, standardised features): held-out accuracy."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return float(make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(fx, fy).score(hx, hy))


def probe(train: Path, held: Path) -> tuple[float, float]:
    t0 = time.perf_counter()
    model, modality, pre, index = _model_and_data(train)
    _, _, _, held_index = _model_and_data(held)
    fx, fy = base_features(model, modality, pre, index.samples), np.array([s.label for s in index.samples])
    hx = base_features(model, modality, pre, held_index.samples)
    names = {c: i for i, c in enumerate(index.classes)}
    hy = np.array([names[held_index.classes[s.label]] for s in held_index.samples])
    return logistic_probe(fx, fy, hx, hy), time.perf_counter() - t0


POOL_MAX = 2500


def pool_features(x, y, names, root: Path) -> tuple[np.ndarray, np.ndarray]:
    """Features of up to POOL_MAX images of a set that the main benchmark's 700 do not use."""
    from PIL import Image

    order = np.random.default_rng(SEED).permutation(len(y))[N_TRAIN + N_HELD:][:POOL_MAX]
    for j, i in enumerate(order):
        folder = root / names[y[i]]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(x[i]).resize((SIZE, SIZE), Image.BILINEAR).convert("RGB").save(folder / f"{j}.png")
    model, modality, pre, index = _model_and_data(root)
    return base_features(model, modality, pre, index.samples), np.array([s.label for s in index.samples])


def splits(count: int) -> None:
    """The head search (defaults, in-process, on the frozen features) vs the probe on ``count`` random
    400/300 splits of each set's pool: one split's held-out accuracy swings by +-2 points, a mean
    over many does not. This is what the search's grid was chosen on."""
    import torch

    from tlstudio.core.headsearch import search as head_search

    print(f"| set | splits | search acc (mean) | probe acc (mean) | search - probe: mean / worst | search >= probe "
          f"| search time (mean) |\n|---|---|---|---|---|---|---|")
    for name, loader in (("Fashion-MNIST", fashion_mnist), ("digits", digits)):
        with tempfile.TemporaryDirectory() as tmp:
            fx, fy = pool_features(*loader(), Path(tmp))
        x = torch.from_numpy(fx).half().float()       # the feature cache stores float16
        y = torch.from_numpy(fy).long()
        ours, theirs, seconds = [], [], []
        for s in range(count):
            order = np.random.default_rng(1000 + s).permutation(len(fy))
            tr, he = order[:N_TRAIN], order[N_TRAIN:N_TRAIN + N_HELD]
            cut = int(N_TRAIN * 0.8)
            t0 = time.perf_counter()
            result = head_search.search_head(x[tr[:cut]], y[tr[:cut]], x[tr[cut:]], y[tr[cut:]], int(y.max()) + 1,
                                             seed=s)
            seconds.append(time.perf_counter() - t0)
            with torch.no_grad():
                ours.append(float((result.head(x[he]).argmax(1) == y[he]).float().mean()))
            theirs.append(logistic_probe(x[tr].numpy(), fy[tr], x[he].numpy(), fy[he]))
        diff = np.array(ours) - np.array(theirs)
        print(f"| {name} | {count} | {np.mean(ours):.3f} | {np.mean(theirs):.3f} | {diff.mean():+.3f} / "
              f"{diff.min():+.3f} | {int((diff >= 0).sum())}/{count} | {np.mean(seconds):.2f} s |")


def main() -> int:
    if len(sys.argv) >= 2 and sys.argv[1] == "--splits":
        splits(int(sys.argv[2]) if len(sys.argv) > 2 else 20)
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "--textbook":
        print(json.dumps({"accuracy": textbook(Path(sys.argv[2]), Path(sys.argv[3]))}))
        return 0
    rows = []
    for name, loader in (("Fashion-MNIST 400/300", fashion_mnist), ("digits 400/300", digits)):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            train, held = write_folders(*loader(), work / "data")
            acc, sec = tlstudio_defaults(train, held, work)
            rows.append((name, "TL Studio defaults (process)", acc, sec))
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, __file__, "--textbook", str(train), str(held)], check=True,
                                 capture_output=True, text=True,
                                 env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
            rows.append((name, "textbook loop, 10 epochs (process)", json.loads(out.stdout)["accuracy"],
                         time.perf_counter() - t0))
            acc, sec = probe(train, held)
            rows.append((name, "logistic regression probe (extract + fit)", acc, sec))
    print(f"| set | run | held-out accuracy | wall time |\n|---|---|---|---|")
    for name, run, acc, sec in rows:
        print(f"| {name} | {run} | {acc:.3f} | {sec:.1f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
