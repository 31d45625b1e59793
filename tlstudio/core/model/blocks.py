"""Group a base network into its ordered top-level "blocks".

"Unfreeze the last N blocks" needs to know what a block is. timm models say
so themselves (``group_matcher(coarse=True)``); torchvision models get a
matcher in the same format from their family adapter (zoo/families/); any
other network falls back to its top-level children that hold parameters.

A block can span several modules (timm puts ``conv_stem`` + ``bn1`` in the
stem, and ``conv_head`` + ``bn2`` with the last stage), so a block is a list of
qualified names: module names, or a parameter name where a module owns
parameters directly (ViT's ``class_token``).
"""
from __future__ import annotations

from torch import nn

from tlstudio.core.errors import ModelError
from tlstudio.core.zoo.cards import get_card
from tlstudio.core.zoo.families import adapter_for

try:  # timm is a dependency, but its grouping helper is not worth crashing over
    from timm.models import group_parameters as _timm_group_parameters
except ImportError:  # pragma: no cover - timm always ships group_parameters
    _timm_group_parameters = None


def minimal_cover(module: nn.Module, selected: set[str], prefix: str = "") -> list[str]:
    """Fewest names (prefixed) whose subtrees hold exactly the ``selected`` parameters.

    ``selected`` holds parameter names relative to ``module``. The module
    itself is never returned, only its descendants (or its own parameters),
    in registration order.
    """
    out: list[str] = []
    for pname, _ in module.named_parameters(recurse=False):
        if pname in selected:
            out.append(prefix + pname)
    for cname, child in module.named_children():
        names = [f"{cname}.{n}" for n, _ in child.named_parameters()]
        if not names:
            continue
        if all(n in selected for n in names):
            out.append(prefix + cname)
        elif any(n in selected for n in names):
            sub = {n[len(cname) + 1:] for n in selected if n.startswith(cname + ".")}
            out.extend(minimal_cover(child, sub, f"{prefix}{cname}."))
    return out


def _family_matcher(model_name: str | None) -> dict | None:
    """The block matcher the model's family adapter gives, if any."""
    if not model_name:
        return None
    try:
        adapter = adapter_for(get_card(model_name))
    except ModelError:  # a network built outside the zoo: generic groups
        return None
    matcher = adapter.block_matcher if adapter is not None else None
    return dict(matcher) if matcher is not None else None


def _matcher_for(base: nn.Module, model_name: str | None) -> dict | None:
    if hasattr(base, "group_matcher"):
        try:
            matcher = base.group_matcher(coarse=True)
        except Exception:  # some timm models leave it unimplemented
            matcher = None
        if isinstance(matcher, dict) or callable(matcher):
            return matcher
    return _family_matcher(model_name)


def _param_groups(base: nn.Module, model_name: str | None = None) -> list[list[str]]:
    """Parameter names (relative to base) per block, in order."""
    matcher = _matcher_for(base, model_name)
    if matcher is not None and _timm_group_parameters is not None:
        grouped = _timm_group_parameters(base, matcher)
        groups = [grouped[k] for k in sorted(grouped)]
        if len(groups) > 1:
            return groups
    return _generic_groups(base)


def _generic_groups(base: nn.Module) -> list[list[str]]:
    """Top-level children with parameters; descend while there is only one."""
    prefix, module = "", base
    while True:
        children = [(n, c) for n, c in module.named_children() if any(True for _ in c.parameters())]
        own = [prefix + n for n, _ in module.named_parameters(recurse=False)]
        if len(children) == 1 and not own:
            name, module = children[0]
            prefix += name + "."
            continue
        groups = [[f"{prefix}{n}.{p}" for p, _ in c.named_parameters()] for n, c in children]
        if own:  # loose parameters (tokens, embeddings) belong with the stem
            groups = [own + groups[0]] + groups[1:] if groups else [own]
        return [g for g in groups if g]


def block_groups(model) -> list[list[str]]:
    """Each block of ``model.base`` as qualified names ("base.blocks.3", ...)."""
    base = model.base
    groups = _param_groups(base, getattr(model, "model_name", None))
    return [minimal_cover(base, set(group), "base.") for group in groups]


def block_names(model) -> list[str]:
    """One name per block: its first module (``block_groups`` lists them all)."""
    return [group[0] for group in block_groups(model) if group]
