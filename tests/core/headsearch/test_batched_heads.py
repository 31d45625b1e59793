"""The batched head trainer: stopped heads leave the batch, a group does not wait for its slowest head."""
from __future__ import annotations

import torch

from tlstudio.core.model.head import HeadSpec
from tlstudio.core.headsearch import batched as bh
from tlstudio.core.headsearch import search as hs


def _blobs(n: int = 240, d: int = 20, classes: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    centres = torch.randn(classes, d, generator=g) * 1.5
    return centres[y] + torch.randn(n, d, generator=g) * 2.0, y


def test_a_group_ends_once_most_heads_have_stopped_and_stopped_heads_leave_the_batch():
    x, y = _blobs()
    fold = hs.stratified_folds(y, 2, seed=0)
    train = torch.stack([fold != 0] * 4)
    # Two fast heads overfit and stop first, a slower one later; a very slow one would creep on for all 400.
    lrs, wds = torch.tensor([3e-2, 3e-2, 2e-3, 1e-6]), torch.zeros(4)
    fit = bh.train_group(x, y, train, ~train, HeadSpec(layers=[]), lrs, wds, epochs=400, early_stop=True,
                         batch_size=32, seed=0, num_classes=3, class_weight=None, label_smoothing=0.0,
                         stop_share=bh.GROUP_STOP_SHARE)
    fast_stop = int(fit.best_epoch[:2].max()) + bh.PATIENCE
    last = int(fit.best_epoch[2]) + bh.PATIENCE        # the third head to stop (3 of 4 >= 2/3) ends the group
    assert fast_stop < last < 400
    # the slow head was still improving when the group ended, and kept its best epoch so far
    assert int(fit.best_epoch[3]) <= last
    # the stopped fast heads left the batch: they cost their own epochs only
    assert fit.head_epochs == sum(int(e) + bh.PATIENCE for e in fit.best_epoch[:2]) + 2 * last
    assert torch.isfinite(fit.best_loss).all()
    # without a stop share (learning curves, the audit) the group waits for every head
    full = bh.train_group(x, y, train[:2], ~train[:2], HeadSpec(layers=[]), lrs[2:], wds[2:], epochs=60,
                          early_stop=True, batch_size=32, seed=0, num_classes=3, class_weight=None,
                          label_smoothing=0.0)
    assert full.head_epochs == min(int(full.best_epoch[0]) + bh.PATIENCE, 60) + 60


def test_the_randomised_principal_basis_captures_the_leading_variance():
    g = torch.Generator().manual_seed(1)
    n, d, k = 1200, 700, 64
    scales = torch.logspace(0, -2, d)                     # a decaying spectrum, as real features have
    x = torch.randn(n, d, generator=g) @ torch.linalg.qr(torch.randn(d, d, generator=g)).Q * scales
    basis = hs.principal_basis(x, k=k)
    assert basis.shape == (d, k)
    centred = x - x.mean(0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    exact = float((centred @ vh[:k].T).pow(2).sum())
    captured = float((centred @ basis).pow(2).sum())
    assert captured >= 0.99 * exact
    assert torch.allclose(basis.T @ basis, torch.eye(k), atol=1e-4)      # orthonormal: it folds exactly


def test_the_fused_adam_step_matches_the_plain_one_per_head_settings_and_after_heads_leave():
    assert bh._FUSED is not None, "torch's fused Adam kernel is gone: the search falls back to the slow update"
    g = torch.Generator().manual_seed(3)
    shapes = [(5, 12, 7), (5, 1, 7), (5, 7, 3), (5, 1, 3)]
    start = [torch.randn(s, generator=g) for s in shapes]
    grads = [[torch.randn(s, generator=g) for s in shapes] for _ in range(6)]
    lrs, wds = torch.tensor([1e-3, 1e-3, 3e-3, 3e-3, 1e-2]), torch.tensor([0.1, 0.1, 0.0, 0.01, 0.01])
    results = []
    for fused in (False, True):
        params = [p.clone() for p in start]
        adam = bh.BatchedAdam(params, [True, False, True, False], lrs, wds)
        adam.fused = fused
        for step, grad in enumerate(grads):
            if step == 3:                                  # heads 1 and 3 stop and leave the batch
                keep = torch.tensor([True, False, True, False, True])
                params = [p[keep] for p in params]
                adam.keep(keep)
            # a permuted (non-contiguous) gradient, as a transposed matmul's backward can give
            grad = [gr[: params[0].shape[0]].transpose(1, 2).contiguous().transpose(1, 2) for gr in grad]
            adam.step(params, tuple(grad))
        results.append(params)
    for plain, fused in zip(*results):
        assert torch.allclose(plain, fused, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(results[1][0], start[0][[0, 2, 4]])      # it did move
