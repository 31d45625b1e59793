"""tlstudio-cli: bad input gives one line + exit 2; a tiny real train feeds evaluate/predict/export."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tlstudio.cli import commands as cli
from tlstudio.core.paths import demo_data_dir
from tlstudio.core.project import Project

REPO = Path(__file__).resolve().parents[2]


def _subset(dest: Path, classes=("bag", "sneaker", "trouser"), per_class=16) -> Path:
    for name in classes:
        (dest / name).mkdir(parents=True)
        for src in sorted((demo_data_dir() / name).iterdir())[:per_class]:
            shutil.copy(src, dest / name / src.name)
    return dest


def _run_cli(*args, cwd=None):
    env = dict(os.environ, OMP_NUM_THREADS="2")
    return subprocess.run([sys.executable, "-m", "tlstudio.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or REPO, env=env, timeout=300)


def _main(argv) -> int:
    return cli.main([str(a) for a in argv])


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("error: ")
    return lines[0]


# -- bad input ----------------------------------------------------------------------

def test_subprocess_scan_missing_folder(tmp_path):
    proc = _run_cli("scan", tmp_path / "missing")
    assert proc.returncode == 2
    assert "does not exist" in _one_error_line(proc.stderr)
    assert proc.stdout == ""


def test_subprocess_train_one_class_leaves_no_run_dir(tmp_path):
    data = _subset(tmp_path / "data", classes=("bag",), per_class=3)
    proc = _run_cli("train", data, "--out", tmp_path / "run", "--epochs", "1", "-q")
    assert proc.returncode == 2
    assert "only one class" in _one_error_line(proc.stderr)
    assert not (tmp_path / "run").exists()


def _bad(capsys, argv) -> str:
    assert _main(argv) == 2
    out = capsys.readouterr()
    return _one_error_line(out.err)


def test_train_missing_data_folder(tmp_path, capsys):
    assert "does not exist" in _bad(capsys, ["train", tmp_path / "nope", "--out", tmp_path / "run", "-q"])
    assert not (tmp_path / "run").exists()


def test_train_unreadable_weights_file(tmp_path, capsys):
    data = _subset(tmp_path / "data", classes=("bag", "trouser"), per_class=2)
    weights = tmp_path / "weights.pth"
    weights.write_bytes(b"this is not a checkpoint")
    line = _bad(capsys, ["train", data, "--out", tmp_path / "run", "--weights", weights, "-q"])
    assert "weights.pth" in line
    assert not (tmp_path / "run").exists()
    line = _bad(capsys, ["train", data, "--out", tmp_path / "run", "--weights", tmp_path / "absent.pth", "-q"])
    assert "not found" in line and not (tmp_path / "run").exists()


def test_train_unknown_model_and_bad_numbers(tmp_path, capsys):
    data = _subset(tmp_path / "data", classes=("bag", "trouser"), per_class=2)
    _bad(capsys, ["train", data, "--out", tmp_path / "run", "--model", "no_such_net_xyz", "-q"])
    assert "--epochs" in _bad(capsys, ["train", data, "--out", tmp_path / "run", "--epochs", "0", "-q"])
    if not torch.cuda.is_available():
        assert "CUDA" in _bad(capsys, ["train", data, "--out", tmp_path / "run", "--device", "cuda", "-q"])
    assert not (tmp_path / "run").exists()


def test_train_refuses_a_non_empty_run_dir(tmp_path, capsys):
    data = _subset(tmp_path / "data", classes=("bag", "trouser"), per_class=2)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    assert "not empty" in _bad(capsys, ["train", data, "--out", tmp_path / "run", "-q"])
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["notes.txt"]


def test_bad_project_file(tmp_path, capsys):
    path = tmp_path / "p.json"
    path.write_text('{"version": 1, "training": {"epochs": "many"}}')
    assert "'training.epochs'" in _bad(capsys, ["train", "--project", path, "--out", tmp_path / "run"])
    path.write_text('{"version": 7}')
    assert "newer TL Studio" in _bad(capsys, ["train", "--project", path, "--out", tmp_path / "run"])
    assert not (tmp_path / "run").exists()


def test_wrong_run_folder(tmp_path, capsys):
    image = sorted((demo_data_dir() / "bag").iterdir())[0]
    for argv in (["evaluate", tmp_path], ["predict", tmp_path, image],
                 ["export", tmp_path, "--format", "bundle", "--out", tmp_path / "b"]):
        assert "Not a TL Studio run or model folder" in _bad(capsys, argv)
    assert not (tmp_path / "b").exists()


def test_keyboard_interrupt_exits_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "cmd_models", interrupted)
    assert _main(["models"]) == 130
    assert capsys.readouterr().err.strip() == "Interrupted."


# -- models / scan ---------------------------------------------------------------------

def test_models_json(capsys):
    assert _main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {r["name"]: r for r in rows}
    lite = by_name["tf_efficientnet_lite0"]
    assert lite["weights"] == "bundled" and lite["input_size"] == 224 and lite["params"] > 4_000_000
    # the two other bundled image models (compare candidates), at their own input sizes
    assert [(by_name[f"tf_efficientnet_lite{v}"]["weights"], by_name[f"tf_efficientnet_lite{v}"]["input_size"])
            for v in (1, 2)] == [("bundled", 240), ("bundled", 260)]
    assert {"name", "family", "params", "input_size", "weights"} <= set(rows[0])
    assert _main(["models", "--family", "ResNet", "--json"]) == 0
    resnets = json.loads(capsys.readouterr().out)
    assert resnets and all(r["family"] == "ResNet" for r in resnets)
    assert _main(["models", "--search", "efficientnet_lite"]) == 0
    assert "tf_efficientnet_lite0" in capsys.readouterr().out


def test_scan_json_and_text(tmp_path, capsys):
    data = _subset(tmp_path / "data", classes=("bag", "trouser"), per_class=3)
    (data / "bag" / "broken.png").write_bytes(b"not an image")
    assert _main(["scan", data, "--json", "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["classes"] == ["bag", "trouser"]
    assert report["counts"] == {"bag": 3, "trouser": 3} and report["total"] == 6
    assert [s["path"] for s in report["skipped"]] == [str(data / "bag" / "broken.png")]
    assert _main(["scan", data, "-q"]) == 0
    assert "2 classes, 6 images" in capsys.readouterr().out


# -- a real run -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(2)
    base = tmp_path_factory.mktemp("clirun")
    data = _subset(base / "data")
    run = base / "run"
    # --no-search: this run exercises the epoch loop and its progress bar (the default head search
    # has its own tests in tests/core/train/test_head_search.py and the trainer's)
    proc = _run_cli("train", data, "--out", run, "--image-size", "64", "--epochs", "2",
                    "--batch-size", "16", "--seed", "1", "--json", "--no-search")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Epoch 2/2" in proc.stderr   # the progress bar
    return {"data": data, "run": run, "metrics": json.loads(proc.stdout)}


def test_train_writes_a_complete_run(trained):
    run = trained["run"]
    for name in ("model.json", "best.safetensors", "metrics.json", "split.json", "project.json", "history.json"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["classes"] == ["bag", "sneaker", "trouser"]
    assert metrics["epochs_run"] == 2 and metrics["seconds"] > 0
    assert metrics["val_accuracy"] > 0.5          # well above chance (1/3) on these easy classes
    assert trained["metrics"]["val_accuracy"] == metrics["val_accuracy"]
    project = Project.load(run / "project.json")
    assert project.model.image_size == 64 and project.training.epochs == 2 and project.data.seed == 1


def test_evaluate_json(trained, capsys):
    assert _main(["evaluate", trained["run"], "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    split = json.loads((trained["run"] / "split.json").read_text())
    assert result["samples"] == len(split["val"])
    assert sum(map(sum, result["confusion_matrix"])) == len(split["val"])
    assert set(result["per_class"]) == {"bag", "sneaker", "trouser"}
    assert result["accuracy"] == pytest.approx(trained["metrics"]["val_accuracy"], abs=1e-6)
    assert len(result["misclassified"]) == round((1 - result["accuracy"]) * result["samples"])
    # On a whole folder with the same classes.
    assert _main(["evaluate", trained["run"], trained["data"], "--json", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == 48


def test_predict_json(trained, capsys, tmp_path):
    images = [trained["data"] / "trouser" / "000.png", trained["data"] / "bag" / "000.png"]
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"xx")
    assert _main(["predict", trained["run"], *images, bad, "--top-k", "2", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["path"] for r in results] == [str(p) for p in images + [bad]]
    for r in results[:2]:
        assert r["label"] in ("bag", "sneaker", "trouser") and 0 < r["probability"] <= 1
        assert len(r["top_k"]) == 2 and r["top_k"][0] == {"label": r["label"], "probability": r["probability"]}
    assert "error" in results[2]
    assert _main(["predict", trained["run"], bad]) == 2


def test_export_bundle_reload_identical(trained, tmp_path, capsys):
    from tlstudio.core.runs.predict import predict_images
    from tlstudio.core.runs.folder import load_model

    out = tmp_path / "bundle"
    assert _main(["export", trained["run"], "--format", "bundle", "--out", out]) == 0
    moved = tmp_path / "elsewhere"
    shutil.move(str(out), moved)                 # no link back to the run or dataset
    images = sorted(str(p) for p in (trained["data"] / "sneaker").iterdir())[:6]
    assert predict_images(load_model(moved), images) == predict_images(load_model(trained["run"]), images)


def test_export_torchscript_parity(trained, tmp_path, capsys):
    out = tmp_path / "model.pt"
    assert _main(["export", trained["run"], "--format", "torchscript", "--out", out]) == 0
    line = capsys.readouterr().out
    assert "max |diff|" in line and out.is_file()
    diff = float(line.split("max |diff| vs PyTorch ")[1].split()[0])
    assert diff < 1e-3


def test_train_from_project_file(trained, tmp_path):
    project = Project(name="From file")
    project.data.path = str(trained["data"])
    project.model.image_size = 64
    project.training.epochs = 1
    project.training.batch_size = 16
    project.training.head_fit = "epochs"          # the epoch loop, so epochs_run is the file's 1
    project.save(tmp_path / "p.json")
    proc = _run_cli("train", "--project", tmp_path / "p.json", "--out", tmp_path / "run", "-q", "--json")
    assert proc.returncode == 0, proc.stderr
    # --quiet: no progress output; warnings about the data (a 9-image validation split here) still show
    assert all(line.startswith("warning: ") for line in proc.stderr.splitlines()), proc.stderr
    assert json.loads(proc.stdout)["epochs_run"] == 1
    assert Project.load(tmp_path / "run" / "project.json").name == "From file"


def test_default_train_prints_the_head_search_table_and_writes_search_json(tmp_path):
    data = _subset(tmp_path / "data")
    proc = _run_cli("train", data, "--out", tmp_path / "run", "--image-size", "64", "--lr", "0.002")
    assert proc.returncode == 0, proc.stderr
    assert "Head search (" in proc.stderr and "<- winner" in proc.stderr
    assert "candidates" in proc.stderr and "Head search [" in proc.stderr          # the search's progress bar
    assert "Finished: head chosen by " in proc.stderr and "lr 2e-3" in proc.stderr
    assert "out-of-fold" in proc.stdout
    curves = json.loads((tmp_path / "run" / "search_curves.json").read_text())
    assert curves["winner"] is not None and all(c["val_loss"] for c in curves["candidates"])
    search = json.loads((tmp_path / "run" / "search.json").read_text())
    assert {row["lr"] for row in search["trials"]} == {0.002}          # --lr is explicit: not searched
    assert sum(row["winner"] for row in search["trials"]) == 1


def test_a_frozen_set_saved_for_another_network_falls_back_to_the_frozen_base(trained, tmp_path, capsys):
    """The CLI repairs a stale frozen list as the Model tab does (a note, then the frozen base), not an error."""
    project = Project(name="Stale frozen set")
    project.data.path = str(trained["data"])
    project.model.image_size = 64
    project.training.epochs = 1
    project.training.batch_size = 16
    project.training.head_fit = "epochs"
    project.frozen = ["base.layer4.1.conv2"]          # a ResNet layer: tf_efficientnet_lite0 has no such layer
    project.save(tmp_path / "p.json")
    assert _main(["train", "--project", tmp_path / "p.json", "--out", tmp_path / "run", "--json"]) == 0
    err = capsys.readouterr().err
    assert "Note: The saved frozen layers do not match this model; the whole base is frozen instead." in err
    assert Project.load(tmp_path / "run" / "project.json").frozen == ["base"]
