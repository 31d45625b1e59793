"""GPU figures for TL Studio, unattended, in a few minutes: ``make gpu-check``.

On a CUDA machine it prints one table:

* stage-2 fine-tuning throughput (images/s) of TL Studio's trainer (AMP,
  channels_last) vs a plain PyTorch loop with the same model, batch size and AMP;
* feature extraction (images/s) of the frozen base;
* peak GPU memory of each;
* the out-of-memory path: a batch far too large must end the run with the
  trainer's documented message, not a crash.

Without CUDA it says so and exits 0. Images are generated (random class
patterns), so nothing is downloaded.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

N_IMAGES, SIZE, BATCH, CLASSES = 2048, 224, 64, 4
OOM_IMAGES, OOM_SIZE = 256, 1024      # 1024 px: the largest image size a project accepts


def make_images(root: Path, n: int, size: int) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        c = i % CLASSES
        folder = root / f"class{c}"
        folder.mkdir(parents=True, exist_ok=True)
        img = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        img[:, :, c % 3] //= 2 + c          # a class-dependent tint
        Image.fromarray(img).save(folder / f"{i}.jpg", quality=90)
    return root


def tlstudio_run(data: Path, out: Path, *, size: int, batch: int, finetune_epochs: int,
                 unfreeze_last: int = 2) -> tuple[dict, dict]:
    import torch

    from tlstudio.core.project import Project
    from tlstudio.core import events as ev
    from tlstudio.core.train.trainer import Trainer

    p = Project(name="gpu-check")
    p.data.path = str(data)
    p.model.image_size = size
    p.training.batch_size = batch
    p.training.epochs = 1
    p.training.head_fit = "epochs"
    p.finetune.enabled = finetune_epochs > 0
    p.finetune.epochs = max(1, finetune_epochs)
    p.finetune.unfreeze_last = unfreeze_last
    rates = {"extract": [], "stage2": []}

    def on_event(event) -> None:
        if isinstance(event, ev.FeatureExtractionProgress):
            rates["extract"].append(event.images_per_second)
        elif isinstance(event, ev.BatchProgress) and event.stage == 2 and event.epoch > 1:
            rates["stage2"].append(event.images_per_second)    # epoch 1 warms up (cudnn autotune)

    torch.cuda.reset_peak_memory_stats()
    metrics = Trainer(p, out, on_event).run()
    rates["peak_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    return metrics, rates


def _workers() -> int:
    from tlstudio.core.data.loaders import auto_workers
    return auto_workers(N_IMAGES, "cuda")


WORKERS = 4     # set in main(): the decoding workers TL Studio's trainer picks on this machine


def plain_loop(data: Path, *, size: int, batch: int, epochs: int) -> tuple[float, float]:
    """The textbook fine-tuning loop: same model, last two blocks trainable, bf16/fp16 autocast."""
    import torch
    from torch.utils.data import DataLoader

    from tlstudio.core.data.images import scan
    from tlstudio.core.data.modality import modality_for
    from tlstudio.core.model import layers
    from tlstudio.core.project import Project
    from tlstudio.core.model.build import create_transfer_model
    from tlstudio.core.zoo.cards import get_card

    p = Project()
    p.model.image_size = size
    card = get_card(p.model.name)
    modality = modality_for("image")
    pre = modality.preprocessing(card, p.model)
    index = scan(data)
    model = create_transfer_model(card, p.head, len(index.classes), weights="auto").cuda()
    layers.apply_frozen(model, ["base"])
    layers.unfreeze_last_blocks(model, 2)
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=1e-4)
    loader = DataLoader(modality.train_dataset(pre, index.samples, augment="none", seed=0, rounds=1),
                        batch_size=batch, shuffle=True, num_workers=WORKERS, pin_memory=True, drop_last=True,
                        persistent_workers=True)
    torch.cuda.reset_peak_memory_stats()
    rate = 0.0
    for epoch in range(epochs):
        model.train()
        torch.cuda.synchronize()
        t0, seen = time.perf_counter(), 0
        for x, y in loader:
            x, y = x.cuda(non_blocking=True), y.cuda(non_blocking=True)
            with torch.autocast("cuda", dtype=dtype):
                loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            seen += y.shape[0]
        torch.cuda.synchronize()
        rate = seen / (time.perf_counter() - t0)      # the last epoch: warmed up
    return rate, torch.cuda.max_memory_allocated() / 2 ** 30


def main() -> int:
    import torch

    if not torch.cuda.is_available():
        print("gpu-check: no CUDA GPU on this machine; nothing to measure (run it on a CUDA machine).")
        return 0
    from tlstudio.core.train.trainer import OOM_MESSAGE

    global WORKERS
    WORKERS = _workers()
    name = torch.cuda.get_device_name(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = make_images(tmp / "data", N_IMAGES, SIZE)
        metrics, rates = tlstudio_run(data, tmp / "run", size=SIZE, batch=BATCH, finetune_epochs=3)
        stage2 = sorted(rates["stage2"])[len(rates["stage2"]) // 2] if rates["stage2"] else float("nan")
        extract = max(rates["extract"]) if rates["extract"] else float("nan")
        rows.append(("TL Studio stage 2 (AMP, channels_last)", f"{stage2:.0f} img/s", f"{rates['peak_gib']:.2f} GiB",
                     metrics["error"] or "ok"))
        rows.append(("TL Studio feature extraction", f"{extract:.0f} img/s", "", ""))
        os.environ["TLSTUDIO_LOADER_WORKERS"] = "2"      # the fixed count used before GPUs got more
        try:
            _, two = tlstudio_run(data, tmp / "run2", size=SIZE, batch=BATCH, finetune_epochs=3)
        finally:
            del os.environ["TLSTUDIO_LOADER_WORKERS"]
        two_rate = sorted(two["stage2"])[len(two["stage2"]) // 2] if two["stage2"] else float("nan")
        rows.append(("TL Studio stage 2 with 2 decoding workers", f"{two_rate:.0f} img/s", "", ""))
        rate, peak = plain_loop(data, size=SIZE, batch=BATCH, epochs=3)
        rows.append(("plain PyTorch loop (AMP)", f"{rate:.0f} img/s", f"{peak:.2f} GiB", "ok"))
        # Fine-tuning every block at the largest allowed image size needs ~1.3 GB per image
        # under AMP: a batch of 256 asks for ~330 GB, more than any single GPU has today.
        big = make_images(tmp / "big", OOM_IMAGES, OOM_SIZE)
        oom, _ = tlstudio_run(big, tmp / "oom", size=OOM_SIZE, batch=OOM_IMAGES, finetune_epochs=1,
                              unfreeze_last=10_000)
        verdict = "documented message" if oom["error"] == OOM_MESSAGE else f"UNEXPECTED: {oom['error']!r}"
        rows.append((f"out of memory ({OOM_SIZE} px, all blocks, batch {OOM_IMAGES})", "", "", verdict))
    total = torch.cuda.get_device_properties(0).total_memory / 2 ** 30
    print(f"GPU: {name} ({total:.0f} GiB), torch {torch.__version__}, EfficientNet-Lite0, {SIZE} px, batch {BATCH}, "
          f"{WORKERS} decoding workers (both loops), {N_IMAGES} images")
    print("| measurement | throughput | peak memory | result |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"TL Studio stage 2 / plain loop: {stage2 / rate:.2f}x (images/s, same run)")
    return 0 if rows[-1][3] == "documented message" else 1


if __name__ == "__main__":
    sys.exit(main())
