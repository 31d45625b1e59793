"""Headless self-test of an installed TL Studio: from the source tree or a frozen bundle.

    python -m tlstudio.selftest [--image-size 64] [--epochs 2] [--export]
    TLStudio --self-test ...            (the packaged app; see packaging/tlstudio_entry.py)

It opens the main window offscreen, checks the default model's weights are the
bundled ones, trains on the demo data through the core Trainer into a temporary
run folder, predicts one image and (with --export) exports ONNX checked by
onnxruntime. Then the same for text: the bundled MiniLM encoder must resolve to
the shipped folder, a head trains on the text demo (WordNet definitions) and the
reloaded run classifies one demo text (``--no-text`` skips these steps). In a frozen bundle it also checks that nothing was written inside
the bundle folder. It prints one JSON line and exits 0 when every step passed,
1 otherwise (the failing step and its message are in the JSON).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path


class SelfTestError(Exception):
    """A step ran but its outcome is wrong."""


def _headless_environment() -> None:
    # Must happen before anything imports Qt; setdefault keeps a caller's choice.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def bundle_root() -> Path | None:
    """The folder of the frozen app's executables, or None when running from source."""
    if getattr(sys, "frozen", False):
        return Path(sys.executable).resolve().parent
    return None


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under root (links not followed) with its size and mtime."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            out[os.path.relpath(path, root)] = (st.st_size, st.st_mtime_ns)
    return out


