"""Few labels: contrastive tuning of the encoder (SetFit-style) and the run mode that uses it."""
import json

import pytest
import torch

from tlstudio.core.data.index import Sample
from tlstudio.core.data.modality import modality_for
from tlstudio.core.errors import ProjectError
from tlstudio.core.paths import resources_dir
from tlstudio.core.project import Project
from tlstudio.core.train.contrastive import balanced_batches, class_separation, pair_loss, tune_base
from tlstudio.core.train.few_label_stage import few_label_plan

pytest.importorskip("transformers")
DEMO = resources_dir() / "demo_text_data" / "wordnet_definitions.csv"


class Card:
    def __init__(self, pooling):
        self.pooling = pooling


def test_the_pair_loss_is_low_for_separated_classes_and_high_for_mixed_ones():
    labels = torch.tensor([0, 0, 1, 1])
    apart = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])
    mixed = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]])
    assert pair_loss(apart, labels) < 0.01 < 0.5 < pair_loss(mixed, labels)
    assert class_separation(apart, labels) > 0.8 and class_separation(mixed, labels) < -0.3


def test_every_batch_has_same_class_pairs_and_every_sample_is_used():
    labels = [c for c in range(6) for _ in range(8)]
    batches = balanced_batches(labels, steps=20, batch=16, seed=0)
    assert all(12 <= len(b) <= 16 for b in batches)      # 2 of each of the 6 classes
    for b in batches:
        counts = torch.bincount(torch.tensor([labels[i] for i in b]))
        assert int(counts.max()) >= 2
    assert set().union(*map(set, batches)) == set(range(len(labels)))
    assert balanced_batches(labels, 5, 16, seed=1) == balanced_batches(labels, 5, 16, seed=1)


def test_auto_tunes_a_text_sentence_encoder_with_few_labels_and_never_an_image_base():
    text, image = modality_for("text"), modality_for("image")
    assert text.few_label_plan([8] * 6, Card("mean"))[0] == "contrastive"
    assert text.few_label_plan([32, 30, 40], Card("mean"))[0] == "contrastive"
    assert text.few_label_plan([48] * 6, Card("mean"))[0] == "off"          # enough labels: frozen + head
    assert text.few_label_plan([8] * 6, Card("last"))[0] == "off"           # GPT-2 style pooling
    assert image.few_label_plan([8] * 6, Card("mean"))[0] == "off"
    train = [Sample(f"x:{i}", i % 3, "t") for i in range(24)]
    project = Project(task="image")
    project.training.few_shot = "contrastive"
    with pytest.raises(ProjectError, match="not available for images"):
        few_label_plan(project, image, Card("mean"), train, 3)
    project.training.few_shot = "off"
    assert few_label_plan(project, text, Card("mean"), train, 3)[0] == "off"
    project.training.few_shot = "bogus"
    with pytest.raises(ProjectError, match="few-label mode"):
        project.validate()


def _demo_samples(per_class: int, skip: int = 0):
    from tlstudio.core.data.text import scan_text

    index = scan_text(DEMO)
    out = []
    for c in range(len(index.classes)):
        members = [s for s in index.samples if s.label == c]
        out += members[skip:skip + per_class]
    return out


def test_contrastive_tuning_moves_same_class_texts_closer_on_real_minilm():
    """Tuned on 4 texts per class of the demo, unseen texts of the same classes end up more separated."""
    from tlstudio.core.model.build import card_for
    from tlstudio.core.train.contrastive import encode_items
    from tlstudio.core.zoo.text_encoder import load_text_model

    torch.set_num_threads(2)
    text = modality_for("text")
    pre = text.preprocessing(card_for("all-MiniLM-L6-v2", "text"), type("M", (), {"max_length": 32})())
    encoder = load_text_model(allow_download=False).encoder
    train, held_out = _demo_samples(4), _demo_samples(6, skip=20)
    train_ds, unseen_ds = text.train_dataset(pre, train, augment="none", seed=0), text.eval_dataset(pre, held_out)
    items = [train_ds[i] for i in range(len(train))]         # the datasets wrap around: no list()
    unseen = [unseen_ds[i] for i in range(len(held_out))]
    before = class_separation(*encode_items(encoder, unseen, text.collate, torch.device("cpu")))
    frozen_grads = {n: p.requires_grad for n, p in encoder.named_parameters()}
    embeddings = encoder.base.embeddings.word_embeddings.weight.detach().clone()
    report = tune_base(encoder, items, text.collate, steps=8, batch=24, seed=0)
    after = class_separation(*encode_items(encoder, unseen, text.collate, torch.device("cpu")))
    assert report.separation_after > report.separation_before      # the training texts
    assert after > before                                          # and texts it never saw
    assert report.last_loss < report.first_loss
    assert torch.equal(encoder.base.embeddings.word_embeddings.weight, embeddings)   # token table kept
    assert {n: p.requires_grad for n, p in encoder.named_parameters()} == frozen_grads
    assert not encoder.training


def test_a_few_shot_run_tunes_the_base_saves_it_and_reloads_to_the_same_predictions(tmp_path):
    from tlstudio.core.runs.folder import load_model
    from tlstudio.core.runs.predict import predict_texts
    from tlstudio.core.train.trainer import Trainer
    from tlstudio.core.model.build import card_for, create_transfer_model

    from tests.core.text.tiny_models import save_tiny, write_topic_csv

    folder = save_tiny(tmp_path / "bert", "bert")
    project = Project(name="few", task="text")
    project.data.path = str(write_topic_csv(tmp_path / "topics.csv", per_class=10))
    project.model.name = str(folder)
    project.model.max_length = 16
    project.training.few_shot = "contrastive"          # a tiny BERT pools its first token: auto would not
    events = []
    metrics = Trainer(project, tmp_path / "run", events.append).run()
    assert metrics["error"] is None, metrics["error"]
    tuning = [e for e in events if type(e).__name__ == "BaseTuningProgress"]
    assert tuning and tuning[-1].step == tuning[-1].steps
    assert metrics["few_shot"]["method"] == "contrastive" and metrics["few_shot"]["samples"] == metrics["train_images"]
    assert "validation split" in metrics["accuracy_source"]        # the search did not cross-validate
    info = json.loads((tmp_path / "run" / "model.json").read_text())
    assert info["base_tuning"]["steps"] == metrics["few_shot"]["steps"]
    pretrained = create_transfer_model(card_for(folder, "text"), project.head, 3).state_dict()
    loaded = load_model(tmp_path / "run")
    state = loaded.model.state_dict()
    changed = [k for k, v in pretrained.items() if k.startswith("base.") and not torch.equal(state[k], v)]
    assert changed and not any("embeddings" in k and "LayerNorm" not in k for k in changed)
    texts = ["rain and cold wind", "a cat and a dog", "sweet cake with apple", "snow storm"]
    again = load_model(tmp_path / "run")
    first, second = predict_texts(loaded, texts, top_k=3), predict_texts(again, texts, top_k=3)
    assert [r["label"] for r in first] == [r["label"] for r in second]
    assert [r["top_k"] for r in first] == [r["top_k"] for r in second]
    from tlstudio.core.runs.evaluate import evaluate_run
    assert evaluate_run(loaded, tmp_path / "run")["accuracy"] is not None
