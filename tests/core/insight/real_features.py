"""Frozen EfficientNet-Lite0 features of the bundled demo images (real pixels, real model), built once."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

DEMO = Path(__file__).resolve().parents[3] / "resources" / "demo_data"
SIZE = 64


@lru_cache(maxsize=1)
def demo_features() -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """(features [300, 1280], labels, classes, paths) of the 6 x 50 demo images at 64 px, straight from the
    model (no feature cache, so no test's cache folder is touched)."""
    from tlstudio.core.data.index import Sample
    from tlstudio.core.data.loaders import make_loader
    from tlstudio.core.data.modality import modality_for
    from tlstudio.core.project import Project
    from tlstudio.core.model.build import create_transfer_model
    from tlstudio.core.zoo.cards import get_card

    classes = sorted(d.name for d in DEMO.iterdir() if d.is_dir())
    samples = [Sample(str(f), i) for i, c in enumerate(classes) for f in sorted((DEMO / c).iterdir())]
    project = Project()
    project.model.image_size = SIZE
    card = get_card(project.model.name)
    modality = modality_for("image")
    pre = modality.preprocessing(card, project.model)
    model = create_transfer_model(card, project.head, len(classes), weights=project.model.weights).eval()
    feats = []
    with torch.inference_mode():
        for x, _ in make_loader(modality.eval_dataset(pre, samples), 64, num_workers=0):
            feats.append(model.base(x).reshape(x.shape[0], -1))
    x = torch.cat(feats).float().numpy()
    return x, np.array([s.label for s in samples], dtype=np.int64), classes, [s.path for s in samples]
