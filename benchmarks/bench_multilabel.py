"""Benchmark: multi-label training, TL Studio's defaults vs a one-vs-rest logistic regression probe.

Two real multi-label sets, built from real single-label data (``tests/multilabel_data.py``):

- images: pairs of real Fashion-MNIST test pictures (``/usr/share/datasets/fashion-mnist``) side
  by side, labelled with both classes (a quarter of the samples carry one picture and one label);
- texts: pairs of real WordNet definitions of different topics (the bundled demo text data)
  joined into one text, labelled with both topics (a quarter: one definition, one label).

For each set, in one process:

  (a) TL Studio's whole process with its defaults (the bundled EfficientNet-Lite0 / MiniLM, frozen
      base, feature cache, head search scored by out-of-fold micro-F1, per-label thresholds chosen
      on the out-of-fold predictions), on a 60/15/25 train/val/test split;
  (b) a one-vs-rest logistic regression (scikit-learn, C=1, threshold 0.5) on the same frozen
      features (``insight.features.collect_features``: same base, preprocessing, samples), trained on train + val
      (what (a)'s refit trains on), scored on the same test split (the features are extracted again for
      it, so its time is its fit alone);
  (c) (a)'s model on the test split at its tuned thresholds vs one threshold of 0.5 for every label.

Figures: micro-F1, macro-F1, mAP on the test split, and seconds (the whole of (a); (b) its fit
alone). Targets: (a) >= (b) on micro-F1 on both sets; tuned thresholds
beat 0.5.

    python benchmarks/bench_multilabel.py [--images 800] [--texts 600] [--image-size 96]
"""
from __future__ import annotations

import argparse
import gzip
import os
import tempfile
import time
from pathlib import Path

import numpy as np

