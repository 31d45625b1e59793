"""Benchmark: TL Studio's cached head training vs a plain PyTorch transfer loop.

In one process, on the demo data (or a folder given as argument), with the
bundled EfficientNet-Lite0 at its default input size:

  (a) a plain textbook loop: base frozen with requires_grad=False (kept in
      eval mode so its BatchNorm statistics stay put), the base runs forward
      on every image every epoch, Linear head, AdamW, validation every epoch;
  (b) TL Studio's Trainer with a fresh feature cache, same split, head,
      optimizer, batch size, seed and epochs;
  (c) one plain inference pass over the same images (timed just before and
      just after (b), averaged).

All three use the same DataLoader worker count and batch sizes (32 to train,
64 for inference and feature extraction). A short warm-up (decoding every
image once, one forward pass) runs first so no timing pays one-off costs.

Targets: (a)/(b) >= 7x with final validation accuracy within one point, and
(b) <= 1.25x (c).

    python benchmarks/bench_feature_cache.py [FOLDER] [--epochs 10]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from tlstudio.core.zoo.cards import DEFAULT_MODEL, get_card  # noqa: E402
from tlstudio.core.data.images import ImageDataset, load_image_rgb, scan  # noqa: E402
from tlstudio.core.data.index import split_dataset  # noqa: E402
from tlstudio.core.model.head import HeadSpec  # noqa: E402
from tlstudio.core.data.loaders import auto_workers  # noqa: E402
from tlstudio.core.paths import demo_data_dir  # noqa: E402
from tlstudio.core.data.transforms import eval_transform  # noqa: E402
from tlstudio.core.project import Project  # noqa: E402
from tlstudio.core.zoo.weights import create_pretrained  # noqa: E402

BATCH, INFER_BATCH, LR, WD, SEED = 32, 64, 1e-3, 1e-4, 0


def loader(samples, pre, batch, workers, shuffle=False):
    g = torch.Generator().manual_seed(SEED)
    kw = {"prefetch_factor": 4} if workers else {}
    return torch.utils.data.DataLoader(ImageDataset(samples, eval_transform(pre)), batch_size=batch,
                                       shuffle=shuffle, generator=g, num_workers=workers, **kw)


def plain_base(card):
    """The pretrained network with its classifier removed: the textbook recipe."""
    net = create_pretrained(card, "auto")
    net.reset_classifier(0)
    return net


def plain_training(card, split, n_classes, epochs, workers) -> tuple[float, float]:
    """(seconds, final val accuracy) of the textbook loop, model building included."""
    start = time.perf_counter()
    torch.manual_seed(SEED)
    base = plain_base(card)
    for p in base.parameters():
        p.requires_grad = False
    head = nn.Linear(base.num_features, n_classes)
    model = nn.Sequential(base, head)
    opt = torch.optim.AdamW(head.parameters(), lr=LR, weight_decay=WD)
    train = loader(split.train, card.preprocessing, BATCH, workers, shuffle=True)
    val = loader(split.val, card.preprocessing, BATCH, workers)
    acc = 0.0
    for _ in range(epochs):
        model.train()
        base.eval()
        for x, y in train:
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in val:
                correct += int((model(x).argmax(1) == y).sum())
        acc = correct / len(split.val)
    return time.perf_counter() - start, acc


def inference_pass(card, samples, workers) -> float:
    base = plain_base(card).eval()
    start = time.perf_counter()
    with torch.inference_mode():
        for x, _ in loader(samples, card.preprocessing, INFER_BATCH, workers):
            base(x)
    return time.perf_counter() - start


def tlstudio_training(folder, epochs, run_dir) -> tuple[float, dict, list]:
    from tlstudio.core.train.trainer import Trainer
    project = Project(name="benchmark")
    project.data.path = str(folder)
    project.head = HeadSpec(layers=[])
    t = project.training
    t.epochs, t.batch_size, t.optimizer, t.lr, t.weight_decay, t.schedule, t.seed = \
        epochs, BATCH, "adamw", LR, WD, "constant", SEED
    history = []
    start = time.perf_counter()
    metrics = Trainer(project, run_dir, callback=lambda e: history.append(e)).run()
    return time.perf_counter() - start, metrics, history


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", default=str(demo_data_dir()))
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tlstudio-bench-"))
    os.environ["TLSTUDIO_CACHE_DIR"] = str(tmp / "cache")          # a fresh, empty feature cache

    card = get_card(DEFAULT_MODEL)
    index = scan(args.folder)
    split = split_dataset(index, 0.2, 0.0, seed=0)
    images = split.train + split.val
    workers = auto_workers(len(images))
    print(f"data: {args.folder}: {len(split.train)} train / {len(split.val)} val images, "
          f"{len(index.classes)} classes; model {card.name} at {card.preprocessing.input_size} px; "
          f"{args.epochs} epochs; torch threads {torch.get_num_threads()}, loader workers {workers}")

    # Warm-up: file cache and one forward pass, so no timing below pays one-off costs.
    for s in images:
        load_image_rgb(s.path)
    with torch.inference_mode():
        plain_base(card).eval()(torch.randn(4, 3, card.preprocessing.input_size, card.preprocessing.input_size))

    # The inference pass brackets TL Studio's run and the two are averaged: on a
    # shared machine the load drifts, and this keeps the comparison even-handed.
    infer_before = inference_pass(card, images, workers)
    tl_s, metrics, events = tlstudio_training(args.folder, args.epochs, tmp / "run")
    infer_after = inference_pass(card, images, workers)
    infer_s = (infer_before + infer_after) / 2
    if metrics.get("error"):
        print("TL Studio run failed:", metrics["error"])
        return 1
    tl_final = [e for e in events if type(e).__name__ == "EpochEnded"][-1].val_acc
    plain_s, plain_acc = plain_training(card, split, len(index.classes), args.epochs, workers)

    ratio = plain_s / tl_s
    vs_infer = tl_s / infer_s
    acc_gap = abs(plain_acc - tl_final) * 100
    print(f"(a) plain PyTorch loop, {args.epochs} epochs:   {plain_s:8.2f} s   final val acc {plain_acc:.3f}")
    print(f"(b) TL Studio with feature cache:    {tl_s:8.2f} s   final val acc {tl_final:.3f} "
          f"(best {metrics['val_accuracy']:.3f}; base forward images {metrics['base_forward_images']})")
    print(f"(c) one plain inference pass:        {infer_s:8.2f} s   over {len(images)} images "
          f"(mean of {infer_before:.2f} s before and {infer_after:.2f} s after (b))")
    print(f"speed-up (a)/(b): {ratio:.1f}x   accuracy gap {acc_gap:.1f} points   "
          f"TL Studio = {vs_infer:.2f}x one inference pass")
    ok_speed = ratio >= 7.0 and acc_gap <= 1.0
    ok_infer = vs_infer <= 1.25
    print(f"target: (a)/(b) >= 7x with accuracy within 1 point: {'PASS' if ok_speed else 'FAIL'}")
    print(f"target: TL Studio <= 1.25x one inference pass:       {'PASS' if ok_infer else 'FAIL'}")
    return 0 if ok_speed and ok_infer else 1


if __name__ == "__main__":
    sys.exit(main())
