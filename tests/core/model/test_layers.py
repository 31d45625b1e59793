"""Layer tree, freezing, blocks — and the proof that frozen layers do not change."""
import pytest
import timm
import torch
import torchvision
from torch import nn

from tlstudio.core.model import blocks, layers
from tlstudio.core.errors import ModelError
from tlstudio.core.model.head import HeadLayer, HeadSpec
from tlstudio.core.model.transfer import TransferModel

torch.set_num_threads(1)
NUM_CLASSES = 3


def head_spec():
    return HeadSpec([HeadLayer("linear", width=16), HeadLayer("batchnorm"),
                     HeadLayer("activation", activation="relu"), HeadLayer("dropout", p=0.1)],
                    num_classes=NUM_CLASSES)


def effnet_model():
    torch.manual_seed(0)
    base = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    base.reset_classifier(0)
    return TransferModel(base, head_spec().build(base.num_features), model_name="tf_efficientnet_lite0",
                         feature_dim=base.num_features, removed_classifier="classifier")


def resnet_model():
    torch.manual_seed(0)
    base = torchvision.models.resnet18(weights=None)
    base.fc = nn.Identity()
    return TransferModel(base, head_spec().build(512), model_name="resnet18",
                         feature_dim=512, removed_classifier="fc")


@pytest.fixture(scope="module")
def effnet_tree():
    model = effnet_model()
    return model, layers.build_layer_tree(model, 64)


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def train_steps(model, steps=3):
    """A few SGD steps on random 64px data, optimiser over trainable params only."""
    torch.manual_seed(1)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-3)
    model.train()
    for _ in range(steps):
        x = torch.randn(4, 3, 64, 64)
        y = torch.randint(0, NUM_CLASSES, (4,))
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


# -- the tree -------------------------------------------------------------------
def test_tree_names_counts_and_navigation(effnet_tree):
    model, root = effnet_tree
    assert root.name == "" and root.parent is None and root.row() == 0
    assert [c.name for c in root.children] == ["base", "head"]
    modules = dict(model.named_modules())
    for node in root.walk():
        if node.removed:
            continue
        module = modules[node.name]
        assert node.type == type(module).__name__
        assert node.label == node.name.rsplit(".", 1)[-1]
        assert node.total_params == sum(p.numel() for p in module.parameters())
        assert node.own_params == sum(p.numel() for p in module.parameters(recurse=False))
        assert node.total_params == node.own_params + sum(c.total_params for c in node.children)
        for i, child in enumerate(node.children):
            assert child.parent is node and child.row() == i and node.child(i) is child
    assert root.total_params == sum(p.numel() for p in model.parameters())
    assert root.find("base.blocks.3").type == "Sequential"
    assert root.find("head.0").type == "Linear"


def test_output_shapes_from_dummy_forward(effnet_tree):
    _, root = effnet_tree
    assert root.output_shape == (NUM_CLASSES,)
    assert root.find("base").output_shape == (1280,)
    assert root.find("base.conv_stem").output_shape == (32, 32, 32)  # stride 2 at 64px
    assert root.find("base.conv_head").output_shape == (1280, 2, 2)
    assert root.find("head.0").output_shape == (16,)


def test_removed_classifier_placeholder_is_marked(effnet_tree):
    model, root = effnet_tree
    node = root.find("base.classifier")
    assert node.removed and node.parent.name == "base"
    assert node.trainable_state(model) == "false"
    assert sum(n.removed for n in root.walk()) == 1


def test_removed_classifier_that_was_deleted_gets_its_own_node():
    base = torchvision.models.resnet18(weights=None)
    del base.fc  # cut away entirely, not replaced
    base.forward = lambda x: torch.flatten(base.avgpool(base.layer4(base.layer3(base.layer2(
        base.layer1(base.maxpool(base.relu(base.bn1(base.conv1(x))))))))), 1)
    model = TransferModel(base, nn.Linear(512, 2), model_name="resnet18", feature_dim=512,
                          removed_classifier="fc")
    root = layers.build_layer_tree(model, 32)
    node = root.find("base.fc")
    assert node.removed and node.type == layers.REMOVED_TYPE and node.parent is root.find("base")
    assert node.row() == len(node.parent.children) - 1 and node.output_shape is None


