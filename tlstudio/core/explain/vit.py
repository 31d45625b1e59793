"""Explaining transformer image models (ViT, DeiT): Grad-CAM on the patch tokens.

Method: the token sequence *entering* the last transformer block is treated as a
feature map (patch tokens laid back on their grid, class / register tokens
dropped) and Grad-CAM runs on it exactly as on a convolutional map.

Why this and not attention rollout:
- it is class-specific (the map for "cat" differs from the map for "dog"), as
  the misclassified gallery needs; rollout multiplies the attention matrices of
  all layers and shows the same map whatever class is asked about;
- it needs only the tokens, which every ViT implementation returns, whereas
  rollout needs each layer's attention probabilities, which timm and torchvision
  compute inside fused attention kernels and never hand out;
- it shares the gradient hook and the map arithmetic with the convolutional path.
Why the input of the last block, not its output: with class-token pooling the
class token is read after the last block, and nothing mixes the patch tokens'
final states into it, so their gradient is zero; the tokens entering the last
block reach the class token through its attention.
"""
from __future__ import annotations

import torch
from torch import nn


def last_token_block(base: nn.Module, seen: dict) -> tuple[str, nn.Module] | None:
    """(name, module) of the last block in the last container of >= 2 blocks that all map
    ``[N, T, D]`` tokens to the same shape; ``seen`` is name -> (completion order, output shape)."""
    best = None
    for name, module in base.named_modules():
        if not isinstance(module, (nn.Sequential, nn.ModuleList)) or len(module) < 2:
            continue
        names = [f"{name}.{child}" if name else child for child, _ in module.named_children()]
        shapes = [seen.get(n, (0, ()))[1] for n in names]
        if len(shapes[0]) == 3 and all(s == shapes[0] for s in shapes):
            order = seen[names[-1]][0]
            if best is None or order > best[0]:
                best = (order, names[-1], module[len(module) - 1])
    return None if best is None else (best[1], best[2])


def patch_token_map(tokens: torch.Tensor, grid: tuple[int, int], prefix: int) -> torch.Tensor:
    """``[N, prefix + rows * cols, D]`` tokens -> ``[N, D, rows, cols]`` (the patch tokens only)."""
    rows, cols = grid
    patches = tokens[:, prefix:, :]
    return patches.reshape(patches.shape[0], rows, cols, patches.shape[-1]).permute(0, 3, 1, 2)
