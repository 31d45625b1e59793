"""TransferModel: a pretrained base cut at its pooled features, plus a new head.

``base`` maps an image batch ``[N, 3, H, W]`` to pooled features ``[N, feature_dim]``;
``head`` is built from a ``HeadSpec``. Module names used everywhere else (the
frozen set in a Project, the layer tree) are qualified names inside this
module, so they start with ``base.`` or ``head.``.
"""
from __future__ import annotations

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class TransferModel(nn.Module):
    def __init__(self, base: nn.Module, head: nn.Module, *, model_name: str,
                 feature_dim: int, removed_classifier: str | None = None) -> None:
        super().__init__()
        self.base = base
        self.head = head
        self.model_name = model_name
        self.feature_dim = int(feature_dim)
        # Qualified name (inside the original network) of the classifier that
        # was cut away; the layer tree shows it as removed.
        self.removed_classifier = removed_classifier
        # Fine-tuning on a small dataset: every BatchNorm of the base keeps its
        # pretrained running statistics (eval mode) while its weights train. Batch
        # statistics of a few hundred new images shift the features the head was
        # trained on, and accuracy collapses at the start of stage 2.
        self.base_batchnorm_frozen = False

    def forward_features(self, x):
        return self.base(x)

    def forward(self, x):
        return self.head(self.base(x))

    def train(self, mode: bool = True) -> "TransferModel":
        super().train(mode)
        if mode:
            keep_frozen_batchnorm_in_eval(self)
            if self.base_batchnorm_frozen:
                for module in self.base.modules():
                    if isinstance(module, _BatchNorm):
                        module.eval()
        return self


def keep_frozen_batchnorm_in_eval(model: nn.Module) -> None:
    """A BatchNorm whose parameters are all frozen must not update its running stats."""
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            params = list(module.parameters(recurse=False))
            if not params or not any(p.requires_grad for p in params):
                module.eval()


def base_is_frozen(model: TransferModel) -> bool:
    return not any(p.requires_grad for p in model.base.parameters())
