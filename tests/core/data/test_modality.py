"""The modality seam: the registry, the image modality's contract, samples that carry text."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from tlstudio.core.data import index as dx
from tlstudio.core.data.image_modality import ImageModality
from tlstudio.core.data.modality import Modality, modality_for, register, tasks
from tlstudio.core.errors import DatasetError, ProjectError
from tlstudio.core.project import Project
from tlstudio.core.zoo.preprocessing import Preprocessing

PRE = Preprocessing(24, 28, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


@pytest.fixture
def tiny_folder(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(3):
            arr = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
            Image.fromarray(arr).save(tmp_path / c / f"{i}.png")
    return tmp_path


def test_the_registry_gives_the_image_modality_and_refuses_unknown_tasks():
    image = modality_for("image")
    assert isinstance(image, Modality) and isinstance(image, ImageModality) and image.name == "image"
    assert "image" in tasks()
    with pytest.raises(DatasetError, match="'sound'"):
        modality_for("sound")
    with pytest.raises(TypeError):
        register(object())


def test_image_modality_scans_and_reads_like_the_image_code(tiny_folder):
    image = modality_for("image")
    index = image.scan(tiny_folder)
    assert index.classes == ["cat", "dog"] and len(index.samples) == 6
    sample = index.samples[0]
    x = image.input_reader(PRE)(sample)
    item, label = image.eval_dataset(PRE, [sample])[0]
    assert x.shape == (3, 24, 24) and torch.equal(x, item) and label == sample.label
    batch, labels = image.collate([image.eval_dataset(PRE, index.samples)[i] for i in range(4)])
    assert batch.shape == (4, 3, 24, 24) and labels.tolist() == [s.label for s in index.samples[:4]]
    preview = image.preview(sample, size=20)
    assert preview.mode == "RGB" and max(preview.size) <= 20


def test_train_dataset_follows_the_round_contract(tiny_folder):
    image = modality_for("image")
    samples = image.scan(tiny_folder).samples
    n = len(samples)
    plain = image.train_dataset(PRE, samples, augment="none", seed=0)
    assert len(plain) == n and torch.equal(plain[1][0], plain[n + 1][0])      # no augmentation: rounds agree
    aug = image.train_dataset(PRE, samples, augment="strong", seed=3, rounds=2)
    assert len(aug) == 2 * n and aug[n + 1][1] == samples[1].label
    assert torch.equal(aug[1][0], aug[1][0])                                   # a view is reproducible
    assert not torch.equal(aug[1][0], aug[n + 1][0])                           # another round, another view


def test_sample_key_follows_the_file_content(tiny_folder):
    image = modality_for("image")
    path = tiny_folder / "cat" / "0.png"
    sample = dx.Sample(str(path), 0)
    key = image.sample_key(sample)
    assert json.loads(json.dumps(key)) == key and key == image.sample_key(sample)
    assert image.sample_key(dx.Sample(str(path), 1)) != key                   # the label is part of it
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10 ** 9))
    assert image.sample_key(sample) != key


def test_samples_carry_text_and_serialise_as_before():
    plain = dx.Sample("/d/a.png", 1)
    assert dx.sample_row(plain) == ["/d/a.png", 1] and dx.sample_from_row(["/d/a.png", 1]) == plain
    texted = dx.Sample("reviews.csv:12", 0, "great value")
    assert dx.sample_row(texted) == ["reviews.csv:12", 0, "great value"]
    assert dx.sample_from_row(json.loads(json.dumps(dx.sample_row(texted)))) == texted
    for bad in (["x"], ["x", 1, 2], "xy", ["x", "one"]):
        with pytest.raises((TypeError, ValueError)):
            dx.sample_from_row(bad)
    skipped: list = []
    classes, samples = dx.drop_empty_classes(["a", "b", "c"], [dx.Sample("r:1", 2, "hi")], skipped,
                                             lambda name: name, noun="texts")
    assert classes == ["c"] and samples == [dx.Sample("r:1", 0, "hi")]
    assert "no usable texts" in skipped[0].reason


def test_a_project_has_a_task_and_old_files_load_as_image(tmp_path):
    old = Project().to_dict()
    del old["task"]                                    # as saved before projects had a task
    assert Project.from_dict(old).task == "image"
    text = Project(task="text")
    path = tmp_path / "p.json"
    text.save(path)
    assert Project.load(path).task == "text"
    bad = Project().to_dict()
    bad["task"] = "sound"
    with pytest.raises(ProjectError, match="'task'"):
        Project.from_dict(bad)


def test_each_modality_owns_its_defaults_and_is_read_without_torch():
    import subprocess
    import sys

    script = ("import json, sys\nfrom tlstudio.core.data.modality import modality_for, tasks\n"
              "facts = {t: [modality_for(t).noun, modality_for(t).default_model, modality_for(t).default_lr,"
              " modality_for(t).max_length_range] for t in tasks()}\n"
              "print(json.dumps({'facts': facts, 'torch': 'torch' in sys.modules}))\n")
    out = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                                    timeout=120).stdout.strip().splitlines()[-1])
    assert out["torch"] is False                      # the GUI reads these on its GUI thread
    from tlstudio.core.zoo.cards import DEFAULT_MODEL
    from tlstudio.core.zoo.text_cards import DEFAULT_TEXT_MODEL
    assert out["facts"]["image"] == ["images", DEFAULT_MODEL, 1e-3, None]
    assert out["facts"]["text"] == ["texts", DEFAULT_TEXT_MODEL, 1e-2, [4, 4096]]


def test_a_project_left_on_another_task_s_default_gets_its_own():
    from tlstudio.core.data.modality import task_default_model

    image, text = modality_for("image").default_model, modality_for("text").default_model
    assert task_default_model("text", image) == text and task_default_model("image", text) == image
    assert task_default_model("text", "bert-base-uncased") == "bert-base-uncased"   # a user's choice stays
    assert task_default_model("image", "resnet18") == "resnet18"
    text_project = Project(task="text")
    assert text_project.epoch_lr() == 1e-2 and Project(task="image").epoch_lr() == 1e-3
    text_project.training.auto = [a for a in text_project.training.auto if a != "lr"]    # the user chose 1e-3
    assert text_project.epoch_lr() == 1e-3
