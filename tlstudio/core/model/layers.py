"""The layer tree of a TransferModel, and freezing.

Names are qualified module names inside the TransferModel ("" is the model,
"base", "base.blocks.3", "head.0"). The freezing functions also accept a
parameter name ("base.cls_token") because some modules own parameters
directly; ``frozen_modules`` only emits one when its module is partly frozen.

Trainable state is never stored on a node: it is read live from
``requires_grad`` so the tree cannot disagree with the model.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import nn

from tlstudio.core.model.blocks import block_groups, minimal_cover
from tlstudio.core.errors import ModelError

__all__ = [
    "LayerNode", "build_layer_tree", "set_trainable", "freeze_base", "unfreeze_last_blocks", "frozen_modules",
    "apply_frozen", "count_params",
]

REMOVED_TYPE = "removed classifier"


@dataclass(eq=False)  # identity equality: nodes are tree positions, and parent links make == recursive
class LayerNode:
    name: str
    label: str
    type: str
    own_params: int = 0
    total_params: int = 0
    output_shape: tuple[int, ...] | None = None
    children: list["LayerNode"] = field(default_factory=list, repr=False)
    parent: "LayerNode | None" = field(default=None, repr=False)
    removed: bool = False
    _row: int = field(default=0, repr=False)

    # -- tree navigation (what a QAbstractItemModel needs) -----------------
    def row(self) -> int:
        """Index of this node in its parent's ``children`` (0 for the root)."""
        return self._row

    def child(self, row: int) -> "LayerNode | None":
        return self.children[row] if 0 <= row < len(self.children) else None

    def add_child(self, node: "LayerNode") -> "LayerNode":
        node.parent, node._row = self, len(self.children)
        self.children.append(node)
        return node

    def walk(self) -> Iterator["LayerNode"]:
        """This node and every descendant, depth first, in display order."""
        yield self
        for c in self.children:
            yield from c.walk()

    def find(self, name: str) -> "LayerNode | None":
        return next((n for n in self.walk() if n.name == name), None)

    # -- live state ----------------------------------------------------------
    def trainable_state(self, model: nn.Module) -> str:
        """"true" / "false" / "partial" from the model's ``requires_grad`` now.

        A removed classifier reports "false". A node without parameters
        (ReLU, pooling, an Identity) reports the state of its nearest
        ancestor that has parameters, so it reads as part of its block.
        """
        if self.removed:
            return "false"
        node: LayerNode | None = self
        while node is not None:
            module = _lookup_module(model, node.name)
            flags = [p.requires_grad for p in module.parameters()] if module is not None else []
            if flags:
                return "true" if all(flags) else ("false" if not any(flags) else "partial")
            node = node.parent
        return "true"


def _lookup_module(model: nn.Module, name: str) -> nn.Module | None:
    try:
        return model.get_submodule(name)
    except AttributeError:
        return None


# -- the tree ---------------------------------------------------------------
# Output shapes per model object, keyed by (input size, structure) so a
# rebuilt head or a new image size triggers a fresh dummy forward.
_SHAPE_CACHE: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def _structure_key(model: nn.Module, input_size: int) -> tuple:
    return (input_size,
            tuple((n, type(m).__name__) for n, m in model.named_modules()),
            tuple((n, tuple(p.shape)) for n, p in model.named_parameters()))


def _shape_of(output) -> tuple[int, ...] | None:
    if isinstance(output, (tuple, list)) and output:
        output = output[0]  # (out, attention) pairs and namedtuples: the main output
    if isinstance(output, torch.Tensor) and output.dim() >= 1:
        return tuple(int(s) for s in output.shape[1:])
    return None


def output_shapes(model: nn.Module, input_size: int) -> dict[str, tuple[int, ...] | None]:
    """Each module's output shape (no batch dim) from one cached dummy forward."""
    key = _structure_key(model, input_size)
    cached = _SHAPE_CACHE.get(model)
    if cached is not None and cached["key"] == key:
        return cached["shapes"]
    shapes: dict[str, tuple[int, ...] | None] = {}

    def hook_for(name):
        def hook(_module, _inputs, output):
            shapes.setdefault(name, _shape_of(output))  # first call wins for reused modules
        return hook

    modes = {m: m.training for m in model.modules()}
    handles = [m.register_forward_hook(hook_for(n)) for n, m in model.named_modules()]
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    base = getattr(model, "base", None)
    # A base that says what it takes (a text encoder: token ids) gets that; else an image.
    example = base.example_inputs() if hasattr(base, "example_inputs") else None
    try:
        model.eval()
        with torch.no_grad():
            if example is not None:
                model(example)
            else:
                model(torch.zeros(1, 3, input_size, input_size, device=device, dtype=dtype))
    except Exception as exc:
        what = "its example inputs" if example is not None else f"{input_size}x{input_size} images"
        raise ModelError(f"{getattr(model, 'model_name', 'The model')} cannot run on {what} ({exc}).") from exc
    finally:
        for h in handles:
            h.remove()
        for m, was_training in modes.items():  # exact per-module restore keeps frozen BN in eval
            m.training = was_training
    _SHAPE_CACHE[model] = {"key": key, "shapes": shapes}
    return shapes


