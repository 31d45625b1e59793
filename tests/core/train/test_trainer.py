"""Trainer: real training on the demo images with the bundled EfficientNet-Lite0.

Images are fed at 64-96 px and the datasets are small subsets of the demo data
so the whole file stays fast on two cores; one trained run is shared.
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.demo_subset import make_subset
from tlstudio.core import events as ev
from tlstudio.core.model.build import create_transfer_model
from tlstudio.core.errors import TrainingError
from tlstudio.core.model.head import HeadLayer, HeadSpec
from tlstudio.core.project import Project
from tlstudio.core.runs.folder import load_model
from tlstudio.core.progress import JobState
from tlstudio.core.train.trainer import Trainer
from tlstudio.core.device import resolve_device

torch.set_num_threads(2)
MODEL = "tf_efficientnet_lite0"


def make_project(data: Path, *, size: int = 64, epochs: int = 2, batch: int = 8, **training) -> Project:
    p = Project(name="test")
    p.data.path = str(data)
    p.model.name = MODEL
    p.model.image_size = size
    p.head = HeadSpec(layers=[])
    p.training.epochs = epochs
    p.training.batch_size = batch
    p.training.lr = 3e-3
    p.training.head_fit = "epochs"     # these tests check the epoch loop (the head search: test_head_search.py)
    for k, v in training.items():
        setattr(p.training, k, v)
    return p


def run(project: Project, run_dir: Path, resume: bool = False, **attrs):
    events: list = []
    trainer = Trainer(project, run_dir, callback=events.append, resume=resume)
    for k, v in attrs.items():
        setattr(trainer, k, v)
    metrics = trainer.run()
    return trainer, metrics, events


def of_type(events, cls):
    return [e for e in events if isinstance(e, cls)]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return make_subset(tmp_path_factory.mktemp("tiny") / "data", 6)     # 36 images: 30 train / 6 val


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real run (cache miss) and a second run on the same data (cache hit), own cache folder."""
    root = tmp_path_factory.mktemp("trained")
    data = make_subset(root / "data", 20)                                  # 120 images: 96 train / 24 val
    project = make_project(data, size=96, epochs=4, batch=16)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLSTUDIO_CACHE_DIR", str(root / "cache"))
        first = run(project, root / "run1")
        second = run(project, root / "run2")
    return {"project": project, "root": root, "first": first, "second": second}


# --------------------------------------------------------------------------- the shared run

def test_head_on_cached_features_learns_the_classes(trained):
    trainer, metrics, events = trained["first"]
    assert metrics["error"] is None and not metrics["cancelled"]
    assert metrics["cached_features"] is True
    assert metrics["val_accuracy"] >= 0.6                      # chance is 1/6
    assert trainer.base_forward_images == 120                   # each image through the base exactly once
    # The saved best model, reloaded from the run folder, classifies held-out images as reported.
    loaded = load_model(trainer.run_dir)
    split = json.loads((trainer.run_dir / "split.json").read_text())
    from tlstudio.core.data.images import load_image_rgb
    from tlstudio.core.data.transforms import eval_transform
    tf = eval_transform(loaded.preprocessing)
    x = torch.stack([tf(load_image_rgb(p)) for p, _ in split["val"]])
    with torch.inference_mode():
        pred = loaded.model(x).argmax(1).tolist()
    acc = sum(int(p == label) for p, (_, label) in zip(pred, split["val"])) / len(pred)
    assert abs(acc - metrics["val_accuracy"]) <= 1 / len(pred) + 1e-9    # float16 features: at most one flip


