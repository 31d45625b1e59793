"""FeatureCache: keys, atomic entries, memory-mapped reading, LRU pruning, extraction, seeded views."""
from __future__ import annotations

import glob
import os

import numpy as np
import pytest
import torch
from torch import nn

from tlstudio.core.features import cache as fc
from tlstudio.core.data.index import Sample
from tlstudio.core.data.modality import modality_for
from tlstudio.core.data.loaders import ImageItem, SeededImages
from tlstudio.core.paths import demo_data_dir
from tlstudio.core.progress import Cancelled, JobState
from tlstudio.core.data.transforms import train_transform
from tlstudio.core.zoo.preprocessing import Preprocessing


def tiny_base() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def key_parts(tmp_path, **over) -> dict:
    f = tmp_path / "a.png"
    if not f.exists():
        f.write_bytes(b"x")
    parts = {"model": "m", "base_tensors": fc.base_fingerprint(tiny_base()), "feature_dim": 4,
             "preprocessing": {"input_size": 32}, "augment": "none", "views": 1, "seed": None,
             "train": fc.split_identity([Sample(str(f), 0)], modality_for("image")), "val": []}
    parts.update(over)
    return parts


def test_key_changes_with_every_ingredient(tmp_path):
    base = fc.cache_key(key_parts(tmp_path))
    assert fc.cache_key(key_parts(tmp_path)) == base                      # stable
    for change in ({"model": "other"}, {"feature_dim": 8}, {"preprocessing": {"input_size": 64}},
                   {"augment": "light"}, {"views": 2}, {"seed": 1}, {"val": [["b.png", 1, 1, 0]]}):
        assert fc.cache_key(key_parts(tmp_path, **change)) != base, change
    f = tmp_path / "a.png"
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10 ** 9))
    assert fc.cache_key(key_parts(tmp_path)) != base                      # touched file
    f.write_bytes(b"xy")
    assert fc.cache_key(key_parts(tmp_path)) != base                      # resized file


def test_base_fingerprint_sees_parameters_and_buffers():
    a, b = tiny_base(), tiny_base()
    assert fc.base_fingerprint(a) == fc.base_fingerprint(b)
    with torch.no_grad():
        b[1].running_mean[0] += 1e-3
    assert fc.base_fingerprint(a) != fc.base_fingerprint(b)
    with torch.no_grad():
        a[0].weight[0, 0, 0, 0] += 1e-3
    assert fc.base_fingerprint(a) != fc.base_fingerprint(tiny_base())


def fill_with(values: np.ndarray):
    def fill(rows):
        rows[:] = values
    return fill


def test_entry_round_trip_in_memory_and_memory_mapped(tmp_path, monkeypatch):
    cache = fc.FeatureCache(tmp_path / "features")
    values = np.random.default_rng(0).normal(size=(2 * 3 + 2, 5)).astype(np.float32)
    entry = cache.create("k1", views=2, n_train=3, n_val=2, dim=5, meta={}, fill=fill_with(values))
    assert entry.in_memory and entry.feature_dim == 5
    np.testing.assert_allclose(entry.train_view(1).numpy(), values[3:6], atol=1e-2)
    np.testing.assert_allclose(entry.train_view(2).numpy(), values[0:3], atol=1e-2)     # views cycle
    np.testing.assert_allclose(entry.val_rows().numpy(), values[6:], atol=1e-2)
    monkeypatch.setattr(fc, "RAM_LIMIT_BYTES", 0)
    mapped = cache.load("k1")
    assert not mapped.in_memory and mapped.rows.dtype == np.float16        # stored as float16
    got = fc.gather_rows(mapped.train_view(1), torch.tensor([2, 0]))
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), values[[5, 3]], atol=1e-2)
    assert cache.load("missing") is None


def test_failed_fill_stores_nothing(tmp_path):
    cache = fc.FeatureCache(tmp_path / "features")

    def fail(rows):
        rows[0] = 1.0
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.create("k", views=1, n_train=2, n_val=1, dim=3, meta={}, fill=fail)
    assert cache.load("k") is None and list((tmp_path / "features").iterdir()) == []


