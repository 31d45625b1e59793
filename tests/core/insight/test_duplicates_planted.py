"""Duplicates on real pictures and texts with planted copies: the copies are found, nothing else is grouped.

Copies (``tests/planted_copies.py``): JPEG re-encodes at the same and at twice
the size, half-size and 5 %-cropped copies, saved under new names next to real
28 px Fashion-MNIST images and 64 px photo tiles; the features are the
bundled model's (32 px input, to stay quick).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.planted_copies import fashion_images, photo_tiles, write_class_folders
from tlstudio.core.data.index import Sample
from tlstudio.core.insight.duplicates import NEAR_TEXT, SAME_TEXT, find_duplicates, normalise_text
from tlstudio.core.insight.features import collect_features
from tlstudio.core.insight.pixel_match import thumbnail
from tlstudio.core.project import Project

torch.set_num_threads(2)
KINDS = ("jpeg", "jpeg-2x", "half-size", "crop-5%")
TEXT = Path(__file__).resolve().parents[3] / "resources" / "demo_text_data" / "wordnet_definitions.csv"


def planted_audit(root: Path, images, labels, n_copies: int, seed: int):
    rng = np.random.default_rng(seed)
    planted = {int(i): KINDS[k % len(KINDS)] for k, i in enumerate(rng.choice(len(images), n_copies, replace=False))}
    pairs = write_class_folders(root, images, labels, [f"c{c:02d}" for c in range(int(labels.max()) + 1)], planted)
    project = Project()
    project.data.path = str(root)
    project.model.image_size = 32
    data = collect_features(project, device="cpu")
    groups = find_duplicates(data.samples, data.labels, data.splits, data.features, task="image")
    kind_of = {c: planted[int(c.split("-")[-1][:5])] for c, _ in pairs}
    verified = [g for g in groups if g.tier == "duplicate"]
    sets = [set(data.keys[i] for i in g.members) for g in verified]
    found = [kind_of[c] for c, o in pairs if any({c, o} <= s for s in sets)]
    false = [sorted(s) for s in sets if not any({c, o} <= s for c, o in pairs)]
    return found, false, verified, data


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):
    images, labels = fashion_images(400, seed=3)
    return planted_audit(tmp_path_factory.mktemp("fashion") / "data", images, labels, 8, seed=4)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    images, labels = photo_tiles(limit_per_photo=20)
    keep = [i for i, im in enumerate(images) if thumbnail(im).std() >= 8]       # no plain black/white tiles
    return planted_audit(tmp_path_factory.mktemp("photos") / "data", [images[i] for i in keep], labels[keep], 12,
                         seed=5)


def test_small_images_re_encodes_and_crops_found_and_no_false_group(fashion):
    found, false, verified, _ = fashion
    # A half-size copy of a 28 px image is 14 px: too little left to tell it from a look-alike, so it may be
    # missed; every other planted copy is found, and no two different images are grouped.
    assert sorted(k for k in found if k != "half-size") == sorted(["jpeg", "jpeg", "jpeg-2x", "jpeg-2x",
                                                                   "crop-5%", "crop-5%"])
    assert false == []
    assert all(g.kind == "near" and g.closeness is not None and g.closeness <= 2.0 for g in verified)
    reasons = {g.reason for g in verified}
    assert {"same pixels after re-encoding", "resized copy", "cropped copy"} <= reasons
    assert all(", mean pixel difference " in g.describe() for g in verified)


def test_photos_copies_of_every_kind_found_and_no_false_group(photos):
    found, false, verified, _ = photos
    assert len(found) >= 11 and set(found) == set(KINDS), found
    assert false == []


def test_exact_copy_and_the_similar_tier(tmp_path):
    """Same bytes is "exact"; almost parallel features without the same pixels are only "similar"."""
    images, labels = fashion_images(60, seed=6)
    root = tmp_path / "data"
    write_class_folders(root, images, labels, [f"c{c}" for c in range(10)], {})
    first = sorted(root.glob("*/*.png"))[0]
    (first.parent / "again.png").write_bytes(first.read_bytes())
    files = sorted(root.glob("*/*.png"))
    samples = [Sample(str(f), 0) for f in files]
    feats = np.random.default_rng(0).normal(size=(len(files), 8)).astype(np.float32)
    a, b = files.index(first.parent / "again.png"), files.index(first)
    other = next(i for i in range(len(files)) if i not in (a, b))
    feats[other] = feats[b] + 1e-3                     # the model sees it alike; the pixels differ
    groups = find_duplicates(samples, np.zeros(len(files), int), ["train"] * len(files), feats, task="image")
    exact = [g for g in groups if g.kind == "exact"]
    assert [(g.members, g.reason, g.tier) for g in exact] == [(tuple(sorted((a, b))), "same bytes", "duplicate")]
    similar = [g for g in groups if g.tier == "similar"]
    assert len(similar) == 1 and set(similar[0].members) == {a, b, other}
    assert similar[0].reason == "near in feature space" and similar[0].describe().startswith("near in feature")


def _bag_of_words(texts: list[str]) -> np.ndarray:
    """Real texts' word counts, hashed into 512 columns (candidate neighbours without a text model)."""
    out = np.zeros((len(texts), 512), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in normalise_text(t).split():
            out[i, hash(w) % 512] += 1.0
    return out


def test_planted_text_edits_found_and_different_definitions_not_grouped():
    rows = list(csv.reader(TEXT.open(encoding="utf-8")))[1:]
    texts = [r[0] for r in rows]
    planted = []
    for k, i in enumerate(range(5, 360, 45)):
        words = texts[i].split()
        texts.append([texts[i].upper() + " !", " ".join(words[:2] + ["very"] + words[2:])][k % 2])
        planted.append((i, len(texts) - 1))
    samples = [Sample(f"t.csv:{i}", 0, t) for i, t in enumerate(texts)]
    groups = find_duplicates(samples, np.zeros(len(texts), int), ["train"] * len(texts), _bag_of_words(texts),
                             task="text")
    verified = [set(g.members) for g in groups if g.tier == "duplicate"]
    assert all(any({i, j} <= s for s in verified) for i, j in planted)
    assert all(any({i, j} <= s for i, j in planted) for s in verified)           # no other group
    by_pair = {frozenset(g.members): g for g in groups}
    assert by_pair[frozenset(planted[0])].reason == SAME_TEXT
    assert by_pair[frozenset(planted[1])].reason == NEAR_TEXT


def test_similar_tier_is_off_in_the_json_duplicates_unless_asked():
    from tlstudio.core.insight.features import DatasetFeatures
    from tlstudio.core.insight.report import AuditReport, format_report

    texts = ["A red apple.", "a red  APPLE", "a small green pear", "a tall old oak tree"]
    samples = [Sample(f"a.csv:{i + 2}", 0, t) for i, t in enumerate(texts)]
    feats = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0.999, 0.02]], dtype=np.float32)
    labels, splits = np.zeros(4, dtype=np.int64), ["train"] * 4
    groups = find_duplicates(samples, labels, splits, feats, task="text")
    data = DatasetFeatures(samples, [s.path for s in samples], labels, ["fruit"], feats, splits, "m", task="text")
    report = AuditReport(data, [], groups, [])
    plain, full = report.to_json(), report.to_json(similar=True)
    assert [g["keys"] for g in plain["duplicates"]] == [["a.csv:2", "a.csv:3"]] and "similar" not in plain
    assert plain["duplicates"][0]["why"] == "same text" and plain["counts"]["similar"] == 1
    assert [(g["keys"], g["tier"], g["reason"]) for g in full["similar"]] == [
        (["a.csv:4", "a.csv:5"], "similar", "near in feature space")]
    assert "a.csv:4" not in format_report(report) and "a.csv:4" in format_report(report, similar=True)
