"""Exports: bundle reload gives identical predictions; TorchScript and ONNX match PyTorch."""
import json
import shutil
from pathlib import Path

import pytest
import torch

from tests.core.runs.run_factory import make_run
from tlstudio.core.runs import export
from tlstudio.core.errors import ExportError, RunFolderError
from tlstudio.core.paths import demo_data_dir
from tlstudio.core.runs.predict import predict_images
from tlstudio.core.runs.folder import load_model


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    torch.set_num_threads(2)
    return make_run(tmp_path_factory.mktemp("exportrun") / "run")


@pytest.fixture
def own_run(run, tmp_path):
    """A copy of the run that a test may damage."""
    return Path(shutil.copytree(run, tmp_path / "own-run"))


def _images(n=4):
    return [str(p) for p in sorted((demo_data_dir() / "trouser").iterdir())[:n]]


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_bundle_reloads_with_identical_predictions(run, tmp_path):
    out = export.export_bundle(run, tmp_path / "bundle", torchscript=True)
    assert sorted(p.name for p in out.iterdir()) == [".tlstudio-export.json", "MODEL_CARD.md", "export_report.json",
                                                     "metrics.json", "model.json", "model.safetensors",
                                                     "model.torchscript.pt"]
    report = json.loads((out / "export_report.json").read_text())
    assert [e["file"] for e in report["exports"]] == ["model.safetensors", "model.torchscript.pt"]
    assert report["exports"][0]["top1_agreement"] == 1.0 and report["exports"][0]["max_probability_difference"] == 0
    info = json.loads((out / "model.json").read_text())
    assert info["classes"] == ["bag", "sneaker", "trouser"]
    assert info["metrics"]["val_accuracy"] == 0.5
    assert set(info["versions"]) == {"torch", "torchvision", "timm", "tlstudio"}
    assert info["exports"]["torchscript"]["max_abs_diff"] < 1e-3
    original, bundled = load_model(run), load_model(out)
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(original.model(x), bundled.model(x))
    a, b = predict_images(original, _images()), predict_images(bundled, _images())
    assert a == b
    # The embedded TorchScript file runs on its own.
    scripted = torch.jit.load(str(out / "model.torchscript.pt"))
    with torch.no_grad():
        assert torch.allclose(scripted(x), original.model(x), atol=1e-4)
    # Nothing but the bundle is left in the parent folder.
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_bundle_replaces_only_an_earlier_bundles_own_files_and_only_with_force(run, tmp_path):
    out = tmp_path / "bundle"
    export.export_bundle(run, out)
    (out / "notes.txt").write_text("mine")          # the user keeps a file beside the export
    with pytest.raises(ExportError, match="--force"):
        export.export_bundle(run, out)
    export.export_bundle(run, out, force=True)
    assert (out / "notes.txt").read_text() == "mine"
    assert load_model(out).classes == ["bag", "sneaker", "trouser"]
    other = tmp_path / "photos"
    other.mkdir()
    (other / "keep.jpg").write_bytes(b"x")
    with pytest.raises(ExportError, match="not a TL Studio export"):
        export.export_bundle(run, other, force=True)
    assert [p.name for p in other.iterdir()] == ["keep.jpg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "photos"]


def test_export_never_deletes_a_folder_that_merely_holds_a_model_json(run, tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "model.json").write_text("{}")
    (target / "thesis.tex").write_text("years of work")
    for force in (False, True):
        with pytest.raises(ExportError):
            export.export_bundle(run, target, force=force)
    assert sorted(p.name for p in target.iterdir()) == ["model.json", "thesis.tex"]


def test_export_into_the_run_folder_itself_changes_nothing(run):
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    for force in (False, True):
        with pytest.raises(ExportError):
            export.export_bundle(run, run, force=force)
        with pytest.raises(ExportError):
            export.export_torchscript(run, run / "best.safetensors", force=force)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_file_export_replaces_an_earlier_export_only_with_force(run, tmp_path):
    target = tmp_path / "m.pt"
    export.export_torchscript(run, target)
    with pytest.raises(ExportError, match="--force"):
        export.export_torchscript(run, target)
    assert export.export_torchscript(run, target, force=True)["path"] == str(target)


def test_weights_file_outside_the_run_is_refused(own_run, tmp_path):
    run = own_run
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    info = json.loads((run / "model.json").read_text())
    info["weights_file"] = "../secret.txt"
    (run / "model.json").write_text(json.dumps(info))
    with pytest.raises(RunFolderError, match="not a file name"):
        export.export_bundle(run, tmp_path / "bundle")
    (run / "link.safetensors").symlink_to(secret)
    info["weights_file"] = "link.safetensors"
    (run / "model.json").write_text(json.dumps(info))
    with pytest.raises(RunFolderError, match="outside"):
        export.export_bundle(run, tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


@pytest.mark.parametrize("damage", ["truncated", "pickled"])
def test_damaged_weights_are_not_shipped(own_run, tmp_path, damage):
    run = own_run
    weights = run / "best.safetensors"
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:1000])
    else:
        torch.save({"w": torch.zeros(2)}, weights)
    with pytest.raises(RunFolderError):
        export.export_bundle(run, tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["own-run"]


def test_bundle_of_a_non_run_fails_cleanly(tmp_path):
    with pytest.raises(RunFolderError):
        export.export_bundle(tmp_path / "nothing", tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


def test_torchscript_parity_on_given_images(run, tmp_path):
    result = export.export_torchscript(run, tmp_path / "m.pt", sample_paths=_images(3))
    assert result["samples"] == 3 and result["inputs"] == "images"
    assert 0.0 <= result["max_abs_diff"] < 1e-3
    assert (tmp_path / "m.pt").is_file()


def test_onnx_parity_and_dynamic_batch(run, tmp_path):
    import onnxruntime as ort

    result = export.export_onnx(run, tmp_path / "m.onnx")
    assert result["inputs"] == "images" and result["samples"] == 8    # the run's val images
    assert 0.0 <= result["max_abs_diff"] < 1e-3
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    model = load_model(run).model
    for batch in (1, 5):
        x = torch.randn(batch, 3, 64, 64)
        out = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
        with torch.no_grad():
            assert abs(out - model(x).numpy()).max() < 1e-3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.MODEL_CARD.md", "m.export_report.json", "m.onnx"]


def test_parity_failure_removes_the_file(run, tmp_path, monkeypatch):
    # Simulate an exporter that drifts: the reference logits are shifted.
    real = export._reference
    monkeypatch.setattr(export, "_reference", lambda loaded, x: real(loaded, x) + 0.01)
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export.export_torchscript(run, tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []


def test_random_inputs_when_no_images_are_known(run, tmp_path):
    import shutil
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "split.json").unlink()
    result = export.export_torchscript(copy, tmp_path / "m.pt")
    assert result["inputs"] == "random" and result["max_abs_diff"] < 1e-3


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_bundle_with_both_exports_loads_the_model_once(run, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    loads = []
    monkeypatch.setattr(export, "load_model", lambda *a, **k: loads.append(a) or load_model(*a, **k))
    out = export.export_bundle(run, tmp_path / "bundle", torchscript=True, onnx=True)
    info = json.loads((out / "model.json").read_text())
    assert set(info["exports"]) == {"torchscript", "onnx"}
    assert (out / "model.onnx").is_file() and (out / "model.torchscript.pt").is_file()
    # the run's model is loaded once for both exports; the bundle's own reload verifies it
    assert [Path(a[0]) for a in loads][0] == Path(run) and len(loads) == 2 and Path(loads[1][0]) != Path(run)
