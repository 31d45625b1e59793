"""Zero labels: class names against real texts (MiniLM), calibration, suggestions, and no fake CLIP."""
import json

import pytest
import torch

from tlstudio.core.data.modality import modality_for
from tlstudio.core.zeroshot.clip_zero_shot import ClipZeroShot, NoClipModel, find_clip_models, is_clip_folder
from tlstudio.core.zeroshot.prototypes import DEFAULT_TEMPERATURE, calibrate, class_prompt
from tlstudio.core.zeroshot.run import suggestions_for_project, zero_shot

from tests.core.zeroshot.demo_pool import demo_with_pool

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def encoder():
    from tlstudio.core.zeroshot.text_zero_shot import SentenceEncoderZeroShot

    torch.set_num_threads(2)
    return SentenceEncoderZeroShot()


def test_class_names_alone_beat_chance_by_far_on_real_texts_and_probabilities_are_calibrated(encoder):
    index, truth = demo_with_pool(12, pool=3)
    result = zero_shot(index, modality_for("text"), encoder=encoder)
    chance = 1 / len(index.classes)
    assert result.labelled == 72 and result.accuracy > 3 * chance, result.accuracy
    cal = result.calibration
    assert cal["fitted_on"].startswith("labelled samples") and cal["ece_after"] <= cal["ece_before"] + 1e-9
    assert result.prompts == list(index.classes)
    # Every pool text gets a class of the dataset and a probability; most are right.
    assert len(result.pool) == 18 and all(p["label"] in index.classes and 0 < p["confidence"] <= 1
                                          for p in result.pool)
    right = sum(p["label"] == truth[p["path"]] for p in result.pool)
    assert right > 3 * chance * len(result.pool)
    stored = suggestions_for_project(result)
    assert set(stored) == {p["key"] for p in result.pool} and all(v["source"] == "zero-shot" for v in stored.values())
    assert "Zero-shot (class names): acc" in result.baseline_line("texts")
    json.dumps(result.to_dict())


def test_a_description_goes_into_the_class_prompt(encoder):
    assert class_prompt("body_part") == "body part"
    assert class_prompt("feeling", "  an emotion\n or mood ") == "feeling: an emotion or mood"
    index, _ = demo_with_pool(4)
    result = zero_shot(index, modality_for("text"), descriptions={"feeling": "an emotion", "food": " "},
                       encoder=encoder)
    assert result.described and "feeling: an emotion" in result.prompts and "food" in result.prompts
    assert "class names + descriptions" in result.baseline_line()


def test_without_labels_the_default_temperature_applies():
    scores = torch.tensor([[0.3, 0.1], [0.2, 0.25]])
    assert calibrate(scores[:1], torch.tensor([0])).temperature == DEFAULT_TEMPERATURE
    assert calibrate(None, None).fitted_on.startswith("default")


def test_images_without_a_clip_model_say_so_plainly(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert find_clip_models() == []
    with pytest.raises(NoClipModel, match="needs a CLIP-style model.*bundles none"):
        ClipZeroShot()
    with pytest.raises(NoClipModel, match="not a CLIP-style model folder"):
        ClipZeroShot(tmp_path)
    from tlstudio.core.data.images import scan

    from tests.demo_subset import make_subset

    index = scan(make_subset(tmp_path / "images", 2))
    with pytest.raises(NoClipModel):
        zero_shot(index, modality_for("image"))


def test_a_clip_model_in_the_cache_is_found_and_a_text_model_is_not(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    for repo, model_type in (("openai--clip-vit-base-patch32", "clip"), ("sentence--mini", "bert")):
        snap = hub / f"models--{repo}" / "snapshots" / "abc"
        snap.mkdir(parents=True)
        (snap / "config.json").write_text(json.dumps({"model_type": model_type}))
        (snap / "model.safetensors").write_bytes(b"")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    found = find_clip_models()
    assert [p.parent.parent.name for p in found] == ["models--openai--clip-vit-base-patch32"]
    assert is_clip_folder(found[0]) and not is_clip_folder(tmp_path)


def test_a_local_clip_model_classifies_images_by_their_class_names(tmp_path, monkeypatch):
    """The image path end to end with a tiny random CLIP in the Hugging Face cache: every image gets one of
    the class names from "a photo of a <class>" prompts (a random model: the plumbing, not the accuracy)."""
    from tlstudio.core.data.images import scan

    from tests.core.zeroshot.tiny_clip import save_tiny_clip
    from tests.demo_subset import make_subset

    hub = tmp_path / "hub"
    save_tiny_clip(hub / "models--tiny--clip" / "snapshots" / "0")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    index = scan(make_subset(tmp_path / "images", 2))
    result = zero_shot(index, modality_for("image"))
    assert result.method == "CLIP-style model tiny/clip" and result.labelled == len(index.samples)
    assert result.prompts[0] == f"a photo of a {index.classes[0].replace('_', ' ')}"
    assert 0 <= result.accuracy <= 1 and result.calibration["temperature"] > 0
