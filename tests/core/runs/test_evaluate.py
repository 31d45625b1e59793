"""Run loading, evaluation metrics and predictions on a small hand-made run folder."""
import json
import shutil

import pytest
import torch

from tests.core.runs.run_factory import make_run
from tlstudio.core.data.index import Sample
from tlstudio.core.errors import DatasetError, RunFolderError
from tlstudio.core.runs.evaluate import evaluate, evaluate_run
from tlstudio.core.paths import demo_data_dir
from tlstudio.core.runs.predict import predict_images
from tlstudio.core.runs.folder import load_model


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    torch.set_num_threads(2)
    return make_run(tmp_path_factory.mktemp("evalrun") / "run")


@pytest.fixture(scope="module")
def loaded(run):
    return load_model(run)


def test_load_model_restores_weights_exactly(run, loaded):
    from safetensors.torch import load_file
    saved = load_file(str(run / "best.safetensors"))
    state = loaded.model.state_dict()
    assert saved.keys() == state.keys()
    assert all(torch.equal(saved[k], state[k]) for k in saved)
    assert loaded.classes == ["bag", "sneaker", "trouser"]
    assert loaded.preprocessing.input_size == 64
    assert not loaded.model.training


@pytest.mark.parametrize("damage, fragment", [
    (lambda d: (d / "model.json").unlink(), "model.json missing"),
    (lambda d: (d / "best.safetensors").unlink(), "best.safetensors missing"),
    (lambda d: (d / "model.json").write_text("{nope"), "model.json unreadable"),
    (lambda d: (d / "best.safetensors").write_bytes(b"garbage"), "Cannot read the weights"),
])
def test_damaged_run_folder_raises_run_folder_error(run, tmp_path, damage, fragment):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    damage(copy)
    with pytest.raises(RunFolderError, match=fragment):
        load_model(copy)


def test_not_a_run_folder(tmp_path):
    with pytest.raises(RunFolderError) as info:
        load_model(tmp_path)
    assert str(info.value) == f"Not a TL Studio run or model folder: {tmp_path} (model.json missing)."


