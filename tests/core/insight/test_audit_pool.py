"""The data audit with an unlabeled pool: duplicates and outliers cover the unlabeled images too (also
when nothing is labelled); likely label errors look only at labelled ones."""
from __future__ import annotations

import shutil

import numpy as np
import torch
from PIL import Image

from tests.core.data.test_pool import image_folder
from tests.planted_copies import PHOTOS
from tlstudio.core.insight.report import format_report, run_audit
from tlstudio.core.model.head import HeadSpec
from tlstudio.core.project import Project

torch.set_num_threads(2)


def project_for(data) -> Project:
    p = Project(name="audit-pool")
    p.data.path = str(data)
    p.model.name, p.model.image_size, p.head = "tf_efficientnet_lite0", 64, HeadSpec(layers=[])
    p.training.device = "cpu"
    return p


def test_an_all_unlabeled_folder_is_audited_for_duplicates_and_outliers(tmp_path):
    from skimage import data as photos

    data = image_folder(tmp_path / "data", {0: 0, 1: 0, 7: 0}, unlabeled=36)
    pool = data / "unlabeled"
    first = sorted(pool.glob("*.png"))[0]
    shutil.copy(first, pool / "copy.png")                                   # the same bytes
    for name in PHOTOS[:3]:                                                  # photographs among clothes
        pixels = np.asarray(getattr(photos, name)())
        Image.fromarray(pixels[..., :3] if pixels.ndim == 3 else pixels).convert("RGB").resize((28, 28)).save(
            pool / f"photo-{name}.png")
    report = run_audit(project_for(data), device="cpu")
    j = report.to_json()
    assert j["samples"] == j["unlabeled"] == 40 and j["classes"] == [] and j["label_issues"] == []
    assert j["notes"] and "need 2 or more labelled" in j["notes"][0]
    exact = [g for g in j["duplicates"] if set(g["keys"]) == {f"unlabeled/{first.name}", "unlabeled/copy.png"}]
    assert exact and exact[0]["labels"] == ["unlabeled", "unlabeled"] and not exact[0]["straddles_split"]
    flagged = [o["key"] for o in j["outliers"][:5]]
    assert sum(k.startswith("unlabeled/photo-") for k in flagged) >= 2, j["outliers"]
    assert all(o["label"] == "unlabeled" and o["nearest"] == "" for o in j["outliers"])
    assert "(40 unlabeled)" in format_report(report)


def test_a_pool_copy_of_a_labelled_image_is_a_duplicate_and_no_label_error(tmp_path):
    data = image_folder(tmp_path / "data", {0: 10, 1: 10}, unlabeled=8)
    labelled = sorted((data / "trouser").glob("*.png"))[0]
    shutil.copy(labelled, data / "unlabeled" / "copy-of-trouser.png")
    report = run_audit(project_for(data), device="cpu")
    j = report.to_json()
    assert j["samples"] == 29 and j["unlabeled"] == 9 and not j["notes"]
    assert all(report.data.labels[x.index] >= 0 for x in report.label_issues)        # never a pool sample
    group = next(g for g in j["duplicates"] if "unlabeled/copy-of-trouser.png" in g["keys"])
    assert f"trouser/{labelled.name}" in group["keys"] and sorted(group["labels"]) == ["trouser", "unlabeled"]
    assert not group["labels_differ"] and not group["straddles_split"]


def test_label_next_after_an_audit_runs_nothing_through_the_base_and_reads_the_same_rows(tmp_path):
    """The audit of a dataset with a pool and Label next read one cache entry: each image goes through
    the base once, whichever runs first, and labelling a pool image in the app keeps it that way."""
    from tlstudio.core.active.pool_features import collect_pool_features
    from tlstudio.core.data.curation import label_pool_sample

    data = image_folder(tmp_path / "data", {0: 6, 1: 6}, unlabeled=8)
    project = project_for(data)
    audit = run_audit(project, device="cpu").data
    assert audit.base_forwards == 20                        # 12 labelled + 8 unlabeled, once each
    ranked = collect_pool_features(project, device="cpu")
    assert ranked.base_forwards == 0 and len(ranked.pool_keys) == 8 and len(ranked.labelled_keys) == 12
    row = {k: audit.features[i] for i, k in enumerate(audit.keys)}
    assert np.array_equal(ranked.pool, np.stack([row[k] for k in ranked.pool_keys]))
    assert np.array_equal(ranked.labelled, np.stack([row[k] for k in ranked.labelled_keys]))
    label_pool_sample(project, ranked.pool_keys[0], "trouser")      # labelled in the app
    assert collect_pool_features(project, device="cpu").base_forwards == 0
    again = run_audit(project, device="cpu").data
    assert again.base_forwards == 0 and again.labels[again.keys.index(ranked.pool_keys[0])] >= 0