def snapshot_changes(before: dict, after: dict) -> list[str]:
    changed = [f"added {p}" for p in sorted(after.keys() - before.keys())]
    changed += [f"removed {p}" for p in sorted(before.keys() - after.keys())]
    changed += [f"changed {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    return changed


def check_window(settle_s: float = 1.0) -> dict:
    """Build the real main window on the offscreen platform and find its Start button."""
    from PySide6.QtWidgets import QApplication, QWidget

    from tlstudio.gui.app import build_main_window

    app = QApplication.instance() or QApplication(["tlstudio-selftest"])
    window = build_main_window()
    window.show()
    deadline = time.monotonic() + settle_s  # let start-up work queued on the event loop run
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    start = window.findChild(QWidget, "startButton")
    info = {"title": window.windowTitle(), "qt_platform": app.platformName(), "start_button": start is not None}
    window.close()
    app.processEvents()
    if start is None:
        raise SelfTestError("the main window has no Start button (objectName 'startButton')")
    return info


def check_model() -> dict:
    """The default model must resolve to the weights shipped with the app, offline."""
    from tlstudio.core.zoo.cards import DEFAULT_MODEL, get_card
    from tlstudio.core.zoo.weights import weight_source

    from tlstudio.core.zoo.bundled import BUNDLED

    card = get_card(DEFAULT_MODEL)
    source = weight_source(card)
    if source != "bundled":
        raise SelfTestError(f"the default model's weights resolve to {source!r}, not to the bundled file")
    # The other bundled image models (compare candidates) must be in the bundle too.
    missing = [arch for arch in BUNDLED if weight_source(arch) != "bundled"]
    if missing:
        raise SelfTestError(f"the bundled weights of {', '.join(missing)} are missing from the bundle")
    return {"model": card.name, "weights": source, "bundled_models": sorted(BUNDLED)}


def train_demo(run_dir: Path, image_size: int, epochs: int, device: str) -> dict:
    """Train the default model's new head on the demo data through the core Trainer."""
    from tlstudio.core import paths
    from tlstudio.core.events import EpochEnded, RunFailed
    from tlstudio.core.project import Project
    from tlstudio.core.train.trainer import Trainer

    demo = paths.demo_data_dir()
    if not demo.is_dir():
        raise SelfTestError(f"the demo data folder is missing ({demo})")
    project = Project(name="self-test")
    project.data.path = str(demo)
    project.model.image_size = image_size
    project.training.epochs = epochs
    project.training.batch_size = 32
    project.training.lr = 3e-3
    project.training.device = device
    project.training.head_fit = "epochs"    # the bundle's check: the epoch loop with these settings, as given
    events: list = []
    trainer = Trainer(project, run_dir, callback=events.append)
    metrics = trainer.run()
    failed = [e for e in events if isinstance(e, RunFailed)]
    if failed:
        raise SelfTestError(f"training failed: {failed[0].message}")
    epochs_done = [e for e in events if isinstance(e, EpochEnded)]
    if not epochs_done:
        raise SelfTestError("training finished without completing an epoch")
    accuracy = float(metrics["val_accuracy"])
    classes = metrics.get("classes") or []
    chance = 1.0 / max(1, len(classes))
    if accuracy <= chance:
        raise SelfTestError(f"validation accuracy {accuracy:.3f} is not above chance ({chance:.3f})")
    return {"val_accuracy": round(accuracy, 4), "classes": len(classes), "epochs": len(epochs_done),
            "base_forward_images": getattr(trainer, "base_forward_images", None)}


def predict_one(run_dir: Path) -> dict:
    """Reload the trained run from disk and classify one demo image."""
    from tlstudio.core import paths
    from tlstudio.core.runs.predict import predict_images
    from tlstudio.core.runs.folder import load_model

    demo = paths.demo_data_dir()
    image = next(p for p in sorted(demo.rglob("*")) if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    loaded = load_model(run_dir)
    result = predict_images(loaded, [image], top_k=3)[0]
    if "error" in result:
        raise SelfTestError(f"prediction failed: {result['error']}")
    return {"image": f"{image.parent.name}/{image.name}", "label": result["label"],
            "probability": round(float(result["probability"]), 4), "true_label": image.parent.name}


TEXT_DEMO_FILE = "wordnet_definitions.csv"   # in resources/demo_text_data (gui/demos.py opens the same)


def text_demo_path() -> Path:
    from tlstudio.core import paths

    return paths.resources_dir() / "demo_text_data" / TEXT_DEMO_FILE


def check_text_model() -> dict:
    """The default text encoder must resolve to the folder shipped with the app, offline."""
    from tlstudio.core.zoo.text_cards import DEFAULT_TEXT_MODEL
    from tlstudio.core.zoo.text_sources import text_weight_source

    source = text_weight_source(DEFAULT_TEXT_MODEL)
    if source != "bundled":
        raise SelfTestError(f"the default text model's weights resolve to {source!r}, not to the bundled folder")
    return {"model": DEFAULT_TEXT_MODEL, "weights": source}


def train_text_demo(run_dir: Path, epochs: int, device: str) -> dict:
    """Train a head on the bundled encoder's features of the text demo through the core Trainer."""
    from tlstudio.core.project import Project
    from tlstudio.core.events import EpochEnded, RunFailed
    from tlstudio.core.train.trainer import Trainer
    from tlstudio.core.zoo.text_cards import DEFAULT_TEXT_MODEL

    demo = text_demo_path()
    if not demo.is_file():
        raise SelfTestError(f"the demo text data is missing ({demo})")
    project = Project(name="self-test text", task="text")
    project.choose_model(DEFAULT_TEXT_MODEL)
    project.data.path = str(demo)
    project.training.epochs = max(epochs, 5)     # a text head needs a few epochs over 288 texts
    project.training.device = device
    project.training.head_fit = "epochs"
    events: list = []
    trainer = Trainer(project, run_dir, callback=events.append)
    metrics = trainer.run()
    failed = [e for e in events if isinstance(e, RunFailed)]
    if failed:
        raise SelfTestError(f"text training failed: {failed[0].message}")
    if not any(isinstance(e, EpochEnded) for e in events):
        raise SelfTestError("text training finished without completing an epoch")
    accuracy = float(metrics["val_accuracy"])
    classes = metrics.get("classes") or []
    chance = 1.0 / max(1, len(classes))
    if accuracy <= chance:
        raise SelfTestError(f"text validation accuracy {accuracy:.3f} is not above chance ({chance:.3f})")
    return {"val_accuracy": round(accuracy, 4), "classes": len(classes),
            "encoder_passes": getattr(trainer, "base_forward_images", None)}


def predict_text(run_dir: Path) -> dict:
    """Reload the text run from disk and classify the first demo text."""
    import csv

    from tlstudio.core.runs.folder import load_model
    from tlstudio.core.runs.predict import predict_texts

    with open(text_demo_path(), encoding="utf-8", newline="") as fh:
        row = next(csv.DictReader(fh))
    result = predict_texts(load_model(run_dir), [row["text"]], top_k=3)[0]
    if "error" in result:
        raise SelfTestError(f"text prediction failed: {result['error']}")
    return {"text": row["text"][:60], "label": result["label"],
            "probability": round(float(result["probability"]), 4), "true_label": row["label"]}


def export_onnx(run_dir: Path, out_dir: Path) -> dict:
    """ONNX export exercises torch.onnx, onnxscript and onnxruntime inside the bundle."""
    from tlstudio.core.runs.export import export_onnx as export

    result = export(run_dir, out_dir / "model.onnx")
    return {"onnx_max_abs_diff": float(result["max_abs_diff"])}


def _system_info() -> dict:
    import torch

    return {"torch": torch.__version__, "cuda_available": bool(torch.cuda.is_available())}


def run(image_size: int = 64, epochs: int = 2, device: str = "cpu", export: bool = False,
        keep: bool = False, text: bool = True) -> dict:
    """Run every step; returns the result dict (never raises)."""
    started = time.perf_counter()
    root = bundle_root()
    before = snapshot(root) if root else None
    work = Path(tempfile.mkdtemp(prefix="tlstudio-selftest-"))
    result: dict = {"ok": False, "frozen": root is not None}
    timings: dict[str, float] = {}
    step = "start"

    def begin(name: str) -> str:
        timings[name] = time.perf_counter()
        return name

    try:
        step = begin("window")
        result["window"] = check_window()
        step = begin("model")
        result.update(check_model())
        result.update(_system_info())
        step = begin("train")
        result.update(train_demo(work / "run", image_size, epochs, device))
        step = begin("predict")
        result["prediction"] = predict_one(work / "run")
        if export:
            step = begin("export")
            result.update(export_onnx(work / "run", work))
        if text:
            step = begin("text_model")
            text_result = check_text_model()
            step = begin("text_train")
            text_result.update(train_text_demo(work / "text_run", epochs, device))
            step = begin("text_predict")
            text_result["prediction"] = predict_text(work / "text_run")
            result["text"] = text_result
        step = begin("bundle")
        if root is not None:
            changes = snapshot_changes(before, snapshot(root))
            result["bundle_unchanged"] = not changes
            if changes:
                raise SelfTestError(f"{len(changes)} file(s) written inside the bundle folder, e.g. {changes[:3]}")
        from tlstudio.core import paths

        result["cache_dir"] = str(paths.cache_dir())
        result["ok"] = True
    except Exception as exc:  # the self-test reports every failure as JSON, never a traceback
        result["failed_step"] = step
        result["error"] = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, SelfTestError):
            result["traceback"] = traceback.format_exc(limit=8)
    finally:
        if keep:
            result["work_dir"] = str(work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    ends = list(timings.values())[1:] + [time.perf_counter()]
    result["step_seconds"] = {name: round(end - t0, 1) for (name, t0), end in zip(timings.items(), ends)}
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    _headless_environment()
    parser = argparse.ArgumentParser(prog="tlstudio --self-test", description=__doc__.split("\n")[0])
    parser.add_argument("--image-size", type=int, default=64, help="training image size in pixels (default 64)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--export", action="store_true", help="also export ONNX and check it with onnxruntime")
    parser.add_argument("--keep", action="store_true", help="keep the temporary run folder")
    parser.add_argument("--no-text", action="store_true", help="skip the text steps (bundled encoder, text demo)")
    parser.add_argument("--output", help="also write the JSON result to this file")
    args = parser.parse_args(argv)
    result = run(args.image_size, args.epochs, args.device, args.export, args.keep, text=not args.no_text)
    line = json.dumps(result, sort_keys=False)
    if args.output:
        Path(args.output).write_text(line + "\n", encoding="utf-8")
    if sys.stdout is not None:  # a windowed Windows executable has no stdout
        print(line, flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