def test_weights_of_another_shape_are_rejected(run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    info = json.loads((copy / "model.json").read_text())
    info["head"]["layers"][0]["width"] = 8
    (copy / "model.json").write_text(json.dumps(info))
    with pytest.raises(RunFolderError, match="do not fit"):
        load_model(copy)


def test_metrics_agree_with_predictions(run, loaded):
    result = evaluate_run(loaded, run, split="val")
    preds = result["predictions"]
    assert len(preds) == 12 and result["samples"] == 12
    cm = torch.tensor(result["confusion_matrix"])
    classes = result["classes"]
    # Rows are true classes, columns predicted ones; recount from the predictions.
    recount = torch.zeros_like(cm)
    for p in preds:
        recount[classes.index(p["true"]), classes.index(p["predicted"])] += 1
    assert torch.equal(cm, recount)
    assert cm.sum(dim=1).tolist() == [4, 4, 4]
    correct = sum(p["true"] == p["predicted"] for p in preds)
    assert result["accuracy"] == pytest.approx(correct / 12)
    assert len(result["misclassified"]) == 12 - correct
    for i, name in enumerate(classes):
        m = result["per_class"][name]
        tp, col = int(cm[i, i]), int(cm[:, i].sum())
        assert m["support"] == 4
        assert m["recall"] == pytest.approx(tp / 4)
        assert m["precision"] == pytest.approx(tp / col if col else 0.0)
    assert result["top_k"] == 3 and result["top_k_accuracy"] == 1.0   # k = all classes
    # Confidence is the softmax of the predicted class: matches predict_images.
    single = predict_images(loaded, [preds[0]["path"]], top_k=1)[0]
    assert single["label"] == preds[0]["predicted"]
    assert single["probability"] == pytest.approx(preds[0]["confidence"], abs=1e-6)


def trousers_and_bags(folder):
    """Three demo trousers and three bags in class folders."""
    for name in ("trouser", "bag"):
        (folder / name).mkdir(parents=True)
        for src in sorted((demo_data_dir() / name).iterdir())[:3]:
            shutil.copy(src, folder / name / src.name)
    return folder


def test_test_split_and_folder_evaluation(run, loaded, tmp_path):
    assert evaluate_run(loaded, run, split="test")["samples"] == 6
    # A folder with a subset of classes (in another order) maps by name.
    folder = trousers_and_bags(tmp_path / "data")
    result = evaluate_run(loaded, run, data_dir=folder)
    assert result["samples"] == 6
    assert result["per_class"]["sneaker"]["support"] == 0
    assert result["per_class"]["bag"]["support"] == 3
    assert all(p["true"] in ("bag", "trouser") for p in result["predictions"])


def test_unknown_class_names_rejected(run, loaded, tmp_path):
    folder = tmp_path / "data"
    for name in ("bag", "dress"):
        (folder / name).mkdir(parents=True)
        for src in sorted((demo_data_dir() / name).iterdir())[:2]:
            shutil.copy(src, folder / name / src.name)
    with pytest.raises(DatasetError, match="dress"):
        evaluate_run(loaded, run, data_dir=folder)


def test_unreadable_images_are_skipped_not_fatal(loaded, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    good = sorted((demo_data_dir() / "bag").iterdir())[0]
    result = evaluate(loaded, [Sample(str(good), 0), Sample(str(bad), 1)], ["bag", "sneaker", "trouser"])
    assert result["samples"] == 1 and result["skipped"][0]["path"] == str(bad)
    preds = predict_images(loaded, [bad, good], top_k=2)
    assert set(preds[0]) == {"path", "error"} and preds[0]["path"] == str(bad)
    assert preds[1]["path"] == str(good) and len(preds[1]["top_k"]) == 2
    assert preds[1]["top_k"][0]["probability"] >= preds[1]["top_k"][1]["probability"]
    assert preds[1]["label"] == preds[1]["top_k"][0]["label"]


def test_predictions_do_not_depend_on_batching(loaded):
    paths = [str(p) for p in sorted((demo_data_dir() / "sneaker").iterdir())[:5]]
    one = predict_images(loaded, paths, batch_size=1)
    many = predict_images(loaded, paths, batch_size=4)
    for a, b in zip(one, many):
        assert a["label"] == b["label"]
        assert a["probability"] == pytest.approx(b["probability"], abs=1e-5)


def test_empty_split_is_reported(run, loaded, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    (copy / "split.json").write_text(json.dumps({"train": [], "val": [], "test": []}))
    with pytest.raises(DatasetError, match="empty"):
        evaluate_run(loaded, copy, split="val")


def test_bundled_imagenet_model_recognises_real_photos(tmp_path):
    from PIL import Image
    from skimage import data

    from tlstudio.core.runs.predict import predict_imagenet

    Image.fromarray(data.coffee()).save(tmp_path / "coffee.png")
    Image.fromarray(data.chelsea()).save(tmp_path / "cat.png")
    coffee, cat = predict_imagenet([tmp_path / "coffee.png", tmp_path / "cat.png"], top_k=5)
    assert coffee["label"] in ("espresso", "cup", "coffee mug")
    assert "cat" in cat["label"]
    assert len(cat["top_k"]) == 5 and sum(t["probability"] for t in cat["top_k"]) <= 1.0 + 1e-6


def test_evaluation_reads_samples_through_the_models_modality(run, loaded):
    """model.json's task picks the modality; evaluation scans and reads only through it."""
    import dataclasses

    from tlstudio.core.data.modality import register, unregister
    from tlstudio.core.data.image_modality import ImageModality

    class Recording(ImageModality):
        name = "recording"

        def __init__(self):
            self.scanned, self.read = [], []

        def scan(self, path, *, job=None):
            self.scanned.append(str(path))
            return super().scan(path, job=job)

        def input_reader(self, pre):
            inner = super().input_reader(pre)

            def read(sample):
                self.read.append(sample)
                return inner(sample)
            return read

    recording = Recording()
    register(recording)
    try:
        as_recording = dataclasses.replace(loaded, info={**loaded.info, "task": "recording"})
        on_split = evaluate_run(as_recording, run, split="val")
        assert len(recording.read) == 12 and recording.scanned == []
        assert on_split["accuracy"] == evaluate_run(loaded, run, split="val")["accuracy"]   # as with "image"
        with pytest.raises(DatasetError, match="does not know"):     # the demo data has more classes
            evaluate_run(as_recording, run, data_dir=demo_data_dir())
        assert recording.scanned == [str(demo_data_dir())]
    finally:
        unregister("recording")
    with pytest.raises(DatasetError, match="'recording'"):
        evaluate_run(as_recording, run, split="val")
    with pytest.raises(DatasetError, match="'sound'"):
        evaluate_run(dataclasses.replace(loaded, info={**loaded.info, "task": "sound"}), run, split="val")


def test_a_split_of_text_samples_round_trips(run, tmp_path):
    from tlstudio.core.runs.evaluate import split_samples

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    (copy / "split.json").write_text(json.dumps({"val": [["notes.csv:2", 1, "a short note"], ["x.png", 0]]}))
    samples = split_samples(copy, "val")
    assert [(s.path, s.label, s.text) for s in samples] == [("notes.csv:2", 1, "a short note"), ("x.png", 0, None)]
    (copy / "split.json").write_text(json.dumps({"val": [["x.png"]]}))
    with pytest.raises(RunFolderError, match="Invalid split.json"):
        split_samples(copy, "val")


def test_evaluating_the_projects_own_dataset_applies_its_curation(run, loaded, tmp_path):
    """`evaluate RUN DATA` on the run's project dataset leaves out its exclusions and uses its overrides;
    the same files elsewhere are evaluated as they are."""
    from tlstudio.core.project import Project

    folder = trousers_and_bags(tmp_path / "data")
    plain = evaluate_run(loaded, run, data_dir=folder)
    keys = sorted(f"{p.parent.name}/{p.name}" for p in folder.glob("*/*.png"))
    project = Project()
    project.data.path = str(folder)
    project.data.exclusions = [keys[0]]
    project.data.label_overrides = {keys[-1]: "bag"}                # a trouser file relabelled as a bag
    snapshot = run / "project.json"
    snapshot.write_text(json.dumps(project.to_dict()))
    try:
        curated = evaluate_run(loaded, run, data_dir=folder)
        copy = tmp_path / "copy"
        shutil.copytree(folder, copy)
        elsewhere = evaluate_run(loaded, run, data_dir=copy)
    finally:
        snapshot.unlink()
    assert plain["samples"] == 6 and curated["samples"] == 5 and elsewhere["samples"] == 6
    assert (plain["per_class"]["bag"]["support"], curated["per_class"]["bag"]["support"]) == (3, 3)
    assert (plain["per_class"]["trouser"]["support"], curated["per_class"]["trouser"]["support"]) == (3, 2)
    assert keys[0].startswith("bag/") and keys[-1].startswith("trouser/")
