"""Dataset scanning, validation, loading, split and weights."""
import io
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tlstudio.core.data import images as ds
from tlstudio.core.data import index as dx
from tlstudio.core.errors import DatasetError
from tlstudio.core.paths import demo_data_dir
from tlstudio.core.progress import Cancelled, JobState


def _noise(w, h, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def _save(path: Path, im: Image.Image, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **kw)
    return path


@pytest.fixture
def nasty(tmp_path):
    """A dataset folder with every kind of good and bad file; returns (root, expected)."""
    root = tmp_path / "data"
    shirt, pants = root / "shirt", root / "pants"
    good = {
        "shirt": [_save(shirt / "a.png", _noise(12, 10)),
                  _save(shirt / "b.jpg", _noise(12, 10, 1)),
                  _save(shirt / "c.bmp", _noise(9, 9, 2)),
                  _save(shirt / "d.gif", _noise(9, 9, 3).convert("P")),
                  _save(shirt / "e.tiff", _noise(9, 9, 4)),
                  _save(shirt / "f.webp", _noise(9, 9, 5)),
                  _save(shirt / "gray.jpg", Image.new("L", (8, 8), 90)),
                  _save(shirt / "cmyk.jpg", Image.new("CMYK", (8, 8), (0, 255, 255, 0)))],
        "pants": [_save(pants / "rgba.png", Image.new("RGBA", (8, 8), (0, 0, 0, 0))),
                  _save(pants / "nested" / "deeper" / "upper.PNG", _noise(8, 8, 6))],
    }
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([10, 20, 30] + [200, 0, 0] * 255)
    good["pants"].append(_save(pants / "palette.png", palette, transparency=0))
    ramp = (np.linspace(0, 65535, 64 * 4).reshape(4, 64)).astype(np.uint16)
    good["pants"].append(_save(pants / "deep16.png", Image.fromarray(ramp)))
    exif = Image.Exif()
    exif[0x0112] = 6   # "rotate 90 CW to display"
    good["shirt"].append(_save(shirt / "exif.jpg", _noise(40, 20, 7), exif=exif))

    (shirt / "empty.jpg").write_bytes(b"")
    (shirt / "fake.png").write_text("this is text, not a picture")
    (shirt / "notes.xyz").write_text("metadata")
    _save(shirt / ".hidden.png", _noise(4, 4))
    _save(shirt / ".cache" / "thumb.png", _noise(4, 4))
    buf = io.BytesIO()
    _noise(64, 64, 8).save(buf, format="JPEG", quality=95)
    (pants / "trunc.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (pants / "README.txt").write_text("pants are trousers")
    (root / "ghost").mkdir()
    (root / "ghost" / "broken.gif").write_bytes(b"GIF89a not really")
    _save(root / "stray.png", _noise(4, 4))
    (root / "LICENSE.txt").write_text("licence text")

    skipped = {
        shirt / "empty.jpg": "empty file (0 bytes)",
        shirt / "fake.png": "not an image",
        shirt / "notes.xyz": "unsupported file type .xyz",
        pants / "trunc.jpg": "truncated or corrupt image data",
        pants / "README.txt": "unsupported file type .txt",
        root / "ghost" / "broken.gif": "not an image",
        root / "ghost": "class 'ghost' has no usable images",
        root / "stray.png": "not inside a class folder",
    }
    return root, good, skipped


def test_scan_folder_reports_exactly_the_good_and_bad_files(nasty):
    root, good, skipped = nasty
    calls = []
    index = ds.scan(root, job=JobState(lambda done, total: calls.append((done, total)), interval=0.0))
    assert index.classes == ["pants", "shirt"]
    got = {(Path(s.path), index.classes[s.label]) for s in index.samples}
    want = {(p.resolve(), cls) for cls, paths in good.items() for p in paths}
    assert got == want
    assert index.counts() == {"pants": 4, "shirt": 9}
    assert {Path(s.path): s.reason for s in index.skipped}.keys() == {p.resolve() for p in skipped}
    for s in index.skipped:
        assert s.reason.startswith(skipped[Path(s.path)]), (s.path, s.reason)
    # Candidates validated: 13 good + empty, fake, trunc, broken; progress ends at total.
    assert calls[0] == (0, 17) and calls[-1] == (17, 17) and len(calls) == 18


def test_every_good_image_loads_as_8bit_rgb(nasty):
    root, good, _ = nasty
    for paths in good.values():
        for p in paths:
            im = ds.load_image_rgb(p)
            assert im.mode == "RGB", p
    shirt, pants = root / "shirt", root / "pants"
    assert ds.load_image_rgb(shirt / "exif.jpg").size == (20, 40)       # orientation applied
    assert ds.load_image_rgb(pants / "rgba.png").getpixel((0, 0)) == (255, 255, 255)
    assert ds.load_image_rgb(pants / "palette.png").getpixel((3, 3)) == (255, 255, 255)
    red = ds.load_image_rgb(shirt / "cmyk.jpg").getpixel((4, 4))
    assert red[0] > 200 and red[1] < 60 and red[2] < 60
    deep = np.asarray(ds.load_image_rgb(pants / "deep16.png"))[..., 0].astype(int)
    assert deep.min() == 0 and deep.max() == 255
    assert 125 <= deep[2, 0] <= 131          # the middle of the ramp: scaled, not clipped at 255
    assert ds.load_image_rgb(shirt / "gray.jpg").getpixel((2, 2))[0] in range(85, 96)


def test_load_errors_name_the_file(nasty):
    root, _, _ = nasty
    for name in ("shirt/fake.png", "pants/trunc.jpg", "shirt/missing.jpg"):
        with pytest.raises(DatasetError, match=Path(name).name):
            ds.load_image_rgb(root / name)


def test_report_is_json_and_text_summary_lists_classes(nasty):
    root, _, skipped = nasty
    index = ds.scan(root)
    report = json.loads(json.dumps(index.to_report()))
    assert report["total"] == 13 and report["counts"] == {"pants": 4, "shirt": 9}
    assert len(report["skipped"]) == len(skipped) and {"path", "reason"} <= set(report["skipped"][0])
    text = dx.format_report(index)
    assert "2 classes, 13 images" in text and "shirt" in text and f"Skipped {len(skipped)}" in text


def test_scan_cancel_raises(nasty):
    job = JobState()
    job.cancel()
    with pytest.raises(Cancelled):
        ds.scan_folder(nasty[0], job=job)


def test_scan_progress_is_throttled_and_ends_at_the_total(nasty):
    calls = []
    ds.scan(nasty[0], job=JobState(lambda done, total: calls.append((done, total)), interval=60.0))
    assert calls == [(0, 17), (17, 17)]


def test_scan_csv_with_header_relative_paths_and_bad_rows(tmp_path):
    img = tmp_path / "imgs"
    a = _save(img / "a.png", _noise(6, 6))
    b = _save(img / "b.jpg", _noise(6, 6, 1))
    elsewhere = _save(tmp_path / "abs" / "c.png", _noise(6, 6, 2))
    (tmp_path / "lists").mkdir()
    csv_path = tmp_path / "lists" / "data.csv"
    csv_path.write_text("path,label\n../imgs/a.png,cat\n../imgs/b.jpg,dog\n"
                        f"{elsewhere},dog\n../imgs/gone.png,cat\nonly-one-column\n\n")
    index = ds.scan(csv_path)
    assert index.classes == ["cat", "dog"]
    assert [(Path(s.path), s.label) for s in index.samples] == [(a.resolve(), 0), (b.resolve(), 1),
                                                               (elsewhere.resolve(), 1)]
    reasons = {Path(s.path).name: s.reason for s in index.skipped}
    assert reasons["gone.png"] == "file not found"
    assert reasons["data.csv:6"].startswith("malformed row")


def test_scan_csv_without_header(tmp_path):
    _save(tmp_path / "x.png", _noise(5, 5))
    _save(tmp_path / "y.png", _noise(5, 5, 1))
    (tmp_path / "d.csv").write_text("x.png,left\ny.png,right\n")
    assert ds.scan(tmp_path / "d.csv").counts() == {"left": 1, "right": 1}


def test_one_class_empty_and_missing_datasets_raise(tmp_path):
    _save(tmp_path / "one" / "shirt" / "a.png", _noise(5, 5))
    with pytest.raises(DatasetError, match=r"only one class \('shirt'\); a classifier needs at least two"):
        ds.scan(tmp_path / "one")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="No usable images"):
        ds.scan(tmp_path / "empty")
    with pytest.raises(DatasetError, match="does not exist"):
        ds.scan(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="does not exist"):
        ds.scan_folder(tmp_path / "nowhere")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match="neither a folder nor a .csv"):
        ds.scan(tmp_path / "notes.txt")


