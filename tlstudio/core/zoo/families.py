"""Cutting a pretrained network at its pooled features.

A small registry, not a chain of per-model cases: one cutter per library, a
table of torchvision classifier locations keyed by the builder module, and a
table of extra fix-ups for the odd architectures (auxiliary heads). The cut
network maps ``[N, 3, H, W]`` to ``[N, feature_dim]`` in train and eval mode.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from tlstudio.core.zoo.cards import ModelCard
from tlstudio.core.errors import ModelError
from tlstudio.core.model.head import HeadSpec
from tlstudio.core.model.transfer import TransferModel
from tlstudio.core.zoo.weights import _card, create_pretrained

# torchvision builder module -> qualified name of the final classifier Linear.
TORCHVISION_CLASSIFIERS = {
    "resnet": "fc", "regnet": "fc", "shufflenetv2": "fc", "inception": "fc", "googlenet": "fc",
    "vgg": "classifier.6", "alexnet": "classifier.6", "densenet": "classifier",
    "efficientnet": "classifier.1", "mobilenetv2": "classifier.1", "mnasnet": "classifier.1",
    "mobilenetv3": "classifier.3", "convnext": "classifier.2", "maxvit": "classifier.5",
    "vision_transformer": "heads.head", "swin_transformer": "head",
}


def _drop_aux_heads(*names: str) -> Callable[[nn.Module], None]:
    """Auxiliary classifiers are only used when training the original network."""
    def fix(model: nn.Module) -> None:
        for name in names:
            setattr(model, name, None)
        # With aux_logits off, train-mode forward returns a plain tensor, not a namedtuple.
        model.aux_logits = False
    return fix


TORCHVISION_FIXUPS: dict[str, Callable[[nn.Module], None]] = {
    "inception": _drop_aux_heads("AuxLogits"),
    "googlenet": _drop_aux_heads("aux1", "aux2"),
}


@dataclass(frozen=True)
class Cut:
    base: nn.Module
    feature_dim: int
    removed_classifier: str | None


def _replace_module(model: nn.Module, qualified: str, new: nn.Module) -> None:
    parent_name, _, leaf = qualified.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, leaf, new)


def _last_linear(model: nn.Module) -> str | None:
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    return names[-1] if names else None


def _cut_torchvision(model: nn.Module, card: ModelCard) -> Cut:
    name = TORCHVISION_CLASSIFIERS.get(card.module_key)
    try:
        linear = model.get_submodule(name) if name else None
    except AttributeError:
        linear = None
    if not isinstance(linear, nn.Linear):  # unknown family: the last Linear is the classifier
        name = _last_linear(model)
        linear = model.get_submodule(name) if name else None
    if not isinstance(linear, nn.Linear):
        raise ModelError(f"{card.name} has no Linear classifier that TL Studio can replace with a new head.")
    _replace_module(model, name, nn.Identity())
    fix = TORCHVISION_FIXUPS.get(card.module_key)
    if fix is not None:
        fix(model)
    return Cut(model, int(linear.in_features), name)


def _cut_timm(model: nn.Module, card: ModelCard) -> Cut:
    classifier = model.pretrained_cfg.get("classifier") if hasattr(model, "pretrained_cfg") else None
    if isinstance(classifier, (list, tuple)):
        classifier = classifier[0]
    model.reset_classifier(0)  # forward now returns pooled features
    # Some models (MobileNetV3) have a head conv after pooling: its width is the feature size.
    dim = getattr(model, "head_hidden_size", None) or model.num_features
    return Cut(model, int(dim), classifier)


CUTTERS: dict[str, Callable[[nn.Module, ModelCard], Cut]] = {
    "torchvision": _cut_torchvision,
    "timm": _cut_timm,
}


def cut_at_features(model: nn.Module, card: ModelCard | str) -> Cut:
    """Remove ``model``'s classifier in place; ``Cut.base(x)`` is then ``[N, feature_dim]``."""
    card = _card(card)
    cutter = CUTTERS.get(card.library)
    if cutter is None:
        raise ModelError(f"TL Studio cannot adapt models from {card.library}.")
    return cutter(model, card)


def create_transfer_model(card_or_name: ModelCard | str, head_spec: HeadSpec, num_classes: int,
                          weights: str | None = "auto") -> TransferModel:
    """The pretrained base (weights loaded before the classifier is cut) plus a new head.

    Parameters keep requires_grad as built; freezing is layers.py's job.
    """
    card = _card(card_or_name)
    full = create_pretrained(card, weights)
    cut = cut_at_features(full, card)
    head = head_spec.build(cut.feature_dim, num_classes)
    model = TransferModel(cut.base, head, model_name=card.name, feature_dim=cut.feature_dim,
                          removed_classifier=cut.removed_classifier)
    return model.eval()