def test_least_recently_used_entries_are_pruned(tmp_path):
    one = np.zeros((100, 100), np.float32)                                 # 20 kB as float16
    cache = fc.FeatureCache(tmp_path / "features", max_bytes=10 ** 9)
    for i, key in enumerate(("old", "middle", "new")):
        cache.create(key, views=1, n_train=90, n_val=10, dim=100, meta={}, fill=fill_with(one))
        os.utime(cache.entry_dir(key) / "meta.json", (1000 + i, 1000 + i))
    cache.load("old")                                                      # used now: most recent
    cache.max_bytes = 2 * 21_000 + 1000
    assert cache.prune(keep=["new"]) == ["middle"]
    assert {p.name for p in (tmp_path / "features").iterdir()} == {"old", "new"}
    assert cache.total_bytes() <= cache.max_bytes


def test_extract_features_writes_every_row_and_can_be_cancelled():
    base = tiny_base().eval()
    images = torch.randn(10, 3, 8, 8)
    batches = [(images[i:i + 4], torch.zeros(len(images[i:i + 4]))) for i in range(0, 10, 4)]
    out = np.zeros((10, 4), np.float16)
    rates, progress = [], []
    base.train()
    n = fc.extract_features(base, batches, out, device=torch.device("cpu"), on_rate=lambda *a: rates.append(a),
                            job=JobState(lambda d, t: progress.append((d, t)), interval=0.0), progress_interval=0.0)
    assert n == 10 and base.training                                       # mode restored
    with torch.no_grad():
        expected = base.eval()(images).numpy()
    np.testing.assert_allclose(out.astype(np.float32), expected, atol=2e-3)
    assert rates[-1][:2] == (10, 10) and rates[-1][2] > 0
    assert progress == [(4, 10), (8, 10), (10, 10)]

    job = JobState()
    fed = []

    def counted():
        for batch in batches:
            fed.append(1)
            if len(fed) == 2:
                job.cancel()        # asked to stop while the second batch is on its way
            yield batch

    with pytest.raises(Cancelled):
        fc.extract_features(base, counted(), np.zeros((10, 4), np.float16), device=torch.device("cpu"), job=job)
    assert len(fed) == 2


def test_augmented_views_are_reproducible_and_leave_global_rng_alone():
    path = sorted(glob.glob(str(demo_data_dir() / "bag" / "*.png")))[0]
    pre = Preprocessing(32, 36, (0.5,) * 3, (0.5,) * 3)
    ds = SeededImages([ImageItem(path, 1, 0, seed=7)], [train_transform(pre, "strong")], rounds=3)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    views = [ds[k][0] for k in range(3)]
    assert torch.equal(torch.rand(1), expected_next)                      # global RNG untouched
    assert torch.equal(ds[1][0], views[1])                                 # same view again
    assert not torch.equal(views[0], views[1]) and ds[2][1] == 1


def test_loaders_made_off_the_main_thread_decode_in_threads_with_the_same_batches(tmp_path):
    """The GUI trains in a QThread: forking worker processes there is unsafe, so threads decode."""
    import threading

    from PIL import Image

    from tlstudio.core.data.loaders import EpochOrder, ImageItem, SeededImages, ThreadedLoader, make_loader
    from tlstudio.core.data.transforms import eval_transform

    paths = []
    for i in range(10):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (12, 12), (i * 20, 0, 0)).save(path)
        paths.append(str(path))
    pre = Preprocessing(input_size=8, resize_size=8, mean=(0.5,) * 3, std=(0.5,) * 3, interpolation="bilinear")
    dataset = SeededImages([ImageItem(p, i % 3) for i, p in enumerate(paths)], [eval_transform(pre)])
    sampler = EpochOrder(len(paths))
    sampler.set([9, 1, 8, 2, 7, 3, 6, 4, 5, 0], 0)

    reference = [(x.clone(), y.clone()) for x, y in make_loader(dataset, 3, sampler=sampler)]
    made = {}

    def build_and_read():
        loader = make_loader(dataset, 3, sampler=sampler, num_workers=2)
        made["loader"] = loader
        made["batches"] = list(loader)

    thread = threading.Thread(target=build_and_read)
    thread.start()
    thread.join(60)
    assert isinstance(made["loader"], ThreadedLoader) and len(made["loader"]) == 4
    assert len(made["batches"]) == len(reference) == 4
    for (x, y), (rx, ry) in zip(made["batches"], reference):
        assert torch.equal(x, rx) and torch.equal(y, ry)