def _synthetic(sizes):
    classes = [f"c{i}" for i in range(len(sizes))]
    samples = [dx.Sample(f"/d/c{label}/{i:03d}.png", label) for label, n in enumerate(sizes) for i in range(n)]
    return dx.DatasetIndex("/d", classes, samples, [])


def test_split_is_stratified_and_deterministic():
    index = _synthetic([50, 20, 1])
    split = dx.split_dataset(index, val_fraction=0.2, test_fraction=0.1, seed=3)

    def per_class(part):
        return [sum(1 for s in part if s.label == c) for c in range(3)]
    assert per_class(split.train) == [35, 14, 1]
    assert per_class(split.val) == [10, 4, 0]
    assert per_class(split.test) == [5, 2, 0]
    everything = split.train + split.val + split.test
    assert sorted(everything, key=lambda s: s.path) == sorted(index.samples, key=lambda s: s.path)
    assert len(split.warnings) == 1 and "'c2'" in split.warnings[0] and "only 1" in split.warnings[0]
    again = dx.split_dataset(index, val_fraction=0.2, test_fraction=0.1, seed=3)
    assert again.val == split.val and again.test == split.test
    other = dx.split_dataset(index, val_fraction=0.2, test_fraction=0.1, seed=4)
    assert other.val != split.val


