"""Predict a folder with a multi-label model: every row carries the whole predicted label set and each
label's own probability (CSV and JSON Lines), a cancelled run resumes without duplicates, a file of the
other kind is refused, and the rows read back are the rows written."""
import csv
import dataclasses
import json
import shutil

import pytest
import torch

from tests.core.runs.run_factory import make_run
from tlstudio.core.errors import ExportError
from tlstudio.core.paths import demo_data_dir
from tlstudio.core.progress import Cancelled, JobState
from tlstudio.core.runs.folder import load_model
from tlstudio.core.runs.predict import predict_images
from tlstudio.core.runs.predict_folder import predict_folder
from tlstudio.core.runs.prediction_files import (CSV_COLUMNS, MULTILABEL_CSV_COLUMNS, read_predictions,
                                                 write_predictions)

# bag and sneaker pass at any probability, trouser never: every row's set is {bag, sneaker}
THRESHOLDS = [0.0, 0.0, 1.01]


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    torch.set_num_threads(2)
    return load_model(make_run(tmp_path_factory.mktemp("predfolder_ml") / "run"))


@pytest.fixture(scope="module")
def multi(single):
    return dataclasses.replace(single, info={**single.info, "task_type": "multilabel", "thresholds": THRESHOLDS})


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "photos"
    for cls in ("bag", "sneaker", "trouser"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            shutil.copyfile(demo_data_dir() / cls / f"{i:03d}.png", root / cls / f"{i:03d}.png")
    (root / "trouser" / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return root


def _csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_multilabel_rows_carry_the_whole_label_set_and_per_label_probabilities(multi, folder, tmp_path):
    summary = predict_folder(multi, folder, tmp_path / "ml.csv", top_k=1, batch_size=4)
    header, *rows = _csv(tmp_path / "ml.csv")
    assert header == list(MULTILABEL_CSV_COLUMNS)
    keys = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.png"))
    assert [r[0] for r in rows] == keys
    single = {str(p["path"]): p for p in predict_images(multi, [folder / k for k in keys], top_k=1)}
    for path, labels, label, probability, top_k, error in rows:
        one = single[str(folder / path)]
        if path.endswith("zz_broken.png"):
            assert error and labels == label == top_k == ""
            continue
        expected = [entry["label"] for entry in one["labels"]]
        assert sorted(expected) == ["bag", "sneaker"]                 # both pass, most probable first
        assert labels.split(";") == expected and label == expected[0]
        # top_k=1 was asked, but every label of the set has its own (sigmoid) probability there, most
        # probable first (a label above the set's but under its own threshold too: trouser may be)
        cells = dict(part.split("=") for part in top_k.split("; "))
        assert set(expected) <= set(cells) and len(cells) <= 3
        assert [float(v) for v in cells.values()] == sorted((float(v) for v in cells.values()), reverse=True)
        for entry in one["labels"]:
            assert float(cells[entry["label"]]) == pytest.approx(entry["probability"], abs=1e-4)
        assert float(probability) == pytest.approx(one["labels"][0]["probability"], abs=1e-5)
    assert summary["per_label"] == {"bag": 9, "sneaker": 9} and summary["errors"] == 1

    predict_folder(multi, folder, tmp_path / "ml.jsonl", top_k=1, batch_size=5)
    lines = [json.loads(x) for x in (tmp_path / "ml.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [x["path"] for x in lines] == keys
    for x, row in zip(lines, rows):
        if "error" in x:
            assert set(x) == {"path", "error"}
            continue
        assert x["labels"] == row[1].split(";") and set(x["labels"]) <= {t["label"] for t in x["top_k"]}
        assert all(0.0 <= t["probability"] <= 1.0 for t in x["top_k"])


def test_a_cancelled_multilabel_file_resumes_and_reads_back(multi, folder, tmp_path):
    out = tmp_path / "p.csv"
    job = JobState()
    with pytest.raises(Cancelled):
        predict_folder(multi, folder, out, batch_size=4, job=job, on_rows=lambda rows: job.cancel())
    assert len(_csv(out)) == 1 + 4
    resumed = predict_folder(multi, folder, out, batch_size=4)
    assert resumed["already"] == 4 and resumed["new"] == 6 and resumed["rows"] == 10
    assert resumed["per_label"] == {"bag": 9, "sneaker": 9}          # the whole file, each row's set
    fresh = tmp_path / "fresh.csv"
    predict_folder(multi, folder, fresh, batch_size=4)
    assert [r[:3] + r[5:] for r in _csv(out)] == [r[:3] + r[5:] for r in _csv(fresh)]
    assert predict_folder(multi, folder, out)["new"] == 0

    # read back: the rows as prediction_entry makes them, the set with its probabilities
    back = [row for chunk in read_predictions(out, multilabel=True, chunk=3) for row in chunk]
    assert len(back) == 10 and [r["path"] for r in back] == [r[0] for r in _csv(out)[1:]]
    good = [r for r in back if not r.get("error")]
    assert all({e["label"] for e in r["labels"]} <= {t["label"] for t in r["top_k"]} for r in good)
    assert all(e["probability"] is not None for r in good for e in r["labels"])
    # and written again (the GUI's "Save as CSV"), the same file
    write_predictions(back, tmp_path / "again.csv")
    assert _csv(tmp_path / "again.csv") == _csv(out)


def test_a_file_of_the_other_kind_is_refused_and_left_alone(single, multi, folder, tmp_path):
    for name in ("s.csv", "s.jsonl"):
        predict_folder(single, folder, tmp_path / name, batch_size=8)
        before = (tmp_path / name).read_bytes()
        with pytest.raises(ExportError, match="holds single-label predictions and this model is multi-label"):
            predict_folder(multi, folder, tmp_path / name)
        assert (tmp_path / name).read_bytes() == before
    assert _csv(tmp_path / "s.csv")[0] == list(CSV_COLUMNS)         # single-label files: unchanged columns
    first = json.loads((tmp_path / "s.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert set(first) == {"path", "label", "probability", "top_k"}
    predict_folder(multi, folder, tmp_path / "m.jsonl", batch_size=8)
    with pytest.raises(ExportError, match="holds multi-label predictions and this model is single-label"):
        predict_folder(single, folder, tmp_path / "m.jsonl")
    with pytest.raises(ExportError, match="multi-label"):
        list(read_predictions(tmp_path / "m.jsonl"))