FMNIST = Path("/usr/share/datasets/fashion-mnist")
FMNIST_CLASSES = ["t-shirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                  "ankle_boot"]


def fashion_items(per_class: int) -> list:
    """Real Fashion-MNIST test pictures (PIL images) with their class names, ``per_class`` each."""
    from PIL import Image

    with gzip.open(FMNIST / "t10k-images-idx3-ubyte.gz") as fh:
        images = np.frombuffer(fh.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(FMNIST / "t10k-labels-idx1-ubyte.gz") as fh:
        labels = np.frombuffer(fh.read(), np.uint8, offset=8)
    out = []
    for c, name in enumerate(FMNIST_CLASSES):
        for i in np.flatnonzero(labels == c)[:per_class]:
            out.append((Image.fromarray(images[i]), name))
    return out


def figures(probs: np.ndarray, targets: np.ndarray, thresholds, names) -> dict:
    from tlstudio.core.runs.multilabel_metrics import multilabel_metrics

    m = multilabel_metrics(probs, targets, thresholds, names)
    return {"micro_f1": m.micro_f1, "macro_f1": m.macro_f1, "map": m.mean_ap}


def run_set(name: str, data: Path, project_task: str, scratch: Path, image_size: int | None = None) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    from tlstudio.core.data.modality import task_default_model
    from tlstudio.core.insight.features import collect_features
    from tlstudio.core.project import Project
    from tlstudio.core.runs.evaluate import evaluate_run
    from tlstudio.core.runs.folder import load_model
    from tlstudio.core.task_types import MultiLabelTask
    from tlstudio.core.train.trainer import Trainer

    project = Project(name=f"bench {name}", task=project_task)
    project.model.name = task_default_model(project_task, project.model.name)      # the task's bundled model
    project.data.path = str(data)
    project.data.val_fraction, project.data.test_fraction = 0.15, 0.25
    project.model.image_size = image_size
    run_dir = scratch / f"run-{name}"
    t0 = time.perf_counter()
    metrics = Trainer(project, run_dir).run()
    tl_seconds = time.perf_counter() - t0
    assert metrics["error"] is None, metrics["error"]
    loaded = load_model(run_dir)
    test = evaluate_run(loaded, run_dir, split="test")
    probs, targets, names = np.array(test["probabilities"]), np.array(test["targets"]), test["classes"]
    ours = figures(probs, targets, loaded.thresholds, names)
    at_half = figures(probs, targets, 0.5, names)

    features = collect_features(project)          # the same frozen base, preprocessing and samples
    y = MultiLabelTask(len(features.classes)).targets(features.samples).numpy()
    fit_rows = np.array([s in ("train", "val") for s in features.splits])
    t1 = time.perf_counter()
    probe = OneVsRestClassifier(LogisticRegression(C=1.0, max_iter=2000)).fit(features.features[fit_rows],
                                                                               y[fit_rows])
    probe_seconds = time.perf_counter() - t1
    probe_probs = probe.predict_proba(features.features[~fit_rows])
    assert list(features.classes) == list(names)
    theirs = figures(probe_probs, y[~fit_rows], 0.5, names)
    return {"name": name, "samples": len(features.samples), "labels": len(names), "test": int((~fit_rows).sum()),
            "ours": ours, "half": at_half, "probe": theirs, "tl_seconds": tl_seconds, "probe_seconds": probe_seconds,
            "search": metrics.get("thresholds_chosen_on"), "cardinality": float(targets.sum(1).mean())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=800, help="composed images")
    ap.add_argument("--texts", type=int, default=600, help="joined texts")
    ap.add_argument("--image-size", type=int, default=96,
                    help="px the image model sees (the composed pictures are 56x28; default 96 keeps the run short "
                         "on a shared 2-core machine; 0: the model's own 224)")
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tlstudio-bench-multilabel-"))
    os.environ["TLSTUDIO_CACHE_DIR"] = str(scratch / "cache")      # a fresh feature cache
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from tests.multilabel_data import compose_images, compose_texts, demo_text_items

    images = compose_images(fashion_items(60), scratch / "images", args.images, seed=0)
    texts = compose_texts(demo_text_items(), scratch / "texts", args.texts, seed=0)
    rows = []
    for name, data, task, size in (("texts", texts, "text", None), ("images", images, "image", args.image_size or None)):
        rows.append(run_set(name, data, task, scratch, size))
        print(f"{name}: {rows[-1]}", flush=True)        # each set's figures as soon as they exist
    print(f"load average: {os.getloadavg()[0]:.1f} (2 cores, shared: the seconds are noisy)")
    print(f"{'set':<7} {'samples':>7} {'labels':>6} {'test':>5}  {'method':<34} {'micro-F1':>8} {'macro-F1':>8} "
          f"{'mAP':>6} {'seconds':>8}")
    for r in rows:
        lead = f"{r['name']:<7} {r['samples']:>7} {r['labels']:>6} {r['test']:>5}"
        for method, key, seconds in (("TL Studio defaults (tuned thresh.)", "ours", r["tl_seconds"]),
                                     ("TL Studio, every threshold 0.5", "half", None),
                                     ("one-vs-rest logistic regression", "probe", r["probe_seconds"])):
            f = r[key]
            shown = f"{seconds:8.1f}" if seconds is not None else f"{'-':>8}"
            print(f"{lead}  {method:<34} {f['micro_f1']:8.3f} {f['macro_f1']:8.3f} {f['map']:6.3f} {shown}")
            lead = " " * len(lead)
    print("(TL Studio's seconds: the whole process, features included; the probe's: its fit on those features)")
    for r in rows:
        ok = r["ours"]["micro_f1"] >= r["probe"]["micro_f1"]
        tuned = r["ours"]["micro_f1"] > r["half"]["micro_f1"]
        print(f"{r['name']}: defaults >= probe on micro-F1: {'yes' if ok else 'NO'}; tuned thresholds beat 0.5: "
              f"{'yes' if tuned else 'NO'} (label cardinality {r['cardinality']:.2f}; thresholds chosen on "
              f"{r['search']})")


if __name__ == "__main__":
    main()
