"""Taking gradients at one activation of a trained model without changing the model.

A run's base is usually frozen (every parameter has ``requires_grad=False``) and
the model may be loaded under ``torch.inference_mode``; neither stops an
explanation. A forward hook replaces the watched activation with a detached copy
that requires grad, so everything computed from it is differentiable however the
parameters are set, and ``torch.autograd.grad`` returns the gradient of one
class score with respect to that copy only: no parameter's ``.grad`` is written.
The model runs in eval mode (BatchNorm uses, never updates, its running
statistics) and gets its previous train/eval mode back afterwards.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


@contextmanager
def eval_with_grad(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and autograd on (even inside ``inference_mode``); the old mode comes back after."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(False), torch.enable_grad():
            yield model
    finally:
        model.train(was_training)


class Tap:
    """Watches one module: its output (``where="output"``) or its first positional input ("input").

    While active, the watched tensor is swapped for a detached copy with ``requires_grad``;
    ``tensor`` is that copy after a forward pass.
    """

    def __init__(self, module: nn.Module, where: str = "output"):
        if where not in ("output", "input"):
            raise ValueError(f"where must be 'output' or 'input', not {where!r}")
        self.module = module
        self.where = where
        self.tensor: torch.Tensor | None = None
        self._handle = None

    def _leaf(self, value: torch.Tensor) -> torch.Tensor:
        leaf = value.detach().clone().requires_grad_(True)
        self.tensor = leaf
        # The network gets a copy: a leaf that requires grad may not be changed in place
        # (DenseNet applies an in-place ReLU to its feature map).
        return leaf.clone()

    def _on_output(self, module, args, output):
        if isinstance(output, torch.Tensor):
            return self._leaf(output)
        if isinstance(output, tuple) and output and isinstance(output[0], torch.Tensor):
            return (self._leaf(output[0]),) + tuple(output[1:])
        return None

    def _on_input(self, module, args):
        if args and isinstance(args[0], torch.Tensor):
            return (self._leaf(args[0]),) + tuple(args[1:])
        return None

    def __enter__(self) -> "Tap":
        if self.where == "output":
            self._handle = self.module.register_forward_hook(self._on_output)
        else:
            self._handle = self.module.register_forward_pre_hook(self._on_input)
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def gradient(self, score: torch.Tensor) -> torch.Tensor:
        """d score / d watched tensor (zeros when the score does not depend on it)."""
        if self.tensor is None:
            raise RuntimeError("the watched module did not run")
        (grad,) = torch.autograd.grad(score, [self.tensor], allow_unused=True)
        return torch.zeros_like(self.tensor) if grad is None else grad
