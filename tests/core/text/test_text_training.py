"""Text runs end to end through the same Trainer: freeze -> train -> fine-tune -> predict -> ONNX."""
import json

import pytest
import torch
from safetensors.torch import load_file

from tlstudio.core.data.modality import modality_for
from tlstudio.core.errors import ExportError, ProjectError
from tlstudio.core.model import blocks
from tlstudio.core.paths import resources_dir
from tlstudio.core.project import Project, detect_task
from tlstudio.core.runs import export
from tlstudio.core.runs.evaluate import evaluate_run
from tlstudio.core.runs.folder import load_model
from tlstudio.core.runs.predict import predict_texts
from tlstudio.core.train.trainer import Trainer
from tlstudio.core.model.build import card_for, create_transfer_model
from tlstudio.core.zoo.text_encoder import TextEncoder

from tests.core.text.tiny_models import save_tiny, write_topic_csv

pytest.importorskip("transformers")
DEMO = resources_dir() / "demo_text_data" / "wordnet_definitions.csv"


def _project(data, model, **training):
    p = Project(name="text", task="text")
    p.data.path = str(data)
    p.model.name = str(model)
    p.model.max_length = 32
    p.training.epochs = training.pop("epochs", 4)
    p.training.lr = training.pop("lr", 1e-2)
    p.training.head_fit = training.pop("head_fit", "epochs")     # the epoch loop on text features
    for k, v in training.items():
        setattr(p.training, k, v)
    return p


def _run(project, run_dir):
    events = []
    metrics = Trainer(project, run_dir, events.append).run()
    assert metrics["error"] is None, metrics["error"]
    return metrics, events


def test_bundled_minilm_transfers_to_the_demo_texts_through_the_trainer_and_the_cache_hits(tmp_path):
    torch.set_num_threads(2)
    project = _project(DEMO, "all-MiniLM-L6-v2", epochs=15)
    assert detect_task(DEMO) == "text"
    first, _ = _run(project, tmp_path / "run1")
    assert first["cached_features"] and first["base_forward_images"] == 360
    loaded = load_model(tmp_path / "run1")
    held_out = evaluate_run(loaded, tmp_path / "run1")          # the run's validation texts
    chance = 1 / len(loaded.classes)
    assert held_out["accuracy"] > 0.75 > 4 * chance, held_out["accuracy"]
    assert all("text" in m for m in held_out["misclassified"])
    # The frozen encoder is bitwise the pretrained one after training.
    pretrained = create_transfer_model(card_for("all-MiniLM-L6-v2", "text"), project.head, 6)
    trained = load_file(str(tmp_path / "run1" / "best.safetensors"))
    base = {k: v for k, v in pretrained.state_dict().items() if k.startswith("base.")}
    assert base and all(torch.equal(trained[k], v) for k, v in base.items())
    # The second run reads every pooled feature from the cache.
    second, _ = _run(project, tmp_path / "run2")
    assert second["cached_features"] and second["base_forward_images"] == 0
    assert second["val_accuracy"] == pytest.approx(first["val_accuracy"])
    # Another max length is another key: the encoder runs again.
    project.model.max_length = 24
    third, _ = _run(project, tmp_path / "run3")
    assert third["base_forward_images"] == 360
    top = predict_texts(loaded, ["a sweet dessert baked from flour, eggs and sugar"], top_k=2)[0]
    assert top["label"] == "food" and len(top["top_k"]) == 2


