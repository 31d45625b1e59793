"""collect_features: all labelled samples once through the cache, curation applied, images and text."""
from __future__ import annotations

import glob
import shutil
from pathlib import Path

import numpy as np
import torch

from tlstudio.core.insight.features import collect_features
from tlstudio.core.model.head import HeadSpec
from tlstudio.core.paths import demo_data_dir
from tlstudio.core.progress import JobState
from tlstudio.core.project import Project

torch.set_num_threads(2)
TEXT = Path(__file__).resolve().parents[3] / "resources" / "demo_text_data" / "wordnet_definitions.csv"


def test_image_features_cached_and_curated(tmp_path):
    data = tmp_path / "data"
    for cls in ("bag", "sneaker", "trouser"):
        (data / cls).mkdir(parents=True)
        for f in sorted(glob.glob(str(demo_data_dir() / cls / "*.png")))[:5]:
            shutil.copy(f, data / cls)
    p = Project()
    p.data.path = str(data)
    p.data.test_fraction = 0.2
    p.model.name = "tf_efficientnet_lite0"
    p.model.image_size = 64
    p.head = HeadSpec(layers=[])
    p.data.exclusions = ["bag/000.png"]
    p.data.label_overrides = {"bag/001.png": "trouser"}
    seen = []
    first = collect_features(p, device="cpu", job=JobState(lambda d, t: seen.append((d, t))))
    assert first.base_forwards == 14 and first.features.shape == (14, 1280) and first.features.dtype == np.float32
    assert "bag/000.png" not in first.keys and first.labels[first.keys.index("bag/001.png")] == 2
    assert first.labels.dtype == np.int64 and sorted(set(first.splits)) == ["test", "train", "val"]
    assert seen and seen[-1][0] == seen[-1][1]
    second = collect_features(p, device="cpu")
    assert second.base_forwards == 0 and second.keys == first.keys
    np.testing.assert_allclose(second.features, first.features)
    # Features of different images differ; the same image gives the same row whatever its split.
    assert np.abs(first.features[0] - first.features[1]).max() > 0.01


def test_text_features(tmp_path):
    p = Project(task="text")
    p.data.path = str(TEXT)
    p.model.name = "all-MiniLM-L6-v2"
    f = collect_features(p, device="cpu")
    assert f.features.shape == (360, 384) and f.task == "text" and f.keys[0].startswith("wordnet_definitions.csv:")
    assert collect_features(p, device="cpu").base_forwards == 0


def test_cancel_during_extraction_stores_nothing(tmp_path):
    import pytest

    from tlstudio.core.progress import Cancelled

    data = tmp_path / "data"
    for cls in ("bag", "trouser"):
        (data / cls).mkdir(parents=True)
        for f in sorted(glob.glob(str(demo_data_dir() / cls / "*.png")))[:40]:
            shutil.copy(f, data / cls)
    p = Project()
    p.data.path = str(data)
    p.model.name = "tf_efficientnet_lite0"
    p.model.image_size = 64
    scanned = []

    def progress(done, total):
        if done == total:
            scanned.append(True)              # the scan's last report; then the extraction's
        elif scanned and done > 0:
            state.cancel()

    state = JobState(progress, interval=0.0)
    with pytest.raises(Cancelled):
        collect_features(p, device="cpu", job=state)
    assert scanned and state.is_cancelled
    assert collect_features(p, device="cpu").base_forwards == 80
