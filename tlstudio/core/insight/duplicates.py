"""Duplicates you can trust: candidates are verified before they are reported, and each group says why.

Two tiers, each reported as groups of samples:

- **duplicates** (``kind`` "exact" or "near"): the same file bytes or the same
  text once normalised (case, compatibility forms, white space and
  punctuation ignored) -- "exact"; or a candidate pair that passes a check on
  the content itself -- "near": for images the pixel check of
  ``image_duplicates`` (the thresholds and the measurements behind them are
  there: a JPEG re-encode, a resized or slightly cropped copy passes, two
  different samples of one class do not); for texts a normalised text
  similarity (``difflib`` ratio of the normalised texts) of at least
  ``TEXT_SIMILARITY`` (0.85). Measured on the 360 WordNet definitions of the
  text demo: the most similar *other* definition reaches 0.83 (99th
  percentile 0.78); a copy with one word inserted, dropped or misspelt
  0.81-1.0 (median 0.95, 1st percentile 0.82). A group's ``reason`` is its weakest link ("same bytes", "same
  text", "same pixels after re-encoding", "resized copy", "cropped copy",
  "near-identical text") and ``closeness`` the mean pixel difference (0-255,
  the largest in the group) for images, the text similarity (the smallest)
  for texts.
- **similar** (``kind`` "similar", reason "near in feature space"): samples
  whose frozen features are almost parallel (cosine at least
  ``FEATURE_COSINE``) but whose content was not verified as the same; the
  closeness is the smallest cosine in the group. A lower tier: the model sees
  them alike, a person may not.

Candidates: each sample's ``NEIGHBOURS`` nearest neighbours in feature space
with cosine at least ``CANDIDATE_COSINE`` (``neighbours.nearest_neighbours``,
computed in chunks), plus, for images, pairs whose perceptual hashes are close
(``image_duplicates.hash_candidates``). An image and its nearest neighbour also
get the crop search when the plain pixel check fails (at most one per image).
With the bundled model at a 32 px input, planted copies of 28 px images sit at
cosine 0.86-0.99 from their originals (half-size copies lower: 0.46-0.78). A group *straddles the split* when its
samples are in more than one of train/val/test, and *labels differ* when they
do not all carry the same class.
"""
from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tlstudio.core.insight import image_duplicates as imdup
from tlstudio.core.insight.neighbours import Neighbours, nearest_neighbours
from tlstudio.core.progress import JobState, check

FEATURE_COSINE = 0.985
CANDIDATE_COSINE = 0.80
TEXT_SIMILARITY = 0.85
NEIGHBOURS = 5

SAME_TEXT, NEAR_TEXT, SIMILAR = "same text", "near-identical text", "near in feature space"
# Weakest link first: a group's reason is the first of these any of its links has.
REASON_ORDER = (SIMILAR, NEAR_TEXT, imdup.CROPPED, imdup.RESIZED, imdup.REENCODED, SAME_TEXT, imdup.SAME_BYTES)


@dataclass(frozen=True)
class DuplicateGroup:
    members: tuple[int, ...]      # indices into DatasetFeatures.samples, ascending
    kind: str                     # "exact" | "near" | "similar"
    straddles_split: bool
    labels_differ: bool
    reason: str = ""              # why (see the module docstring)
    closeness: float | None = None

    @property
    def tier(self) -> str:
        return "similar" if self.kind == "similar" else "duplicate"

    def describe(self) -> str:
        """The reason and how close, in words: "resized copy, mean pixel difference 1.3 of 255"."""
        if self.closeness is None or self.reason in (imdup.SAME_BYTES, SAME_TEXT):
            return self.reason
        if self.kind == "similar":
            return f"{self.reason}, cosine {self.closeness:.3f}"
        if self.reason == NEAR_TEXT:
            return f"{self.reason}, {self.closeness:.0%} alike"
        return f"{self.reason}, mean pixel difference {self.closeness:.1f} of 255"


class _Groups:
    """Union-find over sample indices, remembering each group's weakest link."""

    def __init__(self, n: int):
        self.parent = list(range(n))
        self.links: list[tuple[int, int, str, float]] = []

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i: int, j: int, reason: str = "", closeness: float = 0.0) -> None:
        a, b = self.find(i), self.find(j)
        self.links.append((i, j, reason, closeness))
        if a != b:
            self.parent[max(a, b)] = min(a, b)

    def groups(self) -> list[tuple[tuple[int, ...], list[tuple[str, float]]]]:
        """Groups of two or more, each with its links' (reason, closeness)."""
        out: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            out.setdefault(self.find(i), []).append(i)
        links: dict[int, list[tuple[str, float]]] = {}
        for i, _j, reason, closeness in self.links:
            links.setdefault(self.find(i), []).append((reason, closeness))
        return [(tuple(g), links.get(root, [])) for root, g in out.items() if len(g) > 1]


