"""Benchmark: TL Studio's text training vs a textbook loop, on the demo text data.

In one process, with the bundled all-MiniLM-L6-v2 (mean pooling) and the same
split (80/20, seed 0), head (the Project's default head), AdamW, learning rate,
batch size 32, max length 128 and epochs (10):

  (a) a textbook loop: encoder frozen with requires_grad=False (in eval mode),
      the encoder runs on every text every epoch (batches padded to their
      longest text), the head trains, validation every epoch;
  (b) TL Studio's whole process: Trainer with a fresh feature cache (loading
      the model, tokenising, one encoder pass by length, training the head);
  (c) one encoding pass over the same texts (``TextModel.encode``, by length),
      timed before and after (b) and averaged.

A warm-up (one forward pass) runs first. Targets: (a)/(b) >= 7x with final
validation accuracy within one point; (b) <= 1.25x (c).

    python benchmarks/bench_text.py [--epochs 10] [--max-length 128]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-2)
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tlstudio-bench-text-"))
    os.environ["TLSTUDIO_CACHE_DIR"] = str(scratch / "cache")      # a fresh feature cache
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from tlstudio.core.data.index import split_dataset
    from tlstudio.core.data.text import scan_text
    from tlstudio.core.model.head import HeadSpec
    from tlstudio.core.paths import resources_dir
    from tlstudio.core.project import Project
    from tlstudio.core.train.trainer import Trainer
    from tlstudio.core.zoo.text_encoder import load_text_model

    data = resources_dir() / "demo_text_data" / "wordnet_definitions.csv"
    index = scan_text(data)
    split = split_dataset(index, 0.2, 0.0, seed=0)
    n_classes = len(index.classes)
    print(f"data: {len(index.samples)} texts, {n_classes} classes; train {len(split.train)}, val {len(split.val)}; "
          f"torch threads {torch.get_num_threads()}")

    model = load_text_model(allow_download=False)
    texts = [s.text for s in split.train + split.val]
    model.encode(texts[:32], max_length=args.max_length)                      # warm-up

    def one_pass() -> float:
        t = time.perf_counter()
        model.encode(texts, max_length=args.max_length)
        return time.perf_counter() - t

    # (a) the textbook loop
    torch.manual_seed(0)
    encoder = model.encoder
    for p in encoder.parameters():
        p.requires_grad = False
    encoder.eval()
    head = HeadSpec.default().build(model.dim, n_classes)
    opt = torch.optim.AdamW(head.parameters(), lr=args.lr, weight_decay=1e-4)
    train_t, val_t = [s.text for s in split.train], [s.text for s in split.val]
    train_y = torch.tensor([s.label for s in split.train])
    val_y = torch.tensor([s.label for s in split.val])
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        head.train()
        order = torch.randperm(len(train_t), generator=torch.Generator().manual_seed(epoch))
        for start in range(0, len(order), 32):
            idx = order[start:start + 32].tolist()
            batch = model.tokenize([train_t[i] for i in idx], args.max_length)
            feats = encoder(batch["input_ids"], batch["attention_mask"])
            loss = torch.nn.functional.cross_entropy(head(feats), train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        head.eval()
        correct = 0
        with torch.no_grad():
            for start in range(0, len(val_t), 64):
                batch = model.tokenize(val_t[start:start + 64], args.max_length)
                logits = head(encoder(batch["input_ids"], batch["attention_mask"]))
                correct += int((logits.argmax(1) == val_y[start:start + 64]).sum())
    textbook_s = time.perf_counter() - t0
    textbook_acc = correct / len(val_t)

    # (b) TL Studio, between two timings of (c)
    pass_before = one_pass()
    project = Project(name="bench-text", task="text")
    project.data.path = str(data)
    project.model.name = "all-MiniLM-L6-v2"
    project.model.max_length = args.max_length
    project.training.epochs = args.epochs
    project.training.lr = args.lr
    t0 = time.perf_counter()
    metrics = Trainer(project, scratch / "run").run()
    tl_s = time.perf_counter() - t0
    pass_after = one_pass()
    if metrics["error"]:
        raise SystemExit(f"TL Studio run failed: {metrics['error']}")
    encode_s = (pass_before + pass_after) / 2
    history = __import__("json").loads((scratch / "run" / "history.json").read_text())
    tl_acc = history[-1]["val_acc"]

    print(f"(a) textbook loop, {args.epochs} epochs, encoder every epoch: {textbook_s:7.1f} s   val acc {textbook_acc:.3f}")
    print(f"(b) TL Studio whole process (fresh cache):          {tl_s:7.1f} s   val acc {tl_acc:.3f} "
          f"(best {metrics['val_accuracy']:.3f}); encoder passes {metrics['base_forward_images']}")
    print(f"(c) one encoding pass over {len(texts)} texts:              {encode_s:7.1f} s "
          f"(before {pass_before:.1f}, after {pass_after:.1f})")
    speedup, ratio, gap = textbook_s / tl_s, tl_s / encode_s, (tl_acc - textbook_acc) * 100
    print(f"speed-up (a)/(b): {speedup:.1f}x (target >= 7x)  -> {'met' if speedup >= 7 else 'NOT met'}")
    print(f"accuracy (b)-(a): {gap:+.1f} points (target within 1) -> {'met' if abs(gap) <= 1 or gap > 0 else 'NOT met'}")
    print(f"(b)/(c): {ratio:.2f}x (target <= 1.25x) -> {'met' if ratio <= 1.25 else 'NOT met'}")


if __name__ == "__main__":
    main()
