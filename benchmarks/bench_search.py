"""Head-search timing: the batched search + refit + temperature on 1 000 cached feature vectors.

The features are EfficientNet-Lite0's (the default model) on 1 000 Fashion-MNIST
images at 64 px (extracted once, then kept in ``--features``, an .npz with ``x``
and ``y``); 20 % of them are the validation split, as a default run splits them.
Prints wall time and process CPU time (the machines these run on are shared:
CPU time moves less with the load), the search table and a held-out check:
the refit head is scored on 1 000 *other* images when ``--heldout`` features
exist (made alongside).

    python benchmarks/bench_search.py [--features /tmp/fm1000.npz] [--repeat 2]
"""
from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

N, SIZE = 1000, 64


def extract(path: Path, offset: int) -> None:
    """Features of N Fashion-MNIST training images (from ``offset`` in a fixed shuffle) into ``path``."""
    import torch
    from PIL import Image

    from tlstudio.core.data.index import Sample
    from tlstudio.core.data.loaders import make_loader
    from tlstudio.core.data.modality import modality_for
    from tlstudio.core.project import Project
    from tlstudio.core.model.build import create_transfer_model
    from tlstudio.core.zoo.cards import get_card

    folder = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
    images = np.frombuffer(gzip.open(folder / "train-images-idx3-ubyte.gz").read(), np.uint8, offset=16)
    labels = np.frombuffer(gzip.open(folder / "train-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    images = images.reshape(-1, 28, 28)
    idx = np.random.default_rng(0).permutation(len(labels))[offset:offset + N]
    project = Project()
    project.model.image_size = SIZE
    card = get_card(project.model.name)
    modality = modality_for("image")
    pre = modality.preprocessing(card, project.model)
    model = create_transfer_model(card, project.head, 10, weights=project.model.weights).eval()
    with tempfile.TemporaryDirectory() as tmp:
        samples = []
        for j, i in enumerate(idx):
            p = Path(tmp) / f"{j:05d}.png"
            Image.fromarray(images[i]).save(p)
            samples.append(Sample(str(p), int(labels[i])))
        out = []
        with torch.inference_mode():
            for x, _ in make_loader(modality.eval_dataset(pre, samples), 64, num_workers=0):
                out.append(model.base(x).reshape(x.shape[0], -1))
    np.savez(path, x=torch.cat(out).float().numpy(), y=labels[idx].astype(np.int64))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--features", default=os.path.join(tempfile.gettempdir(), "tlstudio-bench-fm1000.npz"))
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    import torch

    from tlstudio.core.headsearch import search as hs
    from tlstudio.core.headsearch.results import format_table

    path = Path(args.features)
    held_path = path.with_name(path.stem + "-heldout.npz")
    for p, offset in ((path, 0), (held_path, N)):
        if not p.is_file():
            print(f"extracting features of {N} images into {p} …", flush=True)
            extract(p, offset)
    data, held = np.load(path), np.load(held_path)
    x, y = torch.from_numpy(data["x"]).float(), torch.from_numpy(data["y"]).long()
    hx, hy = torch.from_numpy(held["x"]).float(), torch.from_numpy(held["y"]).long()
    n_val = len(y) // 5
    torch.set_num_threads(1)       # as the trainer runs the search (tiny matmuls: threads only add sync)
    for r in range(args.repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        result = hs.search_head(x[n_val:], y[n_val:], x[:n_val], y[:n_val], 10, seed=r)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        head = result.head
        with torch.no_grad():
            acc = float((head(hx).argmax(1) == hy).float().mean())
        if r == 0:
            print(format_table(result.to_dict()))
        print(f"search of {len(y)} samples x {x.shape[1]} features: wall {wall:.1f} s, CPU {cpu:.1f} s "
              f"({torch.get_num_threads()} threads); held-out accuracy of the refit head {acc:.3f} "
              f"({len(hy)} other images)", flush=True)
    print("load:", " ".join(f"{v:.1f}" for v in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