def build_layer_tree(model: nn.Module, input_size: int) -> LayerNode:
    """The module hierarchy as LayerNodes, plus the removed original classifier."""
    shapes = output_shapes(model, input_size)

    def make(name: str, module: nn.Module) -> LayerNode:
        own = sum(p.numel() for p in module.parameters(recurse=False))
        node = LayerNode(name=name, label=name.rsplit(".", 1)[-1], type=type(module).__name__,
                         own_params=own, total_params=sum(p.numel() for p in module.parameters()),
                         output_shape=shapes.get(name))
        for cname, child in module.named_children():
            node.add_child(make(f"{name}.{cname}" if name else cname, child))
        return node

    root = make("", model)
    _mark_removed(root, getattr(model, "removed_classifier", None))
    return root


def _mark_removed(root: LayerNode, removed: str | None) -> None:
    """Show the cut-away classifier: flag its placeholder, or add a node for it."""
    if not removed:
        return
    name = f"base.{removed}"
    existing = root.find(name)
    if existing is not None and existing.total_params == 0:  # e.g. an nn.Identity left in its place
        existing.removed = True
        return
    if existing is not None:
        return  # a real module lives there; the removed one cannot be drawn at that name
    parent_name = name.rsplit(".", 1)[0]
    parent = root.find(parent_name) or root.find("base")
    if parent is not None:
        parent.add_child(LayerNode(name=name, label=removed.rsplit(".", 1)[-1],
                                   type=REMOVED_TYPE, removed=True))


# -- freezing -----------------------------------------------------------------
def _targets(model: nn.Module, name: str) -> list[nn.Parameter]:
    """Parameters under a module name, or the single named parameter."""
    module = _lookup_module(model, name)
    if module is not None:
        return list(module.parameters())
    params = dict(model.named_parameters())
    if name in params:
        return [params[name]]
    raise ModelError(f"The model has no layer named '{name}'.")


def _refresh_batchnorm(model: nn.Module) -> None:
    # In training mode, a BatchNorm's train/eval state follows its frozenness;
    # re-running train() re-derives it after the frozen set changed.
    if model.training:
        model.train()


def set_trainable(model: nn.Module, name: str, trainable: bool) -> None:
    """Freeze or unfreeze every parameter under ``name``."""
    for p in _targets(model, name):
        p.requires_grad_(bool(trainable))
    _refresh_batchnorm(model)


def freeze_base(model: nn.Module) -> None:
    """Base frozen, head trainable."""
    for p in model.base.parameters():
        p.requires_grad_(False)
    for p in model.head.parameters():
        p.requires_grad_(True)
    _refresh_batchnorm(model)


def unfreeze_last_blocks(model: nn.Module, n: int) -> list[str]:
    """Freeze the base, then unfreeze its last ``n`` blocks; returns their names.

    The head stays trainable; ``n`` above the number of blocks unfreezes them all.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ModelError(f"The number of blocks to unfreeze must be a whole number of 0 or more; got {n!r}.")
    freeze_base(model)
    groups = block_groups(model)
    names = [name for group in (groups[-n:] if n else []) for name in group]
    for name in names:
        for p in _targets(model, name):
            p.requires_grad_(True)
    _refresh_batchnorm(model)
    return names


def frozen_modules(model: nn.Module) -> list[str]:
    """Minimal list of fully frozen subtree roots, e.g. ["base"]."""
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    return minimal_cover(model, frozen)


def apply_frozen(model: nn.Module, names: list[str]) -> None:
    """Exactly these subtrees frozen, everything else trainable."""
    targets = [p for name in names for p in _targets(model, name)]  # validate all before changing any
    for p in model.parameters():
        p.requires_grad_(True)
    for p in targets:
        p.requires_grad_(False)
    _refresh_batchnorm(model)


def apply_frozen_or_base(model: nn.Module, names: list[str], base_word: str = "base"
                         ) -> tuple[str, list[str] | None]:
    """Apply a saved frozen set; one that names layers this model does not have (a set saved for another
    network) falls back to the frozen base. Returns (a note for the user, the frozen set to record instead)
    -- ("", None) when the saved set applied."""
    try:
        apply_frozen(model, names)
    except ModelError:
        freeze_base(model)
        return (f"The saved frozen layers do not match this model; the whole {base_word} is frozen instead.",
                frozen_modules(model))
    return "", None


def count_params(model: nn.Module) -> tuple[int, int]:
    """(trainable, frozen) parameter counts."""
    trainable = frozen = 0
    for p in model.parameters():
        if p.requires_grad:
            trainable += p.numel()
        else:
            frozen += p.numel()
    return trainable, frozen
