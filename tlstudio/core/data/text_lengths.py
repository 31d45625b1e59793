"""Token-length statistics of a text dataset: per class, a shared histogram, and how many
texts a maximum length would truncate (the Data tab's histogram; ``tlstudio-cli scan``)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from tlstudio.core.data.index import Sample


@dataclass
class ClassLengths:
    name: str
    count: int
    min: int
    median: float
    mean: float
    p95: float
    max: int
    truncated: int            # texts longer than max_length tokens
    histogram: list[int]      # counts per bin of TokenLengthStats.bin_edges


@dataclass
class TokenLengthStats:
    max_length: int
    bin_edges: list[int]
    per_class: list[ClassLengths]
    lengths: list[int]        # per sample, in the order given

    @property
    def truncated(self) -> int:
        return sum(c.truncated for c in self.per_class)

    def to_dict(self) -> dict[str, Any]:
        return {"max_length": self.max_length, "bin_edges": self.bin_edges, "truncated": self.truncated,
                "per_class": [vars(c) for c in self.per_class]}


def token_lengths(texts: Sequence[str], tokenizer: Any, batch_size: int = 256) -> list[int]:
    """Tokens per text including the special tokens the model adds, without truncation."""
    out: list[int] = []
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(list(texts[start:start + batch_size]), add_special_tokens=True, truncation=False,
                        padding=False, verbose=False)
        out += [len(ids) for ids in enc["input_ids"]]
    return out


def _quantile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return 0.0
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo))


def token_length_stats(samples: Sequence[Sample], classes: Sequence[str], tokenizer: Any, max_length: int,
                       bins: int = 20, lengths: Sequence[int] | None = None) -> TokenLengthStats:
    """Per-class token-length statistics, a shared histogram and how many texts ``max_length``
    would truncate. Pass ``lengths`` to reuse earlier tokenisation."""
    if lengths is None:
        lengths = token_lengths([s.text or "" for s in samples], tokenizer)
    lengths = list(lengths)
    top = max(lengths + [max_length, 1])
    width = max(1, math.ceil(top / bins))
    edges = [i * width for i in range(bins + 1)]
    per_class = []
    for label, name in enumerate(classes):
        values = sorted(n for s, n in zip(samples, lengths) if s.label == label)
        hist = [0] * bins
        for n in values:
            hist[min(bins - 1, n // width)] += 1
        per_class.append(ClassLengths(name, len(values), values[0] if values else 0, _quantile(values, 0.5),
                                      sum(values) / len(values) if values else 0.0, _quantile(values, 0.95),
                                      values[-1] if values else 0, sum(n > max_length for n in values), hist))
    return TokenLengthStats(max_length, edges, per_class, lengths)
