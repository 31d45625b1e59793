"""Predict a folder: real images in nested folders (plus a corrupt and a non-image file) to CSV and JSON
Lines, rows matching single-file prediction, resume after a cancel or a cut line, foreign files refused."""
import csv
import json
import shutil

import pytest
import torch

from tests.core.runs.run_factory import make_run
from tlstudio.core.data.image_modality import ImageModality
from tlstudio.core.data.modality import register, unregister
from tlstudio.core.errors import DatasetError, ExportError
from tlstudio.core.paths import demo_data_dir
from tlstudio.core.progress import Cancelled, JobState
from tlstudio.core.runs.folder import load_model
from tlstudio.core.runs.predict import predict_images
from tlstudio.core.runs.predict_folder import PREFETCH_BATCHES, FolderPredictor, predict_folder
from tlstudio.core.runs.prediction_files import CSV_COLUMNS, PredictionFile, write_predictions

IMAGES = {"bag/a": ("bag", 0, 4), "bag/a/deeper": ("bag", 4, 6), "shoes": ("sneaker", 0, 5),
          "trousers": ("trouser", 0, 3)}
EXPECTED_KEYS = sorted([f"{sub}/{i:03d}.png" for sub, (_, lo, hi) in IMAGES.items() for i in range(lo, hi)]
                       + ["shoes/zz_corrupt.jpg"])


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    torch.set_num_threads(2)
    return load_model(make_run(tmp_path_factory.mktemp("predfolder") / "run"))


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "photos"
    for sub, (cls, lo, hi) in IMAGES.items():
        (root / sub).mkdir(parents=True)
        for i in range(lo, hi):
            shutil.copyfile(demo_data_dir() / cls / f"{i:03d}.png", root / sub / f"{i:03d}.png")
    (root / "shoes" / "zz_corrupt.jpg").write_bytes((demo_data_dir() / "bag" / "010.png").read_bytes()[:90])
    (root / "README.txt").write_text("not an image\n")                 # not an input: never listed
    (root / ".hidden").mkdir()
    shutil.copyfile(demo_data_dir() / "bag" / "020.png", root / ".hidden" / "x.png")
    return root


def _csv_rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == list(CSV_COLUMNS)
    return rows[1:]


def test_a_folder_is_predicted_to_csv_and_jsonl_as_single_files_are(loaded, folder, tmp_path):
    summary = predict_folder(loaded, folder, tmp_path / "out.csv", top_k=2, batch_size=4)
    rows = _csv_rows(tmp_path / "out.csv")
    assert [r[0] for r in rows] == EXPECTED_KEYS
    single = {str(p["path"]): p for p in predict_images(loaded, [folder / k for k in EXPECTED_KEYS], top_k=2)}
    for key, label, probability, top_k, error in rows:
        one = single[str(folder / key)]
        if key.endswith("zz_corrupt.jpg"):
            assert "error" in one and error and "zz_corrupt.jpg" in error and label == probability == top_k == ""
            continue
        assert error == "" and label == one["label"]
        assert float(probability) == pytest.approx(one["probability"], abs=1e-5)
        assert [t.split("=")[0] for t in top_k.split("; ")] == [t["label"] for t in one["top_k"]]
    labels = [r[1] for r in rows if r[1]]
    assert summary["new"] == summary["rows"] == summary["inputs"] == 15 and summary["errors"] == 1
    assert summary["per_label"] == {name: labels.count(name) for name in set(labels)}
    assert summary["already"] == 0 and summary["format"] == "csv" and summary["noun"] == "images"

    predict_folder(loaded, folder, tmp_path / "out.jsonl", top_k=2, batch_size=7)
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["path"] for r in lines] == EXPECTED_KEYS
    assert [r.get("label") for r in lines] == [r[1] or None for r in rows]
    assert "error" in lines[EXPECTED_KEYS.index("shoes/zz_corrupt.jpg")]
    assert all(len(r["top_k"]) == 2 for r in lines if "label" in r)


