"""Grad-CAM on real photos with the bundled ImageNet model; every family's map located; ViT tokens."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from tlstudio.core.explain import ExplainError, explain_image, explain_tensor, locate_target
from tlstudio.core.model.head import HeadSpec
from tlstudio.core.model.transfer import TransferModel
from tlstudio.core.runs.folder import load_model, write_model_files

CANVAS = 640            # grey square the photo is pasted on; the model sees resize 256, crop 224


def _imagenet_run(folder: Path) -> Path:
    """A run folder holding the bundled EfficientNet-Lite0 with its own ImageNet classifier as the head."""
    from tlstudio.core.model.build import create_transfer_model
    from tlstudio.core.zoo.bundled import imagenet_class_names
    from tlstudio.core.zoo.cards import DEFAULT_MODEL, get_card
    from tlstudio.core.zoo.weights import create_pretrained

    card = get_card(DEFAULT_MODEL)
    classifier = create_pretrained(card).classifier
    head = HeadSpec([], 1000)
    model = create_transfer_model(card, head, 1000)
    with torch.no_grad():
        model.head[0].weight.copy_(classifier.weight)
        model.head[0].bias.copy_(classifier.bias)
    names, seen = [], set()
    for name in imagenet_class_names():        # ImageNet lists 'crane' and 'maillot' twice; model.json may not
        names.append(name if name not in seen else f"{name} ({len(names)})")
        seen.add(name)
    info = {"model_name": card.name, "classes": names, "head": head.to_dict(),
            "feature_dim": model.feature_dim, "preprocessing": card.preprocessing.to_dict()}
    write_model_files(folder, model, info)
    return folder


@pytest.fixture(scope="module")
def imagenet_run(tmp_path_factory):
    torch.set_num_threads(2)
    return load_model(_imagenet_run(tmp_path_factory.mktemp("imagenet_run")))


def _pasted(photo: np.ndarray, at: tuple[int, int]) -> tuple[Image.Image, tuple[float, float, float, float]]:
    """The photo (fit in 300 px) on a flat grey canvas, and its box in the 224 px view the model sees."""
    obj = Image.fromarray(photo)
    obj.thumbnail((300, 300))
    canvas = Image.new("RGB", (CANVAS, CANVAS), (128, 128, 128))
    canvas.paste(obj, at)
    scale, offset = 256 / CANVAS, (256 - 224) / 2
    x0, y0 = at[0] * scale - offset, at[1] * scale - offset
    return canvas, (x0, y0, x0 + obj.width * scale, y0 + obj.height * scale)


def _mass_per_area(heatmap: np.ndarray, box) -> tuple[float, float]:
    """Mean heat inside the box and outside it."""
    yy, xx = np.mgrid[0:heatmap.shape[0], 0:heatmap.shape[1]] + 0.5
    inside = (xx >= box[0]) & (xx < box[2]) & (yy >= box[1]) & (yy < box[3])
    return float(heatmap[inside].mean()), float(heatmap[~inside].mean())


@pytest.mark.parametrize("photo, at, wanted", [
    ("chelsea", (330, 300), None),          # the cat, lower right: the predicted class
    ("coffee", (40, 60), "espresso"),       # the cup, upper left: a chosen class
])
def test_gradcam_puts_its_mass_on_the_object_not_the_flat_background(imagenet_run, photo, at, wanted):
    from skimage import data

    canvas, box = _pasted(getattr(data, photo)(), at)
    explanation = explain_image(imagenet_run, canvas, class_name=wanted)
    assert explanation.heatmap.shape == (224, 224) and explanation.view.size == (224, 224)
    assert explanation.method == "Grad-CAM" and explanation.layer == "base.bn2"
    if wanted is None:
        assert explanation.class_name.split(",")[0] in {"tabby", "tiger cat", "Egyptian cat"}
        assert explanation.class_index == explanation.predicted_index
    else:
        assert explanation.class_name == "espresso"
    inside, outside = _mass_per_area(explanation.heatmap, box)
    assert inside > 3 * outside, (inside, outside)
    overlay = explanation.overlay()
    assert overlay.size == (224, 224) and overlay.mode == "RGB"


def test_explaining_a_frozen_model_changes_no_weight_buffer_or_gradient(imagenet_run):
    from skimage import data

    model = imagenet_run.model
    for p in model.parameters():
        p.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    canvas, box = _pasted(data.chelsea(), (330, 300))
    with torch.inference_mode():             # even where the caller turned autograd off
        explanation = explain_image(imagenet_run, canvas)
    inside, outside = _mass_per_area(explanation.heatmap, box)
    assert inside > 3 * outside
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)           # weights and BatchNorm buffers
    assert not model.training and all(p.grad is None and not p.requires_grad for p in model.parameters())
    bn = model.base.bn2
    assert int(bn.num_batches_tracked) == int(before["base.bn2.num_batches_tracked"])


def test_an_unknown_class_or_a_text_model_is_a_clear_error(imagenet_run):
    with pytest.raises(ExplainError, match="no class 'zebra crossing'"):
        explain_image(imagenet_run, Image.new("RGB", (64, 64)), class_name="zebra crossing")
    with pytest.raises(ExplainError, match="out of range"):
        explain_image(imagenet_run, Image.new("RGB", (64, 64)), class_name=1000)


@pytest.mark.parametrize("name, size, layer", [
    ("resnet18", 96, "base.layer4"),
    ("vgg11", 96, "base.avgpool"),
    ("inception_v3", 160, "base.Mixed_7c"),
    ("densenet121", 96, "base.features"),        # an in-place ReLU follows its map
    ("convnext_nano", 96, "base.norm_pre"),      # timm
])
def test_the_last_feature_map_is_found_in_each_convolutional_family(name, size, layer):
    from tlstudio.core.model.build import create_transfer_model

    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = create_transfer_model(name, HeadSpec([], 3), 3, weights="none")
    x = torch.randn(1, 3, size, size)
    heatmap, probs, index, target = explain_tensor(model, x, class_index=0)
    assert target.kind == "conv" and target.name == layer
    assert heatmap.shape == (size, size) and np.isfinite(heatmap).all()
    assert heatmap.min() >= 0 and heatmap.max() <= 1 and index == 0
    assert torch.isclose(probs.sum(), torch.tensor(1.0))


def _tiny_timm_vit() -> TransferModel:
    import timm

    torch.manual_seed(0)
    base = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, img_size=64)
    return TransferModel(base, nn.Sequential(nn.Linear(base.num_features, 3)), model_name="vit-tiny",
                         feature_dim=base.num_features).eval()


def test_a_tiny_random_vit_gets_a_class_specific_map_from_its_patch_tokens():
    model = _tiny_timm_vit()
    x = torch.randn(1, 3, 64, 64)
    target = locate_target(model, x)
    assert (target.kind, target.name, target.where, target.grid, target.prefix) == (
        "tokens", "base.blocks.11", "input", (4, 4), 1)
    maps = [explain_tensor(model, x, class_index=c)[0] for c in range(3)]
    assert all(m.shape == (64, 64) and np.isfinite(m).all() and m.max() == pytest.approx(1.0) for m in maps)
    assert not np.allclose(maps[0], maps[1])               # the map depends on the class asked about


def test_torchvision_vit_layout_is_found_too():
    from torchvision.models import VisionTransformer

    torch.manual_seed(0)
    base = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32)
    base.heads = nn.Identity()
    model = TransferModel(base, nn.Sequential(nn.Linear(16, 2)), model_name="tv-vit", feature_dim=16).eval()
    heatmap, _, _, target = explain_tensor(model, torch.randn(1, 3, 32, 32))
    assert target.name == "base.encoder.layers.encoder_layer_1" and target.grid == (4, 4) and target.prefix == 1
    assert heatmap.shape == (32, 32) and np.isfinite(heatmap).all() and heatmap.max() > 0


def test_a_model_without_a_spatial_map_is_refused():
    model = TransferModel(nn.Flatten(), nn.Sequential(nn.Linear(12, 2)), model_name="flat", feature_dim=12)
    with pytest.raises(ExplainError, match="no spatial feature map"):
        explain_tensor(model, torch.randn(1, 3, 2, 2))


@pytest.mark.parametrize("name, options, kind, layer, prefix", [
    ("deit_tiny_distilled_patch16_224", {}, "tokens", "base.blocks.11", 2),            # class + distillation token
    ("vit_tiny_patch16_224", {"global_pool": "avg", "class_token": False, "reg_tokens": 4},
     "tokens", "base.blocks.11", 4),                                                    # register tokens, no class token
    ("swin_tiny_patch4_window7_224", {"window_size": 2, "embed_dim": 24, "depths": (1, 1, 1, 1),
                                      "num_heads": (1, 1, 1, 1)}, "conv", "base.norm", 0),   # an NHWC map
])
def test_other_timm_layouts(name, options, kind, layer, prefix):
    import timm

    torch.manual_seed(0)
    base = timm.create_model(name, pretrained=False, num_classes=0, img_size=64, **options)
    model = TransferModel(base, nn.Sequential(nn.Linear(base.num_features, 3)), model_name=name,
                          feature_dim=base.num_features).eval()
    heatmap, _, _, target = explain_tensor(model, torch.randn(1, 3, 64, 64))
    assert (target.kind, target.name, target.prefix) == (kind, layer, prefix)
    assert target.channels_last == (name.startswith("swin"))
    assert heatmap.shape == (64, 64) and np.isfinite(heatmap).all() and heatmap.max() > 0