def normalise_text(text: str) -> str:
    """Lower case, compatibility forms, punctuation dropped, white space collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[^\w\s]", "", text)
    return " ".join(text.split())


def text_similarity(a: str, b: str) -> float:
    """How alike two normalised texts are: difflib's ratio, 1.0 for the same text."""
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def exact_groups(digests: Sequence[str]) -> list[tuple[int, ...]]:
    by: dict[str, list[int]] = {}
    for i, d in enumerate(digests):
        by.setdefault(d, []).append(i)
    return [tuple(g) for g in by.values() if len(g) > 1]


def feature_groups(features: np.ndarray, job: JobState | None = None,
                   threshold: float = FEATURE_COSINE) -> list[tuple[int, ...]]:
    """Groups of samples linked by feature cosine >= ``threshold`` (nearest neighbours only)."""
    groups = _Groups(len(features))
    for i, j, s in nearest_neighbours(features, NEIGHBOURS, job).pairs_at_least(threshold):
        groups.join(i, j)
    return [g for g, _ in groups.groups()]


def _verified_image_links(samples, neighbours: Neighbours, job: JobState | None
                          ) -> list[tuple[int, int, str, float]]:
    fp = imdup.image_fingerprints(samples, job)
    close = {(i, j): s for i, j, s in neighbours.pairs_at_least(CANDIDATE_COSINE)}
    pairs = sorted(set(close) | imdup.hash_candidates(fp, job))
    links = [(g[0], j, imdup.SAME_BYTES, 0.0) for g in exact_groups(fp.digests) for j in g[1:]]
    first = neighbours.index[:, 0]

    def crop_ok(i: int, j: int) -> bool:       # at most one crop search (~5 ms) per image: its nearest neighbour
        return (i, j) in close and (first[i] == j or first[j] == i)

    return links + imdup.verify_pairs(fp, pairs, crop_ok, job)


def _verified_text_links(samples, neighbours: Neighbours, job: JobState | None) -> list[tuple[int, int, str, float]]:
    texts = [normalise_text(s.text or "") for s in samples]
    links = [(g[0], j, SAME_TEXT, 1.0) for g in exact_groups(texts) for j in g[1:]]
    for k, (i, j, _s) in enumerate(neighbours.pairs_at_least(CANDIDATE_COSINE)):
        if k % 256 == 0:
            check(job)
        if texts[i] != texts[j]:
            sim = text_similarity(texts[i], texts[j])
            if sim >= TEXT_SIMILARITY:
                links.append((i, j, NEAR_TEXT, sim))
    return links


def _weakest(links: list[tuple[str, float]]) -> tuple[str, float | None]:
    reason = min((r for r, _ in links), key=REASON_ORDER.index)
    values = [c for r, c in links if r not in (imdup.SAME_BYTES, SAME_TEXT)]
    if not values:
        return reason, None
    return reason, (max(values) if reason in (imdup.REENCODED, imdup.RESIZED, imdup.CROPPED) else min(values))


def find_duplicates(samples, labels: np.ndarray, splits: Sequence[str], features: np.ndarray, *, task: str,
                    modality=None, job: JobState | None = None,
                    neighbours: Neighbours | None = None) -> list[DuplicateGroup]:
    """Verified duplicate groups, then the "similar" tier (see the module docstring).

    ``neighbours``: precomputed ``nearest_neighbours(features, >= NEIGHBOURS)`` (computed when None).
    ``task``: the modality's name; ``job``: checked, and told the images verified.
    """
    if neighbours is None:
        neighbours = nearest_neighbours(features, NEIGHBOURS, job)
    verify = {"image": lambda: _verified_image_links(samples, neighbours, job),   # by pixels
              "text": lambda: _verified_text_links(samples, neighbours, job)}                # by words
    links = verify[task]()
    same = _Groups(len(samples))
    for i, j, reason, closeness in links:
        same.join(i, j, reason, closeness)
    found = []
    for members, member_links in same.groups():
        reason, closeness = _weakest(member_links)
        found.append((members, "exact" if reason in (imdup.SAME_BYTES, SAME_TEXT) else "near", reason, closeness))
    alike = _Groups(len(samples))
    for i, j, s in neighbours.pairs_at_least(FEATURE_COSINE):
        if same.find(i) != same.find(j):
            alike.join(same.find(i), same.find(j), SIMILAR, s)
    root_of = [same.find(i) for i in range(len(samples))]
    for roots, member_links in alike.groups():
        wanted = set(roots)
        members = tuple(i for i, r in enumerate(root_of) if r in wanted)
        found.append((members, "similar", SIMILAR, min(c for _, c in member_links)))
    # An unlabeled (pool) member neither leaks across the split nor disagrees on a label.
    return [DuplicateGroup(tuple(sorted(m)), kind, straddles_split=len({splits[i] for i in m} - {"pool"}) > 1,
                           labels_differ=len({int(labels[i]) for i in m} - {-1}) > 1, reason=reason,
                           closeness=closeness)
            for m, kind, reason, closeness in found]

