"""Multi-label runs on real features: composed Fashion-MNIST pictures (bundled EfficientNet-Lite0) and
joined WordNet definitions (bundled MiniLM), through the same Trainer, evaluate, predict, export and audit.
A single-label run on the same code paths stays as it was."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.demo_subset import make_subset
from tests.multilabel_data import compose_images, compose_texts, demo_image_items, demo_text_items
from tlstudio.core.model.head import HeadSpec
from tlstudio.core.project import Project
from tlstudio.core.runs import export
from tlstudio.core.runs.evaluate import evaluate_run
from tlstudio.core.runs.folder import load_model
from tlstudio.core.runs.multilabel_metrics import multilabel_metrics
from tlstudio.core.runs.predict import predict_images, predict_texts
from tlstudio.core.train.trainer import Trainer

torch.set_num_threads(2)
LABELS = ["ankle_boot", "bag", "dress", "sneaker", "t-shirt_top", "trouser"]


def _image_project(data, **training) -> Project:
    p = Project(name="multi")
    p.data.path = str(data)
    p.data.test_fraction = 0.2
    p.model.name = "tf_efficientnet_lite0"
    p.model.image_size = 64
    for k, v in training.items():
        setattr(p.training, k, v)
    return p


def _train(project, run_dir) -> dict:
    metrics = Trainer(project, run_dir).run()
    assert metrics["error"] is None, metrics["error"]
    return metrics


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi-images")
    manifest = compose_images(demo_image_items(25), root / "data", 150, seed=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLSTUDIO_CACHE_DIR", str(root / "cache"))
        metrics = _train(_image_project(manifest), root / "run")      # the defaults: head search
    return {"root": root, "manifest": manifest, "metrics": metrics, "run": root / "run"}


def test_the_search_trains_label_sets_and_keeps_out_of_fold_thresholds(image_run):
    m, run = image_run["metrics"], image_run["run"]
    assert m["task_type"] == "multilabel" and m["thresholds_chosen_on"].endswith("cross-validation")
    info = json.loads((run / "model.json").read_text())
    assert info["task_type"] == "multilabel" and info["classes"] == LABELS
    assert info["thresholds"] == m["thresholds"] and len(m["thresholds"]) == 6
    assert all(0 < t < 1 for t in m["thresholds"])
    # Out-of-fold figures, far above what guessing the label frequencies would give (~0.3).
    assert m["multilabel"]["micro_f1"] > 0.6, m["multilabel"]
    assert m["test_micro_f1"] > 0.6 and m["test_mean_ap"] > 0.7, m
    # split.json rows carry the label sets; the held-out file the per-label probabilities.
    split = json.loads((run / "split.json").read_text())
    assert all(len(row) == 4 and row[3] for part in split.values() for row in part)
    heldout = json.loads((run / "heldout_predictions.json").read_text())
    assert heldout["thresholds"] == m["thresholds"] and len(heldout["predictions"][0]["probabilities"]) == 6


def test_evaluate_gives_per_label_figures_that_the_thresholds_reproduce(image_run):
    loaded = load_model(image_run["run"])
    result = evaluate_run(loaded, image_run["run"], split="test")
    assert set(result["per_label"]) == set(LABELS) and result["source"] == "test split"
    again = multilabel_metrics(np.array(result["probabilities"]), np.array(result["targets"]),
                               loaded.thresholds, LABELS)
    assert again.micro_f1 == pytest.approx(result["micro_f1"], abs=1e-6)
    assert result["micro_f1"] == pytest.approx(image_run["metrics"]["test_micro_f1"], abs=1e-6)
    # Tuned thresholds beat a single 0.5 on the out-of-fold predictions they were chosen on.
    oof = evaluate_run(loaded, image_run["run"], split="heldout")
    at_half = multilabel_metrics(np.array(oof["probabilities"]), np.array(oof["targets"]), 0.5, LABELS)
    assert oof["micro_f1"] >= at_half.micro_f1


def test_predict_gives_label_sets_that_match_the_truth(image_run):
    loaded = load_model(image_run["run"])
    split = json.loads((image_run["run"] / "split.json").read_text())
    rows = split["test"]
    results = predict_images(loaded, [row[0] for row in rows])
    overlap = 0
    for row, r in zip(rows, results):
        chosen = {x["label"] for x in r["labels"]}
        assert all(x["probability"] >= x["threshold"] for x in r["labels"])
        overlap += bool(chosen & {LABELS[i] for i in row[3]})
    assert overlap / len(rows) > 0.8, overlap


def test_onnx_gives_sigmoid_probabilities_with_labels_and_thresholds(image_run, tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    loaded = load_model(image_run["run"])
    result = export.export_onnx(image_run["run"], tmp_path / "m.onnx")
    assert result["max_abs_diff"] < 1e-3
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert json.loads(meta["tlstudio.labels"]) == LABELS
    assert json.loads(meta["tlstudio.thresholds"]) == loaded.thresholds
    inputs, _ = export.parity_inputs(loaded, image_run["run"], None)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_outputs()[0].name == "probabilities"
    out = session.run(None, {session.get_inputs()[0].name: inputs.numpy()})[0]
    with torch.no_grad():
        expected = torch.sigmoid(loaded.model(inputs)).numpy()
    assert np.abs(out - expected).max() < 1e-4 and ((out >= 0) & (out <= 1)).all()
    bundle = export.export_bundle(image_run["run"], tmp_path / "bundle")
    assert load_model(bundle).thresholds == loaded.thresholds


def test_the_epoch_loop_chooses_thresholds_on_the_validation_split(image_run, tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(image_run["root"] / "cache"))
    project = _image_project(image_run["manifest"], head_fit="epochs", epochs=8, lr=3e-3, auto=[])
    project.head = HeadSpec(layers=[])
    m = _train(project, tmp_path / "run")
    # the features came from the cache; the whole model ran only on val (thresholds) and test
    assert m["cached_features"] and m["base_forward_images"] == m["val_images"] + m["test_images"]
    assert m["thresholds_chosen_on"] == "validation split"
    assert json.loads((tmp_path / "run" / "model.json").read_text())["thresholds"] == m["thresholds"]
    assert m["test_micro_f1"] > 0.5, m


def test_audit_finds_planted_missing_and_wrong_labels(tmp_path):
    import csv

    from tlstudio.core.insight.report import run_audit

    pytest.importorskip("transformers")
    source = compose_texts(demo_text_items(), tmp_path / "data", 150, seed=3)
    with open(source, encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    topics = sorted({t for _, cell in rows[1:] for t in cell.split("|")})
    planted = {}
    for k, (text, cell) in enumerate(rows[1:], start=2):      # line k of the file
        labels = cell.split("|")
        if len(labels) == 2 and sum(v[0] == "missing" for v in planted.values()) < 5:
            rows[k - 1][1] = labels[0]                          # drop a label the text carries
            planted[f"texts.csv:{k}"] = ("missing", labels[1])
        elif len(labels) == 1 and sum(v[0] == "wrong" for v in planted.values()) < 5:
            extra = next(t for t in topics if t not in labels)
            rows[k - 1][1] = f"{labels[0]}|{extra}"             # add a label it does not carry
            planted[f"texts.csv:{k}"] = ("wrong", extra)
    with open(source, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    project = Project(name="audit", task="text")
    project.data.path = str(source)
    project.model.name = "all-MiniLM-L6-v2"
    project.model.max_length = 48
    report = run_audit(project).to_json()
    found = {(x["row"], x["kind"], x["label"]) for x in report["label_set_issues"][:25]}
    hits = sum((row, kind, label) in found for row, (kind, label) in planted.items())
    assert hits >= 7, (hits, planted, report["label_set_issues"][:10])
    assert report["label_issues"] == [] and report["counts"]["label_set_issues"] >= hits


def test_text_label_sets_train_and_predict(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    data = compose_texts(demo_text_items(), tmp_path / "data", 150, seed=2, jsonl=True)
    project = Project(name="multi text", task="text")
    project.data.path = str(data)
    project.model.name = "all-MiniLM-L6-v2"
    project.model.max_length = 48
    m = _train(project, tmp_path / "run")
    assert m["task_type"] == "multilabel" and m["multilabel"]["micro_f1"] > 0.75, m["multilabel"]
    loaded = load_model(tmp_path / "run")
    out = predict_texts(loaded, ["an edible fruit with a sweet taste; a large wild cat of the forest",
                                 "a port city in the north of Italy"])
    assert {"food", "animal"} <= {x["label"] for x in out[0]["labels"]} | {out[0]["top_k"][1]["label"]}
    assert out[1]["labels"] and out[1]["labels"][0]["label"] == "location"


def test_a_single_label_run_is_untouched(tmp_path, monkeypatch):
    data = make_subset(tmp_path / "data", 8)
    m = _train(_image_project(data), tmp_path / "run")
    info = json.loads((tmp_path / "run" / "model.json").read_text())
    assert "task_type" not in info and "thresholds" not in info
    assert not {"task_type", "thresholds", "multilabel"} & set(m)
    assert all(len(row) == 2 for part in json.loads((tmp_path / "run" / "split.json").read_text()).values()
               for row in part)
    project = json.loads((tmp_path / "run" / "project.json").read_text())
    assert project["data"]["task_type"] == "auto"          # a new project detects; it found one label per row
    loaded = load_model(tmp_path / "run")
    assert loaded.thresholds is None
    r = predict_images(loaded, [str(next((data / "bag").iterdir()))])[0]
    assert "labels" not in r and sum(x["probability"] for x in r["top_k"]) <= 1.0 + 1e-6
