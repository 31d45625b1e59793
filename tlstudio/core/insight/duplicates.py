"""Duplicates and near duplicates: the same content, a re-encoded copy, or almost the same features.

Three kinds, each reported as groups of samples (a group lists a sample in
at most one group of its kind; a group a stronger kind already covers is not
repeated):

- ``exact``: the same file bytes (images), or the same text once normalised
  (case, accents' compatibility forms, white space and punctuation ignored);
- ``near``: images whose perceptual hashes (dHash and pHash, ``image_hash``)
  both differ in at most a few bits: resized, re-compressed, lightly edited;
- ``feature``: samples whose frozen features are almost parallel (cosine
  similarity at least ``FEATURE_COSINE``), whatever the file looks like.

A group *straddles the split* when its samples are in more than one of
train/val/test (the validation score then measures memory, not skill), and
*labels differ* when they do not all carry the same class.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from tlstudio.core.insight.image_hash import dhash, hamming, phash

NEAR_DHASH_BITS = 3         # of 64 (measured on 28 px demo images: a JPEG re-encoded 2x copy differs by <= 3 in 97%;
                            # no two distinct demo images are within both limits)
NEAR_PHASH_BITS = 5
FEATURE_COSINE = 0.985
BLOCK = 1024                # rows compared at once (memory stays O(BLOCK * n))
HASH_PREVIEW_PX = 128


@dataclass(frozen=True)
class DuplicateGroup:
    members: tuple[int, ...]      # indices into DatasetFeatures.samples, ascending
    kind: str                     # "exact" | "near" | "feature"
    straddles_split: bool
    labels_differ: bool


class _Groups:
    """Union-find over sample indices."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)

    def groups(self) -> list[tuple[int, ...]]:
        out: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            out.setdefault(self.find(i), []).append(i)
        return [tuple(g) for g in out.values() if len(g) > 1]


def normalise_text(text: str) -> str:
    """Lower case, compatibility forms, punctuation dropped, white space collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[^\w\s]", "", text)
    return " ".join(text.split())


def _pairs_within(matrix_rows: Callable[[int, int], np.ndarray], n: int, keep: Callable[[np.ndarray], np.ndarray],
                  groups: _Groups, check: Callable[[], None]) -> None:
    for start in range(0, n, BLOCK):
        check()
        block = matrix_rows(start, min(n, start + BLOCK))
        rows, cols = np.nonzero(keep(block))
        for r, c in zip(rows.tolist(), cols.tolist()):
            i = start + r
            if c > i:
                groups.join(i, c)


def exact_groups(digests: Sequence[str]) -> list[tuple[int, ...]]:
    by: dict[str, list[int]] = {}
    for i, d in enumerate(digests):
        by.setdefault(d, []).append(i)
    return [tuple(g) for g in by.values() if len(g) > 1]


def near_image_groups(d_bits: np.ndarray, p_bits: np.ndarray, check: Callable[[], None]) -> list[tuple[int, ...]]:
    n, groups = len(d_bits), _Groups(len(d_bits))

    def rows(a: int, b: int) -> np.ndarray:
        return np.stack([hamming(d_bits[a:b], d_bits), hamming(p_bits[a:b], p_bits)])

    _pairs_within(rows, n, lambda m: (m[0] <= NEAR_DHASH_BITS) & (m[1] <= NEAR_PHASH_BITS), groups, check)
    return groups.groups()


def feature_groups(features: np.ndarray, check: Callable[[], None],
                   threshold: float = FEATURE_COSINE) -> list[tuple[int, ...]]:
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    groups = _Groups(len(unit))
    _pairs_within(lambda a, b: unit[a:b] @ unit.T, len(unit), lambda m: m >= threshold, groups, check)
    return groups.groups()


def image_fingerprints(samples, modality, check: Callable[[], None]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """sha256 of each file's bytes and its dHash/pHash bits (an unreadable file gets unique values)."""
    digests, d_bits, p_bits = [], [], []
    for i, s in enumerate(samples):
        if i % 64 == 0:
            check()
        try:
            with open(s.path, "rb") as fh:
                digests.append(hashlib.sha256(fh.read()).hexdigest())
            image = modality.preview(s, HASH_PREVIEW_PX)
            d_bits.append(dhash(image))
            p_bits.append(phash(image))
        except (OSError, ValueError):
            digests.append(f"unreadable:{i}")
            rng = np.random.default_rng(i)       # bits no other image shares, in practice
            d_bits.append(rng.random(64) > 0.5)
            p_bits.append(rng.random(64) > 0.5)
    return digests, np.array(d_bits, dtype=bool).reshape(-1, 64), np.array(p_bits, dtype=bool).reshape(-1, 64)


def find_duplicates(samples, labels: np.ndarray, splits: Sequence[str], features: np.ndarray, *, task: str,
                    modality=None, check: Callable[[], None] | None = None) -> list[DuplicateGroup]:
    """Exact, near and feature-space duplicate groups (see the module docstring), exact first."""
    check = check or (lambda: None)
    found: list[tuple[str, tuple[int, ...]]] = []
    if task == "image":
        digests, d_bits, p_bits = image_fingerprints(samples, modality, check)
        found += [("exact", g) for g in exact_groups(digests)]
        found += [("near", g) for g in near_image_groups(d_bits, p_bits, check)]
    else:
        found += [("exact", g) for g in exact_groups([normalise_text(s.text or "") for s in samples])]
    found += [("feature", g) for g in feature_groups(np.asarray(features, dtype=np.float32), check)]
    covered: list[set[int]] = []
    out = []
    for kind, members in found:
        if any(set(members) <= seen for seen in covered):
            continue
        covered.append(set(members))
        out.append(DuplicateGroup(tuple(sorted(members)), kind,
                                  straddles_split=len({splits[i] for i in members}) > 1,
                                  labels_differ=len({int(labels[i]) for i in members}) > 1))
    return out
