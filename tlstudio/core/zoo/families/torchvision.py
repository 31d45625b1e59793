"""The torchvision families: where each network's classifier is, and how it is cut.

Where is the code that decides how a ResNet is cut? Here: the ResNet adapter
names its classifier (``fc``), and ``cut_classifier`` swaps that Linear for an
Identity so the network returns its pooled features. Families with auxiliary
heads (Inception, GoogLeNet) drop them in a fix-up; families whose layers do
not group themselves get a block matcher for "unfreeze the last N blocks".
"""
from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Callable

from tlstudio.core.errors import ModelError
from tlstudio.core.zoo.families import (Cut, FamilyAdapter, default_family_name, register,
                                        register_fallback)

if TYPE_CHECKING:
    from torch import nn

    from tlstudio.core.zoo.cards import ModelCard

LIBRARY = "torchvision"


def _replace_module(model: "nn.Module", qualified: str, new: "nn.Module") -> None:
    parent_name, _, leaf = qualified.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, leaf, new)


def _last_linear(model: "nn.Module") -> str | None:
    from torch import nn

    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    return names[-1] if names else None


def cut_classifier(model: "nn.Module", card: "ModelCard", adapter: FamilyAdapter) -> Cut:
    """Replace the adapter's classifier Linear (else the network's last Linear) with an Identity."""
    from torch import nn

    name = adapter.classifier
    try:
        linear = model.get_submodule(name) if name else None
    except AttributeError:
        linear = None
    if not isinstance(linear, nn.Linear):  # unknown family or layout: the last Linear is the classifier
        name = _last_linear(model)
        linear = model.get_submodule(name) if name else None
    if not isinstance(linear, nn.Linear):
        raise ModelError(f"{card.name} has no Linear classifier that TL Studio can replace with a new head.")
    _replace_module(model, name, nn.Identity())
    for fix in adapter.fixups:
        fix(model)
    return Cut(model, int(linear.in_features), name)


def drop_aux_heads(*names: str) -> Callable[["nn.Module"], None]:
    """Auxiliary classifiers are only used when training the original network."""
    def fix(model: "nn.Module") -> None:
        for name in names:
            setattr(model, name, None)
        # With aux_logits off, train-mode forward returns a plain tensor, not a namedtuple.
        model.aux_logits = False
    return fix


# Builder arguments torchvision uses when it loads its own pretrained weights for
# these families; TL Studio always builds this way so the architecture matches
# those weights (and a model rebuilt with no weights behaves like the trained one).
_AUX_HEAD_KWARGS = MappingProxyType({"transform_input": True, "aux_logits": True, "init_weights": False})
# timm-style coarse matchers: group name -> regex (its capture groups order the
# blocks) or a list of (regex, suffix) pairs; (99999,) merges into the previous group.
_FEATURES_THEN_CLASSIFIER = MappingProxyType({"blocks": r"^features\.(\d+)", "classifier": r"^classifier"})


def _family(modules: tuple[str, ...], family: str, classifier: str | None, **extra) -> FamilyAdapter:
    return register(FamilyAdapter(library=LIBRARY, modules=modules, family=family, cut=cut_classifier,
                                  classifier=classifier, **extra))


RESNET = _family(("resnet",), "ResNet", "fc",
                 block_matcher=MappingProxyType({"stem": r"^conv1|^bn1", "blocks": r"^layer(\d+)"}))
REGNET = _family(("regnet",), "RegNet", "fc",
                 block_matcher=MappingProxyType({"stem": r"^stem", "blocks": r"^trunk_output\.block(\d+)"}))
SHUFFLENET = _family(("shufflenetv2",), "ShuffleNet", "fc")
INCEPTION = _family(("inception",), "Inception", "fc", fixups=(drop_aux_heads("AuxLogits"),),
                    builder_kwargs=_AUX_HEAD_KWARGS)
GOOGLENET = _family(("googlenet",), "Inception", "fc", fixups=(drop_aux_heads("aux1", "aux2"),),
                    builder_kwargs=_AUX_HEAD_KWARGS)
VGG = _family(("vgg",), "VGG", "classifier.6",
              block_matcher=MappingProxyType({"features": r"^features\.(\d+)",
                                              "classifier": r"^classifier\.(\d+)"}))
ALEXNET = _family(("alexnet",), "AlexNet", "classifier.6")
DENSENET = _family(("densenet",), "DenseNet", "classifier")
EFFICIENTNET = _family(("efficientnet",), "EfficientNet", "classifier.1", block_matcher=_FEATURES_THEN_CLASSIFIER)
MOBILENET_V2 = _family(("mobilenetv2",), "MobileNet", "classifier.1", block_matcher=_FEATURES_THEN_CLASSIFIER)
MOBILENET_V3 = _family(("mobilenetv3",), "MobileNet", "classifier.3", block_matcher=_FEATURES_THEN_CLASSIFIER)
MNASNET = _family(("mnasnet",), "MNASNet", "classifier.1")
CONVNEXT = _family(("convnext",), "ConvNeXt", "classifier.2", block_matcher=_FEATURES_THEN_CLASSIFIER)
MAXVIT = _family(("maxvit",), "MaxViT", "classifier.5")
VIT = _family(("vision_transformer",), "ViT", "heads.head",
              block_matcher=MappingProxyType({
                  "stem": r"^class_token|^conv_proj|^encoder\.pos_embedding",
                  "blocks": [(r"^encoder\.layers\.encoder_layer_(\d+)", None), (r"^encoder\.ln", (99999,))],
              }))
SWIN = _family(("swin_transformer",), "Swin", "head")
# SqueezeNet ends in a convolution, not a Linear: there is nothing to cut, so it is not listed.
SQUEEZENET = _family(("squeezenet",), "SqueezeNet", None, listed=False)


def _fallback(module: str) -> FamilyAdapter:
    """An unregistered torchvision module: its last Linear is the classifier."""
    return FamilyAdapter(library=LIBRARY, modules=(module,), family=default_family_name(module),
                         cut=cut_classifier)


register_fallback(LIBRARY, _fallback)
