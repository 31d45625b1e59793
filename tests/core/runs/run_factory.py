"""A small run folder made without the trainer: random-init model, demo images, split.json.

Shared by the evaluate/export tests so they do not depend on training.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from tlstudio.core.zoo.cards import get_card
from tlstudio.core.data.images import scan
from tlstudio.core.model.head import HeadLayer, HeadSpec
from tlstudio.core.paths import demo_data_dir
from tlstudio.core.runs.folder import write_model_files

MODEL = "tf_efficientnet_lite0"
IMAGE_SIZE = 64


def make_run(run_dir: Path, classes=("bag", "sneaker", "trouser"), per_class: int = 4, seed: int = 0) -> Path:
    from tlstudio.core.model.build import create_transfer_model

    torch.manual_seed(seed)
    index = scan(demo_data_dir())
    wanted = {name: i for i, name in enumerate(classes)}
    picked: dict[str, list[str]] = {name: [] for name in classes}
    for s in index.samples:
        name = index.classes[s.label]
        if name in wanted and len(picked[name]) < per_class:
            picked[name].append(s.path)
    head = HeadSpec([HeadLayer("linear", width=16), HeadLayer("activation", activation="relu")],
                    num_classes=len(classes))
    model = create_transfer_model(MODEL, head, len(classes), weights="none")
    # Non-trivial head weights so classes get distinct, confident scores.
    with torch.no_grad():
        for p in model.head.parameters():
            p.mul_(3.0)
    pre = get_card(MODEL).preprocessing.with_input_size(IMAGE_SIZE)
    info = {"model_name": MODEL, "library": "timm", "arch": MODEL, "classes": list(classes),
            "head": head.to_dict(), "feature_dim": model.feature_dim, "preprocessing": pre.to_dict()}
    write_model_files(run_dir, model, info)
    rows = [[path, wanted[name]] for name in classes for path in picked[name]]
    (run_dir / "split.json").write_text(json.dumps({"train": [], "val": rows, "test": rows[::2]}))
    (run_dir / "metrics.json").write_text(json.dumps({"val_accuracy": 0.5, "classes": list(classes)}))
    return run_dir