def test_an_entry_with_damaged_meta_is_a_miss(tmp_path):
    cache = fc.FeatureCache(tmp_path / "features")
    for damaged in ('{"views": 1}', "[]", '{"views": null, "n_train": 2, "n_val": 1}', "{garbled"):
        cache.create("k", views=1, n_train=2, n_val=1, dim=3, meta={},
                     fill=fill_with(np.zeros((3, 3), np.float32)))
        (cache.entry_dir("k") / "meta.json").write_text(damaged, encoding="utf-8")
        assert cache.load("k") is None
        assert not cache.entry_dir("k").exists()     # discarded, so the next run rebuilds it


def test_a_truncated_entry_is_discarded_and_rebuilt(tmp_path):
    """It used to make every later run with those settings fail with "could not be read back"."""
    cache = fc.FeatureCache(tmp_path / "features")
    rows = np.arange(12, dtype=np.float32).reshape(4, 3)
    cache.create("k", views=1, n_train=3, n_val=1, dim=3, meta={}, fill=fill_with(rows))
    npy = cache.entry_dir("k") / "features.npy"
    npy.write_bytes(npy.read_bytes()[:-10])
    entry = cache.create("k", views=1, n_train=3, n_val=1, dim=3, meta={}, fill=fill_with(rows))
    assert torch.equal(torch.as_tensor(np.asarray(entry.rows, dtype=np.float32)), torch.from_numpy(rows))


def test_a_full_disk_is_a_clear_error_not_a_crash(tmp_path, monkeypatch):
    """A sparse memory map on a full disk dies with SIGBUS mid-write; the space is reserved first."""
    import errno

    from tlstudio.core.errors import TrainingError

    def no_space(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fc.os, "posix_fallocate", no_space)
    cache = fc.FeatureCache(tmp_path / "features")
    filled = []
    with pytest.raises(TrainingError, match="Not enough disk space"):
        cache.create("k", views=1, n_train=2, n_val=1, dim=3, meta={}, fill=filled.append)
    assert filled == []                                  # nothing was written into the map
    assert list((tmp_path / "features").iterdir()) == []  # no .tmp-* folder left behind


def test_augmented_views_are_the_same_when_decoded_by_threads(tmp_path):
    """Seeded augmentation borrows the global RNGs; decode threads must not interleave it."""
    import random
    import threading

    from PIL import Image

    from tlstudio.core.data.loaders import ImageItem, SeededImages, make_loader
    from tlstudio.core.data.transforms import train_transform

    rng = np.random.default_rng(0)
    paths = []
    for i in range(24):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    pre = Preprocessing(input_size=24, resize_size=28, mean=(0.5,) * 3, std=(0.5,) * 3, interpolation="bilinear")
    dataset = SeededImages([ImageItem(p, 0, 0, seed=7) for p in paths], [train_transform(pre, "strong")])
    reference = torch.cat([x for x, _ in make_loader(dataset, 4)])
    random.seed(123)
    expected_next = random.random()
    random.seed(123)
    out = {}
    thread = threading.Thread(target=lambda: out.update(x=torch.cat([x for x, _ in make_loader(dataset, 4, num_workers=4)])))
    thread.start()
    thread.join(120)
    assert torch.equal(out["x"], reference)
    assert random.random() == expected_next        # the global RNG was left as it was
