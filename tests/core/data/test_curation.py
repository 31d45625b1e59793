"""Sample keys and curation (exclusions, label overrides): stable keys, saved in the Project,
applied in one place, and what trains changes (a real run on demo images)."""
from __future__ import annotations

import glob
import json
import shutil
from pathlib import Path

import pytest
import torch

from tlstudio.core.data.curation import apply_curation, curation_summary
from tlstudio.core.data.images import scan
from tlstudio.core.data.index import Sample, sample_key, sample_keys
from tlstudio.core.data.text import scan_text
from tlstudio.core.errors import DatasetError, ProjectError
from tlstudio.core.model.head import HeadSpec
from tlstudio.core.paths import demo_data_dir
from tlstudio.core.project import Project
from tlstudio.core.train.trainer import Trainer

torch.set_num_threads(2)


def subset(dest: Path, per_class: int, classes=("bag", "sneaker", "trouser")) -> Path:
    for cls in classes:
        (dest / cls).mkdir(parents=True)
        for f in sorted(glob.glob(str(demo_data_dir() / cls / "*.png")))[:per_class]:
            shutil.copy(f, dest / cls)
    return dest


def test_sample_keys_are_relative_and_stable(tmp_path):
    data = subset(tmp_path / "data", 3)
    index = scan(data)
    keys = sample_keys(index)
    assert keys[0] == "bag/000.png" and keys == [sample_key(s, index.root) for s in index.samples]
    # A CSV dataset: keys relative to the CSV's folder; the same files give the same keys.
    csv = tmp_path / "list.csv"
    csv.write_text("path,label\n" + "".join(f"data/{k},{k.split('/')[0]}\n" for k in keys))
    assert sample_keys(scan(csv)) == [f"data/{k}" for k in keys]
    # Moved elsewhere, the same relative layout gives the same keys.
    shutil.copytree(data, tmp_path / "moved")
    assert sample_keys(scan(tmp_path / "moved")) == keys
    # Text: the locator (file + line) the scan gives.
    text = scan_text(Path(__file__).resolve().parents[3] / "resources" / "demo_text_data" / "wordnet_definitions.csv")
    assert sample_key(text.samples[0], text.root) == "wordnet_definitions.csv:2"
    (tmp_path / "txt" / "pos").mkdir(parents=True)
    assert sample_key(Sample(str(tmp_path / "txt" / "pos" / "a.txt"), 0, "x"), str(tmp_path / "txt")) == "pos/a.txt"


def test_curation_survives_save_load_and_is_omitted_when_empty(tmp_path):
    p = Project(name="c")
    plain = json.loads(json.dumps(p.to_dict()))
    assert "exclusions" not in plain["data"] and "label_overrides" not in plain["data"]
    p.data.exclusions = ["bag/000.png"]
    p.data.label_overrides = {"bag/001.png": "sneaker"}
    p.save(tmp_path / "p.json")
    back = Project.load(tmp_path / "p.json")
    assert back.data.exclusions == ["bag/000.png"] and back.data.label_overrides == {"bag/001.png": "sneaker"}
    for bad in ({"exclusions": "bag/000.png"}, {"exclusions": [1]}, {"label_overrides": ["x"]},
                {"label_overrides": {"a.png": 3}}, {"label_overrides": {"a.png": " "}}):
        with pytest.raises(ProjectError, match="data\\.(exclusions|label_overrides)"):
            Project.from_dict({"data": bad})


def test_apply_curation(tmp_path):
    index = scan(subset(tmp_path / "data", 3))
    p = Project()
    assert apply_curation(index, p.data) is index
    p.data.exclusions = ["bag/000.png", "gone/none.png"]
    p.data.label_overrides = {"bag/001.png": "trouser", "sneaker/000.png": "sneaker"}
    cur = apply_curation(index, p.data)
    keys = sample_keys(cur)
    assert "bag/000.png" not in keys and len(cur.samples) == len(index.samples) - 1
    assert cur.samples[keys.index("bag/001.png")].label == cur.classes.index("trouser")
    assert cur.counts() == {"bag": 1, "sneaker": 3, "trouser": 4}
    assert apply_curation(cur, p.data).counts() == cur.counts()       # idempotent
    assert curation_summary(index, p.data) == {"excluded": 1, "relabelled": 1, "labelled": 0, "unmatched": 1}
    p.data.label_overrides = {"bag/001.png": "boot"}
    with pytest.raises(DatasetError, match="'boot'.*classes are bag, sneaker, trouser"):
        apply_curation(index, p.data)


def test_curation_changes_what_trains(tmp_path):
    data = subset(tmp_path / "data", 4)
    p = Project(name="c")
    p.data.path = str(data)
    p.model.name = "tf_efficientnet_lite0"
    p.model.image_size = 64
    p.head = HeadSpec(layers=[])
    p.training.head_fit = "epochs"
    p.training.epochs = 1
    p.training.batch_size = 8
    p.training.device = "cpu"
    p.data.exclusions = ["bag/000.png"]
    p.data.label_overrides = {"bag/001.png": "sneaker"}
    p.save(tmp_path / "p.json")
    loaded = Project.load(tmp_path / "p.json")
    Trainer(loaded, tmp_path / "run").run()
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    rows = {Path(r[0]).relative_to(data).as_posix(): r[1] for part in split.values() for r in part}
    assert "bag/000.png" not in rows and len(rows) == 11
    assert rows["bag/001.png"] == 1 and rows["bag/002.png"] == 0      # classes: bag, sneaker, trouser