def test_a_cancelled_run_resumes_without_duplicates(loaded, folder, tmp_path):
    out = tmp_path / "p.csv"
    job = JobState()
    with pytest.raises(Cancelled):
        predict_folder(loaded, folder, out, batch_size=4, job=job, on_rows=lambda rows: job.cancel())
    assert [r[0] for r in _csv_rows(out)] == EXPECTED_KEYS[:4]       # the finished batch is on disk
    resumed = predict_folder(loaded, folder, out, batch_size=4)
    assert resumed["already"] == 4 and resumed["new"] == 11 and resumed["rows"] == 15
    fresh = tmp_path / "fresh.csv"
    predict_folder(loaded, folder, fresh, batch_size=4)
    assert _csv_rows(out) == _csv_rows(fresh)

    # A kill in the middle of a write leaves a partial last line: it is dropped and that row predicted again.
    whole = out.read_text(encoding="utf-8")
    cut = whole[:whole.rindex("\n", 0, len(whole) - 1) + 1] + whole.splitlines()[-1][:9]
    out.write_text(cut, encoding="utf-8")
    again = predict_folder(loaded, folder, out, batch_size=4)
    assert again["new"] == 1 and again["already"] == 14
    assert _same_rows(_csv_rows(out), _csv_rows(fresh))        # (alone in its batch: float noise aside)
    before = out.read_bytes()
    assert predict_folder(loaded, folder, out)["new"] == 0 and out.read_bytes() == before


def _same_rows(a, b) -> bool:
    """Same paths, labels and errors; probabilities within 1e-5 (batch composition changes the last bits)."""
    return len(a) == len(b) and all(
        (x[0], x[1], x[4]) == (y[0], y[1], y[4]) and (x[2] == y[2] or abs(float(x[2]) - float(y[2])) < 1e-5)
        for x, y in zip(a, b))


def test_files_the_app_did_not_write_are_refused_and_left_alone(loaded, folder, tmp_path):
    foreign = {"people.csv": "name,age\nbob,3\n", "notes.jsonl": '{"name": "bob"}\n',
               "cut.jsonl": "just some words", "data.csv": "path,label\nx.png,cat\n"}
    for name, text in foreign.items():
        target = tmp_path / name
        target.write_text(text, encoding="utf-8")
        with pytest.raises(ExportError, match="not a TL Studio .* prediction file") as info:
            predict_folder(loaded, folder, target)
        assert "\n" not in str(info.value) and target.read_text(encoding="utf-8") == text
        with pytest.raises(ExportError):
            write_predictions([{"path": "a.png", "error": "x"}], target)
        assert target.read_text(encoding="utf-8") == text
    ours = tmp_path / "ours.csv"
    predict_folder(loaded, folder, ours)
    with pytest.raises(ExportError, match="JSONL"):          # a CSV prediction file is not a JSONL one
        predict_folder(loaded, folder, ours, fmt="jsonl")
    assert write_predictions([{"path": "a.png", "error": "unreadable"}], ours) == ours   # ours may be replaced
    assert _csv_rows(ours) == [["a.png", "", "", "", "unreadable"]]


def test_an_output_file_inside_the_folder_is_not_an_input_and_empty_folders_are_refused(loaded, folder, tmp_path):
    out = folder / "predictions.jsonl"
    summary = predict_folder(loaded, folder, out, batch_size=8)
    assert summary["inputs"] == 15
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "notes.txt").write_text("hi")
    with pytest.raises(DatasetError, match="no images below"):
        predict_folder(loaded, tmp_path / "empty", tmp_path / "none.csv")
    assert not (tmp_path / "none.csv").exists()
    with pytest.raises(DatasetError, match="is not a folder"):
        predict_folder(loaded, folder / "README.txt", tmp_path / "none.csv")


def test_the_listing_is_read_as_batches_go_not_all_at_once(loaded, folder):
    """Streaming: when the first batch comes out, only a few batches were taken from the listing."""
    pulled = []

    class Counting(ImageModality):
        name = "counting"

        def folder_inputs(self, root, *, data=None, exclude=()):
            for item in super().folder_inputs(root, data=data, exclude=exclude):
                pulled.append(item.key)
                yield item

    register(Counting())
    try:
        import dataclasses
        as_counting = dataclasses.replace(loaded, info={**loaded.info, "task": "counting"})
        predictor = FolderPredictor(as_counting, folder, batch_size=2, threads=1)
        assert predictor.count() == 15                      # the counting pass lists every name once
        pulled.clear()
        batches = predictor.batches()
        first = next(batches)
        assert len(first) == 2 and predictor.total == 15
        assert len(pulled) <= (PREFETCH_BATCHES + 1) * 2 < 15
        assert sum(len(b) for b in batches) == 13
    finally:
        unregister("counting")


def test_a_prediction_file_keeps_what_it_holds(tmp_path):
    rows = [{"path": "a\nb.png", "label": "x, y", "probability": 0.5, "top_k": [{"label": "x, y", "probability": 0.5}]},
            {"path": 'q"uote.png', "error": "broken\nfile"}]
    for name in ("r.csv", "r.jsonl"):
        write_predictions(rows, tmp_path / name)
        held = PredictionFile.open(tmp_path / name).written
        assert held.keys == {"a b.png", 'q"uote.png'} and held.labels == {"x, y": 1} and held.errors == 1
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 3
