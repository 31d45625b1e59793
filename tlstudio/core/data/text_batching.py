"""Batching texts by token length, so a batch pads only to its own longest text.

Training uses ``bucket_by_length``: each epoch's random order is cut into
chunks of ``BUCKET_CHUNK_BATCHES`` batches, each chunk is sorted by length and
cut into batches, and the batches are shuffled. A batch then holds texts of
similar length (little padding), its members still change from epoch to epoch
(the chunks are random), every text is seen once per epoch, and the same seed
gives the same order.
"""
from __future__ import annotations

import random
from typing import Any, Sequence

from tlstudio.core.data.index import Sample

BUCKET_CHUNK_BATCHES = 8      # batches per sorted chunk: more pads less, fewer mixes the batches more


def bucket_by_length(order: Sequence[int], lengths: Sequence[int], batch_size: int, *,
                     chunk_batches: int = BUCKET_CHUNK_BATCHES, seed: int = 0) -> list[int]:
    """``order`` (a random permutation) rearranged so that consecutive runs of ``batch_size``
    indices have similar ``lengths[i]``. Only the last batch may be short, as in ``order``."""
    if batch_size < 1 or chunk_batches < 1:
        raise ValueError("batch_size and chunk_batches must be at least 1")
    order = [int(i) for i in order]
    chunk = batch_size * chunk_batches
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start:start + chunk], key=lambda i: lengths[i])   # stable: ties stay random
        batches += [part[k:k + batch_size] for k in range(0, len(part), batch_size)]
    tail = batches.pop() if batches and len(batches[-1]) < batch_size else None
    random.Random(seed).shuffle(batches)
    if tail is not None:
        batches.append(tail)        # a short batch only at the end, or the loader's batches shift
    return [i for batch in batches for i in batch]


def length_batches(lengths: Sequence[int], batch_size: int, *, shuffle: bool = False,
                   seed: int = 0) -> list[list[int]]:
    """Indices grouped into batches of similar length, so each batch pads only to its own longest.

    Without shuffling the batches go from short to long. With shuffling the order
    of the texts within a length and the order of the batches change per seed.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    order = list(range(len(lengths)))
    rng = random.Random(seed)
    if shuffle:
        rng.shuffle(order)   # ties in length end up in a random order
    order.sort(key=lambda i: lengths[i])
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle:
        rng.shuffle(batches)
    return batches


class TextCollator:
    """Tokenises a list of (text, label) pairs, padding to the longest text in the batch."""

    def __init__(self, tokenizer: Any, max_length: int):
        self.tokenizer = tokenizer
        self.max_length = int(max_length)

    def __call__(self, batch: Sequence[tuple[str, int]]) -> dict[str, Any]:
        import torch

        texts = [t for t, _ in batch]
        enc = self.tokenizer(texts, padding="longest", truncation=True, max_length=self.max_length,
                             return_tensors="pt", return_attention_mask=True)
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                "labels": torch.tensor([int(y) for _, y in batch], dtype=torch.long)}


class TextDataset:
    """(text, label) pairs of samples, for a torch DataLoader with a ``TextCollator``."""

    def __init__(self, samples: Sequence[Sample]):
        self.samples = list(samples)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[str, int]:
        s = self.samples[i]
        return s.text or "", s.label


def padded_fraction(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> float:
    """Share of token slots that are padding when each batch pads to its own longest."""
    total = real = 0
    for batch in batches:
        if batch:
            longest = max(lengths[i] for i in batch)
            total += longest * len(batch)
            real += sum(lengths[i] for i in batch)
    return 0.0 if total == 0 else 1.0 - real / total