def test_split_small_class_keeps_best_possible_and_rejects_bad_fractions():
    split = dx.split_dataset(_synthetic([10, 2]), val_fraction=0.2, test_fraction=0.2, seed=0)
    assert [s.label for s in split.val].count(1) == 1 and [s.label for s in split.train].count(1) == 1
    assert "no test images" in split.warnings[0]
    no_val = dx.split_dataset(_synthetic([10, 10]), val_fraction=0.0)
    assert no_val.val == [] and len(no_val.train) == 20 and no_val.warnings == []
    with pytest.raises(DatasetError):
        dx.split_dataset(_synthetic([10, 10]), val_fraction=0.6, test_fraction=0.4)


def test_class_weights_inverse_frequency_mean_one():
    samples = _synthetic([10, 30]).samples
    assert dx.class_weights(samples, 2) == pytest.approx([1.5, 0.5])
    assert dx.class_weights(samples, 3) == pytest.approx([1.5, 0.5, 0.0])
    with pytest.raises(DatasetError):
        dx.class_weights(samples, 1)


def test_image_dataset_pickles_and_yields_tensors(nasty):
    from tlstudio.core.data.transforms import eval_transform
    from tlstudio.core.zoo.preprocessing import Preprocessing
    index = ds.scan(nasty[0])
    pre = Preprocessing(16, 18, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    data = pickle.loads(pickle.dumps(ds.ImageDataset(index.samples, eval_transform(pre))))
    assert len(data) == 13
    x, y = data[0]
    assert isinstance(x, torch.Tensor) and x.shape == (3, 16, 16) and y == index.samples[0].label


def test_demo_data_scans_clean():
    index = ds.scan(demo_data_dir())
    assert index.classes == ["ankle_boot", "bag", "dress", "sneaker", "t-shirt_top", "trouser"]
    assert set(index.counts().values()) == {50} and index.skipped == []
    assert ds.load_image_rgb(index.samples[0].path).size == (28, 28)


def test_a_named_pipe_is_refused_at_once_not_read(tmp_path):
    """Opening a FIFO blocks until a writer appears: it used to hang predict/evaluate forever."""
    import threading

    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    outcome = {}

    def read():
        try:
            ds.load_image_rgb(fifo)
        except DatasetError as exc:
            outcome["error"] = str(exc)
        outcome["reason"] = ds.check_image_file(fifo)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():       # unblock the hung reader so the test run can end
        with open(fifo, "wb"):
            pass
        pytest.fail("reading a FIFO hung")
    assert "not a regular file" in outcome["error"]
    assert outcome["reason"] == "not a regular file"