def test_shapes_cached_per_model_and_modes_restored():
    model = effnet_model()
    layers.freeze_base(model)
    model.train()
    calls = []
    model.register_forward_pre_hook(lambda m, i: calls.append(i[0].shape[-1]))
    layers.build_layer_tree(model, 64)
    layers.build_layer_tree(model, 64)
    assert calls == [64]
    assert model.training and model.head.training
    assert not model.base.bn1.training  # frozen BatchNorm stays in eval after the restore
    layers.build_layer_tree(model, 96)
    assert calls == [64, 96]
    model.head = head_spec().build(1280, 5)  # a rebuilt head invalidates the cache
    root = layers.build_layer_tree(model, 96)
    assert calls == [64, 96, 96] and root.output_shape == (5,)


def test_too_small_input_raises_model_error():
    base = nn.Sequential(nn.Conv2d(3, 4, 5), nn.Conv2d(4, 4, 5), nn.Flatten())
    model = TransferModel(base, nn.Linear(4, 2), model_name="tiny", feature_dim=4)
    with pytest.raises(ModelError, match="cannot run on 4x4"):
        layers.build_layer_tree(model, 4)


def test_trainable_state_is_read_live():
    model = effnet_model()
    root = layers.build_layer_tree(model, 64)
    assert root.trainable_state(model) == "true"
    layers.freeze_base(model)
    assert root.trainable_state(model) == "partial"
    assert root.find("base").trainable_state(model) == "false"
    assert root.find("head").trainable_state(model) == "true"
    # parameter-free nodes follow their nearest ancestor with parameters
    assert root.find("base.global_pool").trainable_state(model) == "false"
    assert root.find("head.2").trainable_state(model) == "true"
    layers.set_trainable(model, "base.blocks.6", True)
    assert root.find("base").trainable_state(model) == "partial"
    assert root.find("base.blocks.6.0").trainable_state(model) == "true"
    model.base.blocks[6][0].conv_pw.weight.requires_grad_(False)
    assert root.find("base.blocks.6").trainable_state(model) == "partial"


# -- freezing -------------------------------------------------------------------
def test_freeze_base_and_count_params():
    model = effnet_model()
    base_n = sum(p.numel() for p in model.base.parameters())
    head_n = sum(p.numel() for p in model.head.parameters())
    assert layers.count_params(model) == (base_n + head_n, 0)
    layers.freeze_base(model)
    assert layers.count_params(model) == (head_n, base_n)
    assert layers.frozen_modules(model) == ["base"]


def test_frozen_modules_round_trip_through_apply_frozen():
    model = effnet_model()
    layers.unfreeze_last_blocks(model, 1)
    layers.set_trainable(model, "head.1", False)
    names = layers.frozen_modules(model)
    assert names == ["base.conv_stem", "base.bn1"] + [f"base.blocks.{i}" for i in range(6)] + ["head.1"]
    other = effnet_model()
    layers.apply_frozen(other, names)
    assert {n: p.requires_grad for n, p in other.named_parameters()} == \
           {n: p.requires_grad for n, p in model.named_parameters()}
    layers.apply_frozen(other, [])
    assert layers.count_params(other)[1] == 0


def vit_model():
    base = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32)
    base.reset_classifier(0)
    return TransferModel(base, nn.Linear(base.num_features, 2), model_name="vit", feature_dim=base.num_features)


def test_partly_frozen_module_with_own_parameters_lists_the_parameter():
    model = vit_model()
    layers.unfreeze_last_blocks(model, 1)
    names = layers.frozen_modules(model)
    # the ViT base owns cls_token/pos_embed directly, so "base" itself cannot be listed
    assert names[:3] == ["base.cls_token", "base.pos_embed", "base.patch_embed"]
    assert "base.blocks.11" not in names and "base.norm" not in names
    other = vit_model()
    layers.apply_frozen(other, names)
    assert {n: p.requires_grad for n, p in other.named_parameters()} == \
           {n: p.requires_grad for n, p in model.named_parameters()}


