"""Grad-CAM: which parts of an image raised the score of one class.

Grad-CAM (Selvaraju et al., 2017) weights each channel of a late feature map by
the mean gradient of the class score over that channel's positions, sums the
weighted channels and keeps the positive part; upsampled to the input size it
shows where evidence for the class sits.

Which feature map? The one the network pools into its features: the last
module (in execution order) of the run's base whose output is a spatial map
``[N, C, h, w]`` with more than one position. A probe forward pass with hooks on
every module finds it, so one rule serves every convolutional family the zoo's
adapters cut (timm EfficientNet-Lite0's ``bn2``, a ResNet's ``layer4``, VGG's
last pooled map, Inception's ``Mixed_7c``, ...) without a table of layer names.
Networks made of transformer blocks (ViT) have no such map after their patch
embedding; ``vit.py`` handles them, and ``locate_target`` picks the method.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tlstudio.core.errors import TLStudioError
from tlstudio.core.explain.vit import last_token_block, patch_token_map


class ExplainError(TLStudioError):
    """The model or input cannot be explained (an architecture without a usable feature map, ...)."""


@dataclass(frozen=True)
class Target:
    """Where the explanation takes its gradients."""

    kind: str                  # "conv" (a spatial feature map) or "tokens" (transformer patch tokens)
    name: str                  # qualified module name inside the TransferModel ("base.bn2")
    where: str                 # "output" of that module, or its "input" (a ViT's last block)
    grid: tuple[int, int] | None = None   # tokens: the patch grid (rows, columns)
    prefix: int = 0                       # tokens: class / register tokens before the patches
    channels_last: bool = False           # conv: the map is [N, h, w, C] (timm NHWC models)

    @property
    def method(self) -> str:
        return "Grad-CAM" if self.kind == "conv" else "Grad-CAM on patch tokens"


_TARGETS: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def _is_spatial(shape: tuple[int, ...], channels_last: bool) -> bool:
    if len(shape) != 4:
        return False
    h, w = (shape[1], shape[2]) if channels_last else (shape[2], shape[3])
    return h * w > 1


def _probe(base: nn.Module, x) -> dict[str, tuple[int, int, tuple[int, ...]]]:
    """name -> (start order, completion order, output shape) of every module that returned a tensor."""
    seen: dict[str, tuple[int, int, tuple[int, ...]]] = {}
    started: dict[str, int] = {}
    counter = [0]
    handles = []

    def pre_hook_for(name: str):
        def hook(module, args):
            counter[0] += 1
            started[name] = counter[0]
        return hook

    def hook_for(name: str):
        def hook(module, args, output):
            out = output[0] if isinstance(output, tuple) and output else output
            counter[0] += 1
            if isinstance(out, torch.Tensor):
                seen[name] = (started.get(name, counter[0]), counter[0], tuple(out.shape))
        return hook

    for name, module in base.named_modules():
        if name:
            handles.append(module.register_forward_pre_hook(pre_hook_for(name)))
            handles.append(module.register_forward_hook(hook_for(name)))
    try:
        with torch.no_grad():
            base(x)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def locate_target(model: nn.Module, x: torch.Tensor) -> Target:
    """The feature map (or token sequence) to explain ``model`` (a TransferModel) at input ``x``'s size."""
    base = model.base
    key = tuple(x.shape[1:])
    cached = _TARGETS.get(model, {}).get(key)
    if cached is not None:
        return cached
    channels_last = str(getattr(base, "output_fmt", "NCHW")).upper() == "NHWC"
    seen = _probe(base, x)
    shapes = {name: (done, shape) for name, (_, done, shape) in seen.items()}
    spatial = [(done, name, shape) for name, (_, done, shape) in seen.items() if _is_spatial(shape, channels_last)]
    blocks = last_token_block(base, shapes)
    if blocks is not None:
        container = blocks[0].rpartition(".")[0]
        first_start = min((start for name, (start, _, _) in seen.items() if name.startswith(container + ".")),
                          default=0)
        # A token model: its last spatial map (the patch embedding) comes before the blocks, and
        # nothing spatial follows them (shapes inside the blocks, such as per-head queries, do not count).
        before = [s for s in spatial if s[0] < first_start]
        after = [s for s in spatial if s[0] > first_start and not s[1].startswith(container + ".")
                 and s[1] != container]
        if before and not after:
            _, _, embed = max(before)
            grid = (embed[1], embed[2]) if channels_last else (embed[2], embed[3])
            tokens = shapes[blocks[0]][1][1]
            prefix = tokens - grid[0] * grid[1]
            if not 0 <= prefix <= 16:
                raise ExplainError(f"{getattr(model, 'model_name', 'This model')}: cannot map its {tokens} tokens "
                                   f"onto a {grid[0]}x{grid[1]} patch grid.")
            target = Target("tokens", f"base.{blocks[0]}", "input", grid=grid, prefix=prefix)
            _TARGETS.setdefault(model, {})[key] = target
            return target
    if not spatial:
        raise ExplainError(f"{getattr(model, 'model_name', 'This model')} has no spatial feature map or patch "
                           "tokens to explain.")
    _, last_name, _ = max(spatial)
    target = Target("conv", f"base.{last_name}", "output", channels_last=channels_last)
    _TARGETS.setdefault(model, {})[key] = target
    return target


def feature_map(target: Target, tensor: torch.Tensor) -> torch.Tensor:
    """The watched tensor as a [N, C, h, w] map (tokens: the patch tokens laid on their grid)."""
    if target.kind == "tokens":
        return patch_token_map(tensor, target.grid, target.prefix)
    return tensor.permute(0, 3, 1, 2) if target.channels_last else tensor


def class_activation_map(activations: torch.Tensor, gradients: torch.Tensor,
                         size: tuple[int, int]) -> torch.Tensor:
    """Grad-CAM of one input ([1, C, h, w] maps) upsampled to ``size``, scaled to [0, 1]."""
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * activations).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=size, mode="bilinear", align_corners=False)[0, 0]
    peak = cam.max()
    return cam / peak if peak > 0 else torch.zeros_like(cam)
