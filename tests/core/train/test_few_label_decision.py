"""Few labels, "auto": a probe on the frozen encoder's features decides whether contrastive tuning runs.

Real texts, real MiniLM features: the demo's topics (WordNet definitions, 6 topics), which the frozen
encoder already separates, and WordNet 3.0 glosses labelled by the part of speech of the word they
define (``wordnet_pos.csv``: 12 per class, drawn by benchmarks/bench_fewshot.py's ``load_wordnet_pos``
from Debian's wordnet-base; WordNet licence: resources/demo_text_data/LICENSE-wordnet.txt), which
it does not."""
import csv
from pathlib import Path

import pytest
import torch

from tlstudio.core.data.index import Sample
from tlstudio.core.data.modality import modality_for
from tlstudio.core.paths import resources_dir
from tlstudio.core.project import Project
from tlstudio.core import events as ev
from tlstudio.core.train.few_label_probe import leave_one_out_centroid_accuracy
from tlstudio.core.train.few_label_stage import few_label_plan, run_few_label_stage

pytest.importorskip("transformers")
DEMO = resources_dir() / "demo_text_data" / "wordnet_definitions.csv"
POS = Path(__file__).with_name("wordnet_pos.csv")


def _samples(path, per_class):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    classes = sorted({r["label"] for r in rows})
    taken = {c: 0 for c in classes}
    out = []
    for i, r in enumerate(rows):
        if taken[r["label"]] < per_class:
            taken[r["label"]] += 1
            out.append(Sample(f"row:{i}", classes.index(r["label"]), r["text"]))
    return out, classes


@pytest.fixture(scope="module")
def minilm():
    from tlstudio.core.model.build import card_for, create_transfer_model
    from tlstudio.core.model.head import HeadSpec

    torch.set_num_threads(2)
    text = modality_for("text")
    card = card_for("all-MiniLM-L6-v2", "text")
    pre = text.preprocessing(card, type("M", (), {"max_length": 64})())
    return text, card, pre, create_transfer_model(card, HeadSpec(layers=[]), 4)


def _decide(minilm, path, per_class):
    text, card, pre, model = minilm
    samples, classes = _samples(path, per_class)
    project = Project(task="text")
    mode, reason, automatic = few_label_plan(project, text, card, samples, len(classes))
    assert (mode, automatic) == ("contrastive", True)      # few labels, mean pooling: the probe decides
    events = []
    before = {k: v.clone() for k, v in model.base.state_dict().items()}
    report, record = run_few_label_stage(mode, text, pre, model, samples, torch.device("cpu"), 0, events.append,
                                         automatic=True, reason=reason, decide_only=True)
    assert report is None and all(torch.equal(v, model.base.state_dict()[k]) for k, v in before.items())
    decisions = [e for e in events if isinstance(e, ev.FewLabelDecision)]
    assert len(decisions) == 1 and decisions[0].message == record["message"]
    return record, decisions[0]


def test_auto_keeps_the_encoder_frozen_where_its_features_separate_the_topics(minilm):
    record, event = _decide(minilm, DEMO, 8)
    assert record["mode"] == event.mode == "off" and record["requested"] == "auto"
    assert record["probe"]["skill"] >= modality_for("text").few_label_probe_enough
    assert record["probe"]["samples"] == 48 and "kept frozen" in event.message and "48 training texts" in event.message


def test_auto_tunes_where_the_frozen_features_do_not_separate_the_label(minilm):
    record, event = _decide(minilm, POS, 12)
    assert record["mode"] == event.mode == "contrastive"
    assert record["probe"]["skill"] < modality_for("text").few_label_probe_enough
    assert "tuning the encoder contrastively" in event.message


def test_the_probe_ranks_the_part_of_speech_label_below_the_topics_on_real_features(minilm):
    from tlstudio.core.train.contrastive import encode_items

    text, _card, pre, model = minilm
    skill = {}
    for name, path, k in (("topics", DEMO, 12), ("pos", POS, 12)):
        samples, _ = _samples(path, k)
        ds = text.train_dataset(pre, samples, augment="none", seed=0)
        feats = encode_items(model.base, [ds[i] for i in range(len(samples))], text.collate, torch.device("cpu"))
        skill[name] = leave_one_out_centroid_accuracy(*feats).skill
    assert skill["topics"] > skill["pos"] + 0.2
    shuffled = leave_one_out_centroid_accuracy(feats[0], feats[1][torch.randperm(len(feats[1]),
                                                                        generator=torch.Generator().manual_seed(0))])
    assert shuffled.skill < skill["pos"]            # labels unrelated to the texts: about chance


def test_an_auto_run_that_keeps_the_encoder_frozen_says_why_in_its_metrics_and_events(tmp_path):
    from tlstudio.core.train.trainer import Trainer

    samples, classes = _samples(DEMO, 14)
    data = tmp_path / "topics.csv"
    with open(data, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows([s.text, classes[s.label]] for s in samples)
    project = Project(name="few-auto", task="text")
    project.data.path = str(data)
    project.model.name = "all-MiniLM-L6-v2"
    project.model.max_length = 64
    project.training.device = "cpu"
    events = []
    metrics = Trainer(project, tmp_path / "run", events.append).run()
    assert metrics["error"] is None, metrics["error"]
    decision = metrics["few_label"]
    assert decision["requested"] == "auto" and decision["mode"] == "off" and "kept frozen" in decision["message"]
    assert decision["probe"]["samples"] == metrics["train_images"]
    assert [e.message for e in events if isinstance(e, ev.FewLabelDecision)] == [decision["message"]]
    assert not any(isinstance(e, ev.BaseTuningProgress) for e in events) and "few_shot" not in metrics
    assert metrics["base_forward_images"] == 2 * metrics["train_images"] + metrics["val_images"] + \
        metrics["test_images"]          # the probe's pass over the training texts, then the cache's pass