def test_run_folder_is_complete(trained):
    trainer, metrics, _ = trained["first"]
    d = trainer.run_dir
    for name in ("project.json", "model.json", "best.safetensors", "last.pt", "history.json", "split.json",
                 "metrics.json"):
        assert (d / name).is_file(), name
    on_disk = json.loads((d / "metrics.json").read_text())
    for key in ("val_accuracy", "val_loss", "classes", "epochs_run", "seconds", "best_epoch", "best_stage",
                "cancelled", "device", "cached_features", "base_forward_images"):
        assert key in on_disk, key
    assert on_disk["epochs_run"] == 4 and on_disk["device"] == "cpu"
    assert json.loads((d / "model.json").read_text())["task"] == "image"     # evaluation picks its modality by it
    assert on_disk["classes"] == sorted(p.name for p in Path(trained["project"].data.path).iterdir())
    history = json.loads((d / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    best = max(history, key=lambda h: (h["val_acc"], -h["val_loss"]))
    assert (on_disk["best_epoch"], on_disk["val_accuracy"]) == (best["epoch"], best["val_acc"])
    state = torch.load(d / "last.pt", weights_only=True)
    assert (state["stage"], state["epoch"]) == (1, 4) and len(state["history"]) == 4
    split = json.loads((d / "split.json").read_text())
    assert len(split["train"]) == 96 and len(split["val"]) == 24
    snap = json.loads((d / "project.json").read_text())
    assert snap["training"]["epochs"] == 4 and os.path.isabs(snap["data"]["path"])


def test_frozen_base_is_bitwise_unchanged(trained):
    trainer, _, _ = trained["first"]
    saved = load_file(str(trainer.run_dir / "best.safetensors"))
    fresh = create_transfer_model(MODEL, HeadSpec(layers=[]), 6).state_dict()
    base_keys = [k for k in fresh if k.startswith("base.")]
    assert base_keys and all(torch.equal(saved[k], fresh[k]) for k in base_keys)      # params and buffers
    assert not torch.equal(saved["head.0.weight"], fresh["head.0.weight"])            # the head did train


def test_second_run_is_a_full_cache_hit(trained):
    trainer, metrics, events = trained["second"]
    assert trainer.base_forward_images == 0 and metrics["base_forward_images"] == 0
    assert not of_type(events, ev.FeatureExtractionProgress)
    first = [(e.val_loss, e.val_acc) for e in of_type(trained["first"][2], ev.EpochEnded)]
    assert [(e.val_loss, e.val_acc) for e in of_type(events, ev.EpochEnded)] == first


def test_events_are_ordered_plain_scalars(trained):
    _, _, events = trained["first"]
    assert isinstance(events[0], ev.StageStarted) and events[0].cached_features
    assert isinstance(events[-1], ev.RunFinished) and not events[-1].cancelled
    extraction = of_type(events, ev.FeatureExtractionProgress)
    assert extraction and extraction[-1].done == extraction[-1].total == 120
    assert [e.epoch for e in of_type(events, ev.EpochEnded)] == [1, 2, 3, 4]
    assert of_type(events, ev.CheckpointSaved)
    for e in events:
        assert all(isinstance(v, (int, float, str, bool)) for v in e.to_dict().values()), e


# --------------------------------------------------------------------------- cache behaviour

def test_changed_file_invalidates_the_cache(tmp_path):
    data = make_subset(tmp_path / "data", 4)
    project = make_project(data, epochs=1)
    trainer, _, _ = run(project, tmp_path / "a")
    assert trainer.base_forward_images == 24
    assert run(project, tmp_path / "b")[0].base_forward_images == 0
    victim = sorted(data.glob("bag/*.png"))[0]
    os.utime(victim, ns=(victim.stat().st_atime_ns, victim.stat().st_mtime_ns + 10 ** 9))
    assert run(project, tmp_path / "c")[0].base_forward_images == 24
    victim.unlink()                                                    # a smaller file list
    assert run(project, tmp_path / "d")[0].base_forward_images == 23
    # Resuming run "a" on the changed data is refused and leaves its files alone.
    before = (tmp_path / "a" / "metrics.json").read_text()
    _, metrics, events = run(project, tmp_path / "a", resume=True)
    assert "changed" in of_type(events, ev.RunFailed)[0].message and metrics["error"]
    assert (tmp_path / "a" / "metrics.json").read_text() == before


def test_cached_and_uncached_training_agree(tiny_data, tmp_path):
    cached = run(make_project(tiny_data, use_cache=True), tmp_path / "cached")
    plain = run(make_project(tiny_data, use_cache=False), tmp_path / "plain")
    assert cached[1]["cached_features"] and not plain[1]["cached_features"]
    assert plain[0].base_forward_images == 2 * 36                      # every epoch runs the base
    a, b = of_type(cached[2], ev.EpochEnded), of_type(plain[2], ev.EpochEnded)
    assert len(a) == len(b) == 2
    for x, y in zip(a, b):
        assert x.val_acc == pytest.approx(y.val_acc, abs=1 / 6 + 1e-9)
        assert x.val_loss == pytest.approx(y.val_loss, abs=2e-2)
        assert x.train_loss == pytest.approx(y.train_loss, abs=2e-2)


def test_augmented_views_are_cached_and_cycled(tiny_data, tmp_path):
    project = make_project(tiny_data, epochs=3, cache_views=2)
    project.data.augment = "light"
    trainer, metrics, _ = run(project, tmp_path / "aug")
    assert metrics["error"] is None and metrics["cached_features"]
    assert trainer.base_forward_images == 2 * 30 + 6                  # two views of train, one of val
    assert run(project, tmp_path / "aug2")[0].base_forward_images == 0


# --------------------------------------------------------------------------- control and failures

def test_cancel_mid_epoch_then_resume_matches_an_uninterrupted_run(tiny_data, tmp_path):
    project = make_project(tiny_data, epochs=3, batch=4)               # 8 batches per epoch
    job = JobState()
    seen: list = []

    def callback(event):
        seen.append(event)
        if isinstance(event, ev.BatchProgress) and event.epoch == 2 and event.batch == 2:
            job.cancel()

    run_dir = tmp_path / "run"
    trainer = Trainer(project, run_dir, callback=callback, job=job)
    trainer.progress_interval = 0.0                                   # one BatchProgress per batch
    metrics = trainer.run()
    batches = of_type(seen, ev.BatchProgress)
    assert (batches[-1].epoch, batches[-1].batch) == (2, 2)            # stopped right after that batch
    assert isinstance(seen[-1], ev.RunFinished) and seen[-1].cancelled
    on_disk = json.loads((run_dir / "metrics.json").read_text())
    assert on_disk["cancelled"] is True and on_disk["epochs_run"] == 1 and metrics["cancelled"]
    assert load_model(run_dir).classes == on_disk["classes"]           # best checkpoint intact
    assert torch.load(run_dir / "last.pt", weights_only=True)["epoch"] == 1

    resumed, metrics2, events2 = run(project, run_dir, resume=True)
    assert metrics2["epochs_run"] == 3 and not metrics2["cancelled"]
    assert [e.epoch for e in of_type(events2, ev.EpochEnded)] == [2, 3]
    assert resumed.base_forward_images == 0
    _, _, straight = run(project, tmp_path / "straight")
    history = json.loads((run_dir / "history.json").read_text())
    assert [h["val_loss"] for h in history] == pytest.approx([e.val_loss for e in of_type(straight, ev.EpochEnded)],
                                                              abs=1e-6)


def test_pause_blocks_training_until_resumed(tiny_data, tmp_path):
    job = JobState()
    paused_at: list = []

    def callback(event):
        if isinstance(event, ev.BatchProgress) and not paused_at:
            job.pause()
            paused_at.append(time.perf_counter())
            threading.Timer(0.5, job.resume).start()

    trainer = Trainer(make_project(tiny_data, epochs=1), tmp_path / "run", callback=callback, job=job)
    start = time.perf_counter()
    metrics = trainer.run()
    assert metrics["error"] is None and metrics["epochs_run"] == 1
    assert time.perf_counter() - paused_at[0] >= 0.45 and paused_at[0] >= start


def test_nan_loss_fails_with_a_readable_message(tiny_data, tmp_path, monkeypatch):
    # The loop's own guard, beneath the settings check (which refuses lr=1e30 on its own, tested below).
    monkeypatch.setattr(Project, "validate", lambda self, labels=None: None)
    trainer, metrics, events = run(make_project(tiny_data, lr=1e30, optimizer="sgd"), tmp_path / "run")
    failed = of_type(events, ev.RunFailed)
    assert len(failed) == 1 and isinstance(events[-1], ev.RunFailed)
    assert "loss became NaN" in failed[0].message and "lower the learning rate" in failed[0].message
    assert metrics["error"] == failed[0].message


def test_bad_settings_and_devices_are_reported(tiny_data, tmp_path):
    _, metrics, events = run(make_project(tiny_data, optimizer="rmsprop"), tmp_path / "run")
    assert "Unknown optimizer" in of_type(events, ev.RunFailed)[0].message and metrics["error"]
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(TrainingError):
            resolve_device("cuda")
    with pytest.raises(TrainingError):
        resolve_device("tpu")


def test_finetune_changes_only_the_unfrozen_blocks(tiny_data, tmp_path):
    project = make_project(tiny_data, epochs=1, batch=12)
    project.head = HeadSpec(layers=[HeadLayer("linear", width=16), HeadLayer("activation", activation="relu")])
    project.finetune.enabled = True
    project.finetune.epochs = 1
    project.finetune.unfreeze_last = 1
    project.finetune.lr_multiplier = 1.0
    trainer, metrics, events = run(project, tmp_path / "run")
    assert metrics["error"] is None and metrics["epochs_run"] == 2
    stages = of_type(events, ev.StageStarted)
    assert [(s.stage, s.cached_features) for s in stages] == [(1, True), (2, False)]
    assert stages[1].trainable_params > stages[0].trainable_params
    state = torch.load(trainer.run_dir / "last.pt", weights_only=True)["model"]
    fresh = create_transfer_model(MODEL, project.head, 6).state_dict()
    from tlstudio.core.model.layers import unfreeze_last_blocks
    unfrozen = unfreeze_last_blocks(create_transfer_model(MODEL, project.head, 6), 1)
    prefixes = tuple(f"{n}." for n in unfrozen) + tuple(unfrozen)
    changed = {k for k in fresh if k.startswith("base.") and not torch.equal(state[k], fresh[k])}
    assert changed and all(k.startswith(prefixes) for k in changed)
    # BatchNorm keeps its pretrained running statistics while fine-tuning (the default)...
    assert not any(k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in changed)
    assert any(k.endswith("weight") for k in changed)
    assert trainer.base_forward_images == 36 + 36                      # extraction, then one image epoch


def test_finetune_can_train_batchnorm_statistics(tiny_data, tmp_path):
    project = make_project(tiny_data, epochs=1, batch=12)
    project.finetune.enabled = True
    project.finetune.epochs = 1
    project.finetune.unfreeze_last = 1
    project.finetune.train_batchnorm = True
    trainer, metrics, _ = run(project, tmp_path / "run")
    assert metrics["error"] is None
    state = torch.load(trainer.run_dir / "last.pt", weights_only=True)["model"]
    fresh = create_transfer_model(MODEL, project.head, 6).state_dict()
    moved = [k for k in fresh if k.endswith("running_mean") and not torch.equal(state[k], fresh[k])]
    assert moved


def test_early_stopping_ends_the_stage(tiny_data, tmp_path):
    project = make_project(tiny_data, epochs=6, lr=1e-12, early_stopping_patience=2,
                           early_stopping_metric="val_acc")             # nothing improves after epoch 1
    _, metrics, events = run(project, tmp_path / "run")
    assert metrics["error"] is None and metrics["epochs_run"] == 3
    assert [e.epoch for e in of_type(events, ev.EpochEnded)] == [1, 2, 3]


@pytest.mark.parametrize("exc, expected", [
    (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "lower the batch size"),
    (ValueError("a bug"), None),
])
def test_out_of_memory_is_reported_and_bugs_propagate(tiny_data, tmp_path, monkeypatch, exc, expected):
    import tlstudio.core.train.loop as loop

    def boom(*args, **kwargs):
        raise exc

    monkeypatch.setattr(loop, "train_epoch", boom)
    events: list = []
    trainer = Trainer(make_project(tiny_data), tmp_path / "run", callback=events.append)
    if expected is None:
        with pytest.raises(ValueError):
            trainer.run()
        assert "a bug" in of_type(events, ev.RunFailed)[0].message
    else:
        metrics = trainer.run()
        message = of_type(events, ev.RunFailed)[0].message
        assert "out of memory" in message and expected in message and metrics["error"] == message


def test_a_prescanned_dataset_is_not_scanned_again(tiny_data, tmp_path, monkeypatch):
    from tlstudio.core.data.image_modality import ImageModality
    from tlstudio.core.data.images import scan

    index = scan(tiny_data)

    def no_scan(*args, **kwargs):
        raise AssertionError("the trainer scanned a dataset it was given")

    monkeypatch.setattr(ImageModality, "scan", no_scan)
    project = make_project(tiny_data, epochs=1)
    metrics = Trainer(project, tmp_path / "run", dataset=index).run()
    assert metrics["error"] is None and metrics["classes"] == index.classes
    # A dataset for another folder is ignored: the project's own folder is scanned.
    other = make_project(tmp_path / "missing", epochs=1)
    monkeypatch.undo()
    failed = Trainer(other, tmp_path / "run2", dataset=index).run()
    assert "does not exist" in failed["error"]
