"""The data audit on real data: planted label errors rank at the top (images and text), re-encoded
copies are found as duplicates (with split leakage), a foreign sample is an outlier."""
from __future__ import annotations

import csv
import glob
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tlstudio.core.insight.duplicates import feature_groups, normalise_text
from tlstudio.core.insight.image_hash import dhash, hamming, phash
from tlstudio.core.insight.label_issues import rank_label_issues
from tlstudio.core.insight.report import format_report, run_audit
from tlstudio.core.model.head import HeadSpec
from tlstudio.core.paths import demo_data_dir
from tlstudio.core.project import Project

torch.set_num_threads(2)
TEXT = Path(__file__).resolve().parents[3] / "resources" / "demo_text_data" / "wordnet_definitions.csv"
CLASSES = ("bag", "dress", "sneaker", "trouser")
# Planted label errors: (class folder, file) moved into another class's folder.
PLANTED = [("bag", "000.png", "trouser"), ("bag", "001.png", "sneaker"), ("sneaker", "000.png", "dress"),
           ("trouser", "000.png", "bag"), ("dress", "000.png", "sneaker")]


def reencoded(src: Path, dest: Path) -> None:
    """A copy at twice the size, saved as JPEG: other bytes, the same picture."""
    im = Image.open(src).convert("RGB")
    im.resize((im.width * 2, im.height * 2), Image.Resampling.BICUBIC).save(dest, "JPEG", quality=85)


@pytest.fixture(scope="module")
def image_audit(tmp_path_factory):
    data = tmp_path_factory.mktemp("audit") / "data"
    for cls in CLASSES:
        (data / cls).mkdir(parents=True)
        for f in sorted(glob.glob(str(demo_data_dir() / cls / "*.png")))[:24]:
            shutil.copy(f, data / cls)
    for cls, name, into in PLANTED:
        shutil.move(data / cls / name, data / into / f"moved-from-{cls}-{name}")
    reencoded(data / "bag" / "005.png", data / "bag" / "copy-a.jpg")
    reencoded(data / "dress" / "007.png", data / "dress" / "copy-b.jpg")
    shutil.copy(data / "trouser" / "009.png", data / "trouser" / "copy-c.png")      # byte-identical
    p = Project()
    p.data.path = str(data)
    p.model.name = "tf_efficientnet_lite0"
    p.model.image_size = 96
    p.head = HeadSpec(layers=[])
    return run_audit(p, device="cpu")


def test_planted_image_label_errors_rank_at_the_top(image_audit):
    top = image_audit.label_issues[:2 * len(PLANTED)]
    keys = [image_audit.data.keys[x.index] for x in top]
    planted = {f"{into}/moved-from-{cls}-{name}": cls for cls, name, into in PLANTED}
    found = [k for k in keys if k in planted]
    assert len(found) >= 4, keys
    right = [x for x in top if planted.get(image_audit.data.keys[x.index]) == image_audit.class_name(x.suggested)]
    assert len(right) >= 3


def test_reencoded_and_exact_copies_are_duplicates(image_audit):
    groups = {frozenset(g["keys"]): g for g in image_audit.to_json()["duplicates"]}
    by_member = {k: g for members, g in groups.items() for k in members}
    for copy, original in (("bag/copy-a.jpg", "bag/005.png"), ("dress/copy-b.jpg", "dress/007.png"),
                           ("trouser/copy-c.png", "trouser/009.png")):
        assert original in by_member.get(copy, {"keys": []})["keys"], (copy, groups.keys())
    assert (by_member["trouser/copy-c.png"]["kind"], by_member["trouser/copy-c.png"]["reason"]) == ("exact",
                                                                                                  "same bytes")
    assert (by_member["bag/copy-a.jpg"]["kind"], by_member["bag/copy-a.jpg"]["reason"]) == ("near", "resized copy")
    assert by_member["bag/copy-a.jpg"]["why"].startswith("resized copy, mean pixel difference ")
    assert all(g["tier"] == "duplicate" for g in groups.values()) and len(groups) == 3     # nothing else
    for g in groups.values():
        assert g["straddles_split"] == (len(set(g["splits"])) > 1)
        assert g["labels_differ"] is False
    assert "Duplicate groups: " in format_report(image_audit)


def test_planted_text_label_errors_rank_at_the_top(tmp_path):
    rows = list(csv.reader(TEXT.open(encoding="utf-8")))
    header, body = rows[0], rows[1:]
    flips = {3: "location", 70: "food", 130: "animal", 200: "body", 260: "plant", 330: "feeling"}
    truth = {}
    for i, new in flips.items():
        truth[f"topics.csv:{i + 2}"] = body[i][1]
        body[i] = [body[i][0], new]
    body.append(["zqxv blorp 7731 ###", "animal"])            # not a definition of anything
    body.append(["zqxv wibble 9021 ###", "animal"])
    path = tmp_path / "topics.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header] + body)
    p = Project(task="text")
    p.data.path = str(path)
    p.model.name = "all-MiniLM-L6-v2"
    report = run_audit(p, device="cpu")
    j = report.to_json(12)
    found = [x for x in j["label_issues"] if x["row"] in truth]
    assert len(found) >= 5, [x["row"] for x in j["label_issues"]]
    assert sum(truth[x["row"]] == x["suggested"] for x in found) >= 4
    assert all(set(x) >= {"row", "text", "given", "suggested", "score"} for x in j["label_issues"])
    assert j["label_issues"] == sorted(j["label_issues"], key=lambda x: -x["score"])
    odd = [o for o in j["outliers"][:5] if o["text"].startswith("zqxv")]
    assert len(odd) == 2, j["outliers"]


def test_ranking_and_hashes_on_constructed_inputs():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.05, 0.95]])
    labels = np.array([0, 1, 1, 0])
    issues = rank_label_issues(probs, labels)
    assert [x.index for x in issues] == [3, 2] and issues[0].suggested == 1
    im = Image.open(next(iter(sorted(glob.glob(str(demo_data_dir() / "bag" / "*.png")))))).convert("RGB")
    other = Image.open(sorted(glob.glob(str(demo_data_dir() / "trouser" / "*.png")))[0]).convert("RGB")
    buf = io.BytesIO()
    im.resize((56, 56)).save(buf, "JPEG", quality=80)
    copy = Image.open(buf).convert("RGB")
    bits = np.stack([dhash(im), dhash(copy), dhash(other)])
    d = hamming(bits, bits)
    assert d[0, 1] <= 3 < d[0, 2]
    assert hamming(phash(im)[None], phash(copy)[None])[0, 0] <= 5
    assert normalise_text("  The  CAT, sat!") == normalise_text("the cat sat")
    x = np.array([[1.0, 0.0], [0.999, 0.01], [0.0, 1.0]], dtype=np.float32)
    assert feature_groups(x) == [(0, 1)]


def test_duplicate_flags_leakage_and_label_conflicts():
    from tlstudio.core.data.index import Sample
    from tlstudio.core.insight.duplicates import find_duplicates

    samples = [Sample("a.csv:2", 0, "A red apple."), Sample("a.csv:3", 1, "a red  APPLE"),
               Sample("a.csv:4", 0, "a green pear"), Sample("a.csv:5", 0, "A green pear!")]
    feats = np.eye(4, dtype=np.float32)
    groups = find_duplicates(samples, np.array([0, 1, 0, 0]), ["train", "val", "train", "train"], feats, task="text")
    assert [(g.members, g.kind, g.straddles_split, g.labels_differ, g.reason) for g in groups] == [
        ((0, 1), "exact", True, True, "same text"), ((2, 3), "exact", False, False, "same text")]
