"""Backbones: every catalog family gets its classifier replaced by a new head."""
import pytest
import torch
from torch import nn

import dataclasses
import subprocess
import sys

from tlstudio.core.model.build import create_transfer_model, cut_at_features
from tlstudio.core.zoo.families import adapter_for, adapter_for_module, registered
from tlstudio.core.zoo.families import torchvision as tv_families
from tlstudio.core.zoo.cards import get_card
from tlstudio.core.errors import ModelError
from tlstudio.core.model.head import HeadLayer, HeadSpec
from tlstudio.core.model.transfer import TransferModel
from tlstudio.core.zoo.weights import build_model

torch.set_num_threads(2)

# (name, input size, feature dim, removed classifier). Small inputs where the
# architecture allows; ViT-B/16 needs 224, Inception v3 needs at least 75.
FAMILIES = [
    ("resnet18", 64, 512, "fc"),
    ("resnet50", 64, 2048, "fc"),
    ("vgg16", 64, 4096, "classifier.6"),
    ("inception_v3", 75, 2048, "fc"),
    ("efficientnet_b0", 64, 1280, "classifier.1"),
    ("mobilenet_v3_large", 64, 1280, "classifier.3"),
    ("convnext_tiny", 64, 768, "classifier.2"),
    ("vit_b_16", 224, 768, "heads.head"),
    ("tf_efficientnet_lite0", 64, 1280, "classifier"),
    ("mobilenetv3_large_100", 64, 1280, "classifier"),  # timm: head conv after pooling
]


@pytest.mark.parametrize("name,size,dim,removed", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_head_replaced_and_forward_in_train_and_eval(name, size, dim, removed):
    spec = HeadSpec(layers=[HeadLayer("linear", width=16), HeadLayer("activation", activation="relu")],
                    num_classes=5)
    model = create_transfer_model(name, spec, 3, weights="none")
    assert isinstance(model, TransferModel)
    assert model.feature_dim == dim and model.removed_classifier == removed
    assert model.model_name == get_card(name).name
    assert all(p.requires_grad for p in model.parameters())  # freezing is not done here
    assert not any(isinstance(m, nn.Linear) and m.out_features == 1000 for m in model.base.modules())
    # Batch 2: train-mode BatchNorm needs more than one value per channel.
    x = torch.randn(2, 3, size, size)
    for training in (True, False):
        model.train(training)
        with torch.no_grad():
            features = model.base(x)
            out = model.head(features)  # what TransferModel.forward does, without a second base pass
        assert isinstance(features, torch.Tensor) and features.shape == (2, dim)
        assert out.shape == (2, 3)  # the explicit class count wins over the spec's
        assert torch.isfinite(out).all()


def test_inception_aux_head_is_gone():
    model = create_transfer_model("inception_v3", HeadSpec.default(2), 2, weights="none")
    assert model.base.AuxLogits is None and model.base.aux_logits is False
    assert not any("AuxLogits" in name for name, _ in model.named_parameters())


def test_pretrained_file_for_the_full_network_loads_before_the_cut(tmp_path):
    torch.manual_seed(7)
    full = build_model("resnet18").state_dict()
    path = tmp_path / "resnet18-full.pth"
    torch.save(full, path)  # includes fc.weight [1000, 512]
    model = create_transfer_model("resnet18", HeadSpec.default(4), 4, weights=str(path))
    base_state = model.base.state_dict()
    assert "fc.weight" not in base_state
    for key, value in base_state.items():
        assert torch.equal(value, full[key]), key
    assert model.head[-1].out_features == 4


def test_bundled_base_matches_the_pretrained_network_features():
    from tlstudio.core.zoo.weights import create_pretrained

    reference = create_pretrained("tf_efficientnet_lite0")
    model = create_transfer_model("tf_efficientnet_lite0", HeadSpec.default(3), 3)
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        expected = reference.forward_head(reference.forward_features(x), pre_logits=True)
        assert torch.allclose(model.base(x), expected, atol=1e-5)


def test_a_stale_classifier_location_falls_back_to_the_last_linear():
    net = build_model("resnet18")
    adapter = dataclasses.replace(tv_families.RESNET, classifier="no.such.layer")
    cut = adapter.cut(net, get_card("resnet18"), adapter)
    assert cut.removed_classifier == "fc" and cut.feature_dim == 512
    assert isinstance(net.fc, nn.Identity)


def test_an_unregistered_torchvision_module_gets_the_last_linear_fallback():
    adapter = adapter_for_module("torchvision", "brand_new_net")
    assert adapter.family == "Brand New Net" and adapter.classifier is None and adapter.listed
    assert adapter.cut is tv_families.cut_classifier
    assert adapter_for_module("keras", "resnet") is None


def test_the_resnet_adapter_decides_how_a_resnet_is_cut():
    adapter = adapter_for(get_card("resnet18"))
    assert adapter is tv_families.RESNET
    assert adapter.classifier == "fc" and adapter.family == "ResNet"
    assert adapter.cut.__module__ == "tlstudio.core.zoo.families.torchvision"
    # the auxiliary-head families build the way torchvision loads their weights
    assert dict(adapter_for(get_card("googlenet")).builder_kwargs)["aux_logits"] is True
    assert build_model("googlenet").transform_input is True


def test_each_module_has_one_adapter():
    keys = [key for adapter in registered() for key in adapter.keys()]
    assert len(keys) == len(set(keys))
    with pytest.raises(ValueError, match="already has the ResNet adapter"):
        from tlstudio.core.zoo.families import register

        register(dataclasses.replace(tv_families.RESNET, family="Other"))


def test_network_without_a_linear_classifier_is_refused():
    with pytest.raises(ModelError, match="squeezenet1_1"):
        cut_at_features(build_model("squeezenet1_1"), "squeezenet1_1")


def test_zoo_modules_import_without_a_cycle_and_the_catalog_without_torch():
    # Each module imports first in a fresh process: a cycle would fail on one of them.
    for module in ("zoo.bundled", "zoo.cards", "zoo.weights", "zoo.families", "model.build", "zoo.sources"):
        code = (f"import sys, tlstudio.core.{module} as m; "
                "print('torch' in sys.modules, hasattr(m, '__getattr__'))")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        torch_loaded, lazy = proc.stdout.split()
        assert lazy == "False"
        if module in ("zoo.bundled", "zoo.cards", "zoo.families", "zoo.sources"):
            assert torch_loaded == "False", module