def test_unknown_names_raise_and_change_nothing():
    model = effnet_model()
    layers.freeze_base(model)
    with pytest.raises(ModelError, match="no layer named 'base.nope'"):
        layers.apply_frozen(model, ["head", "base.nope"])
    assert layers.frozen_modules(model) == ["base"]
    with pytest.raises(ModelError):
        layers.set_trainable(model, "base.blocks.99", True)


def test_set_trainable_refreshes_batchnorm_mode_in_training():
    model = effnet_model()
    layers.freeze_base(model)
    model.train()
    assert not model.base.blocks[6][0].bn1.training
    layers.set_trainable(model, "base.blocks.6", True)
    assert model.base.blocks[6][0].bn1.training and not model.base.blocks[5][0].bn1.training


# -- blocks ---------------------------------------------------------------------
def test_block_names_timm_and_torchvision():
    assert blocks.block_names(effnet_model()) == ["base.conv_stem"] + [f"base.blocks.{i}" for i in range(7)]
    assert blocks.block_groups(effnet_model())[-1] == ["base.blocks.6", "base.conv_head", "base.bn2"]
    assert blocks.block_names(resnet_model()) == ["base.conv1", "base.layer1", "base.layer2",
                                                  "base.layer3", "base.layer4"]


def test_block_names_generic_fallback_descends_single_child():
    inner = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten())

    class Wrapped(nn.Module):  # unknown class: no group_matcher, not in the registry
        def __init__(self):
            super().__init__()
            self.body = inner

        def forward(self, x):
            return self.body(x)

    model = TransferModel(Wrapped(), nn.Linear(4, 2), model_name="custom", feature_dim=4)
    assert blocks.block_names(model) == ["base.body.0", "base.body.2"]


def test_unfreeze_last_blocks_counts_and_validation():
    model = resnet_model()
    assert layers.unfreeze_last_blocks(model, 2) == ["base.layer3", "base.layer4"]
    assert layers.frozen_modules(model) == ["base.conv1", "base.bn1", "base.layer1", "base.layer2"]
    assert all(p.requires_grad for p in model.head.parameters())
    assert layers.unfreeze_last_blocks(model, 0) == [] and layers.frozen_modules(model) == ["base"]
    layers.unfreeze_last_blocks(model, 50)
    assert layers.count_params(model)[1] == 0
    for bad in (-1, 1.5, True):
        with pytest.raises(ModelError):
            layers.unfreeze_last_blocks(model, bad)


# -- frozen really means unchanged -----------------------------------------------
@pytest.mark.parametrize("make", [effnet_model, resnet_model], ids=["tf_efficientnet_lite0", "resnet18"])
def test_frozen_base_is_bitwise_unchanged_by_training(make):
    model = make()
    layers.freeze_base(model)
    base_before, head_before = snapshot(model.base), snapshot(model.head)
    train_steps(model)
    base_after, head_after = snapshot(model.base), snapshot(model.head)
    assert any("running_mean" in k for k in base_before) and any("num_batches_tracked" in k for k in base_before)
    for key, value in base_before.items():
        assert torch.equal(value, base_after[key]), key
    assert not torch.equal(head_before["0.weight"], head_after["0.weight"])
    assert not torch.equal(head_before["1.running_mean"], head_after["1.running_mean"])  # head BN trains


@pytest.mark.parametrize("make", [effnet_model, resnet_model], ids=["tf_efficientnet_lite0", "resnet18"])
def test_unfreeze_last_block_changes_only_that_block_and_head(make):
    model = make()
    unfrozen = layers.unfreeze_last_blocks(model, 1)
    prefixes = tuple(name[len("base."):] + "." for name in unfrozen)
    before = snapshot(model.base)
    train_steps(model)
    after = snapshot(model.base)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    trainable = {k for k in before if k.startswith(prefixes)}
    assert changed <= trainable
    param_keys = {n for n, _ in model.base.named_parameters() if n.startswith(prefixes)}
    assert param_keys and param_keys <= changed  # every unfrozen weight moved
    assert any(k.endswith("running_var") for k in changed)  # unfrozen BatchNorm kept training
