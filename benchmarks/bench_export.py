"""Export benchmark: FP32 vs FP16 vs INT8 ONNX for the default image and text models.

One run, figures printed with the machine's load average (`uptime`): timings on a shared machine are
noisy; the agreement, accuracy and size figures are not.

* Image: EfficientNet-Lite0 (the bundled default) trained with ``tlstudio-cli train`` defaults on
  1 000 Fashion-MNIST test-set images (100 per class, 224 px, 30 % held out as a test split the head
  never sees). Debian ships the set offline (``apt-get install dataset-fashion-mnist``: files in
  /usr/share/datasets/fashion-mnist/); elsewhere set FASHION_MNIST_DIR to a folder holding
  t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz.
* Text: all-MiniLM-L6-v2 (the bundled default) trained with defaults on the text demo
  (360 WordNet definitions, 6 topics, 30 % held out as a test split).

Each run is exported as FP32, FP16 and INT8 ONNX; the numbers are those of each export's own
verification report (export_report.json): top-1 agreement with PyTorch and the accuracy delta on
the test split, file size, latency p50 / p95 at batch 1, throughput at batch 32, and each export's
wall time ("export s": the ONNX export, the conversion and the verification report; for INT8 it
includes the mixed-precision search, bounded by int8_search.SEARCH_BUDGET_S). The issue's target:
INT8 agrees on >= 99 % with <= 1 point accuracy loss and a >= 2x smaller file.

Run: ``python benchmarks/bench_export.py [--keep DIR]``.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PER_CLASS, TEST_SPLIT = 100, "0.3"
FASHION_NAMES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


def fashion_folder(dest: Path) -> Path:
    from PIL import Image

    folder = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
    images, labels = folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
    if not images.is_file() or not labels.is_file():
        sys.exit(f"Fashion-MNIST not found in {folder}: `apt-get install dataset-fashion-mnist` or set "
                 "FASHION_MNIST_DIR.")
    x = np.frombuffer(gzip.open(images).read(), np.uint8, offset=16).reshape(-1, 28, 28)
    y = np.frombuffer(gzip.open(labels).read(), np.uint8, offset=8).astype(int)
    for label, name in enumerate(FASHION_NAMES):
        (dest / name).mkdir(parents=True)
        for i, index in enumerate(np.flatnonzero(y == label)[:PER_CLASS]):
            Image.fromarray(x[index]).save(dest / name / f"{i:03d}.png")
    return dest


def train(data: Path, run: Path) -> float:
    start = time.time()
    subprocess.run([sys.executable, "-m", "tlstudio.cli", "train", str(data), "--out", str(run),
                    "--test-split", TEST_SPLIT, "--quiet", "--json"], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONPATH": str(ROOT), "TLSTUDIO_CACHE_DIR": str(run.parent / "cache")})
    return time.time() - start


def export_all(run: Path, out: Path) -> list[dict]:
    from tlstudio.core.runs import export

    rows = []
    for precision in ("fp32", "fp16", "int8"):
        start = time.time()
        result = export.export_onnx(run, out / f"{run.name}.{precision}.onnx", precision=precision, force=True)
        entry = result["report"]["exports"][0]
        rows.append({**entry, "export_seconds": time.time() - start, "samples": result["report"]["samples"],
                     "evaluated_on": result["report"]["evaluated_on"],
                     "load": result["report"]["machine"]["load_average"]})
    return rows


def show(title: str, rows: list[dict]) -> None:
    fp32 = rows[0]
    print(f"\n{title} — {rows[0]['samples']} samples of the {rows[0]['evaluated_on']}, PyTorch accuracy "
          f"{100 * fp32['pytorch_accuracy']:.1f} %")
    print(f"{'':6} {'size MB':>8} {'x smaller':>9} {'p50 ms':>7} {'p95 ms':>7} {'per s@32':>8} {'agree %':>8} "
          f"{'acc %':>6} {'Δacc pt':>7} {'max Δp':>7} {'export s':>8} {'load':>5}")
    for r in rows:
        ratio = fp32["file_bytes"] / r["file_bytes"]
        print(f"{r['precision']:6} {r['file_bytes'] / 1e6:8.1f} {ratio:9.2f} {r['latency_ms_p50']:7.1f} "
              f"{r['latency_ms_p95']:7.1f} {r['throughput_per_s']:8.1f} {100 * r['top1_agreement']:8.2f} "
              f"{100 * r['accuracy']:6.1f} {100 * r['accuracy_delta']:+7.2f} {r['max_probability_difference']:7.3f} "
              f"{r['export_seconds']:8.1f} {r['load'][0]:5.1f}")
    int8 = rows[-1]
    ok = (int8["top1_agreement"] >= 0.99 and int8["accuracy_delta"] >= -0.01
          and fp32["file_bytes"] / int8["file_bytes"] >= 2)
    print(f"INT8 target (>= 99 % agreement, <= 1 pt accuracy loss, >= 2x smaller): {'met' if ok else 'NOT met'}"
          + ("" if ok else " — " + " ".join(int8["warnings"])))
    print(f"INT8 method: {int8['method']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep the runs and exports")
    args = parser.parse_args()
    import torch

    from tlstudio.core.paths import resources_dir

    torch.set_num_threads(os.cpu_count() or 1)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_export_"))
    work.mkdir(parents=True, exist_ok=True)
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    data = fashion_folder(work / "fashion") if not (work / "fashion").is_dir() else work / "fashion"
    image_run, text_run = work / "fashion-lite0", work / "wordnet-minilm"
    if not (image_run / "model.json").is_file():
        print(f"image run: {train(data, image_run):.0f} s")
    if not (text_run / "model.json").is_file():
        print(f"text run: {train(resources_dir() / 'demo_text_data' / 'wordnet_definitions.csv', text_run):.0f} s")
    (work / "exports").mkdir(exist_ok=True)
    results = {}
    for title, run in (("EfficientNet-Lite0 on Fashion-MNIST (1 000 images, 224 px)", image_run),
                       ("all-MiniLM-L6-v2 on the WordNet text demo (360 texts)", text_run)):
        rows = export_all(run, work / "exports")
        show(title, rows)
        results[title] = rows
    (work / "bench_export.json").write_text(json.dumps(results, indent=1))
    print("\nuptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(f"(runs, exports and reports in {work})")


if __name__ == "__main__":
    main()