@pytest.mark.parametrize("family, pooling, layer_prefix", [
    ("bert", "first", "base.base.encoder.layer."),
    ("gpt2", "last", "base.base.h."),
    ("xlnet", "last", "base.base.layer."),
])
def test_tiny_families_freeze_train_finetune_predict_and_export_onnx(tmp_path, family, pooling, layer_prefix):
    folder = save_tiny(tmp_path / family, family)
    data = write_topic_csv(tmp_path / "topics.csv")
    project = _project(data, folder, epochs=3)
    project.finetune.enabled, project.finetune.epochs, project.finetune.unfreeze_last = True, 2, 1
    metrics, _ = _run(project, tmp_path / "run")
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert {h["stage"] for h in history} == {1, 2}
    n = metrics["train_images"] + metrics["val_images"]
    assert metrics["cached_features"] and metrics["base_forward_images"] == n * (1 + 2)   # one pass, 2 fine-tune epochs

    loaded = load_model(tmp_path / "run")
    assert isinstance(loaded.model.base, TextEncoder) and loaded.model.base.pooling.mode == pooling
    assert loaded.preprocessing.folder == str(tmp_path / "run" / "text_model")
    # Fine-tuning the last layer changed it and nothing below it.
    start = create_transfer_model(card_for(folder, "text"), project.head, 3).state_dict()
    trained = loaded.model.state_dict()
    last = f"{layer_prefix}2."
    changed = {k for k, v in start.items() if k.startswith("base.") and not torch.equal(trained[k], v)}
    assert changed and all(k.startswith(last) or ".ln_f." in k or "layer_norm" in k for k in changed), changed
    assert blocks.block_names(loaded.model)[-1] == f"{layer_prefix}2"
    assert len(blocks.block_groups(loaded.model)) == 4               # embeddings + 3 transformer layers

    results = predict_texts(loaded, ["rain and cold wind", "cat", "sweet cake with apple", "  "])
    assert [r.get("label") in loaded.classes for r in results[:3]] == [True] * 3 and "error" in results[3]

    out = tmp_path / "model.onnx"
    result = export.export_onnx(tmp_path / "run", out)
    assert result["max_abs_diff"] < 1e-3 and result["samples"] >= 2
    import onnxruntime as ort

    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input_ids", "attention_mask"]
    from tlstudio.core.data.text_modality import pad_batch, tokenize

    batch = pad_batch(tokenize(loaded.preprocessing, ["cat dog bird fish cold", "bread"]))   # new batch and length
    with torch.inference_mode():
        reference = loaded.model(batch).numpy()
    got = session.run(None, {k: v.numpy() for k, v in batch.items()})[0]
    assert abs(got - reference).max() < 1e-3


def test_text_bundle_carries_the_tokenizer_and_reloads_without_the_model_folder(tmp_path):
    folder = save_tiny(tmp_path / "gpt", "gpt2")
    project = _project(write_topic_csv(tmp_path / "t.csv"), folder, epochs=2)
    _run(project, tmp_path / "run")
    bundle = export.export_bundle(tmp_path / "run", tmp_path / "bundle")
    import shutil

    shutil.rmtree(folder)                                   # the original model folder is gone
    assert (bundle / "text_model" / "tokenizer.json").is_file() and not (bundle / "text_model" / "model.safetensors").exists()
    manifest = json.loads((bundle / export.EXPORT_MANIFEST).read_text())
    assert "text_model" in manifest["files"]
    versions = json.loads((bundle / "model.json").read_text())["versions"]
    assert {"torch", "tlstudio", "transformers", "tokenizers"} <= set(versions)     # what a text model needs
    reloaded = load_model(bundle)
    original = load_model(tmp_path / "run")
    texts = ["cat and dog", "cold rain"]
    assert [r["top_k"] for r in predict_texts(reloaded, texts)] == [r["top_k"] for r in predict_texts(original, texts)]
    # Replacing the earlier bundle (with --force) replaces its tokenizer folder too.
    export.export_bundle(tmp_path / "run", bundle, force=True)
    assert (bundle / "text_model" / "tokenizer.json").is_file()
    with pytest.raises(ExportError, match="TorchScript"):
        export.export_torchscript(tmp_path / "run", tmp_path / "m.pt")


def test_max_length_is_range_checked_and_text_projects_have_no_augmentation(tmp_path):
    folder = save_tiny(tmp_path / "bert", "bert")
    modality = modality_for("text")
    project = _project(write_topic_csv(tmp_path / "t.csv"), folder)
    card = modality.model_card(project.model)
    for bad in (0, 3, 65, 10_000):
        project.model.max_length = bad
        with pytest.raises(ProjectError, match="maximum text length"):
            modality.preprocessing(card, project.model)
    project.model.max_length = 64
    assert modality.preprocessing(card, project.model).max_length == 64
    project.data.augment = "light"
    events = []
    metrics = Trainer(project, tmp_path / "run", events.append).run()
    assert "augmentation" in metrics["error"]


def test_project_task_is_detected_from_the_data_when_not_set(tmp_path):
    d = Project(name="x").to_dict()
    del d["task"]
    d["data"]["path"] = str(DEMO)
    assert Project.from_dict(d).task == "text"
    d["data"]["path"] = str(tmp_path)
    assert Project.from_dict(d).task == "image"
    p = Project.from_dict({**d, "task": "image"})
    p.data.path = str(DEMO)
    assert p.detect_task() == "text"
    p.model.max_length = 96
    again = Project.from_dict(json.loads(json.dumps(p.to_dict())))
    assert again.model.max_length == 96 and again.task == "text"
