"""Exports: bundle reload gives identical predictions; TorchScript and ONNX match PyTorch."""
import json

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


def _images(n=4):
    return [str(p) for p in sorted((demo_data_dir() / "trouser").iterdir())[:n]]


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_bundle_reloads_with_identical_predictions(run, tmp_path):
    out = export.export_bundle(run, tmp_path / "bundle", torchscript=True)
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "model.json", "model.safetensors",
                                                     "model.torchscript.pt"]
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


def test_bundle_replaces_an_earlier_bundle_but_not_other_folders(run, tmp_path):
    out = tmp_path / "bundle"
    export.export_bundle(run, out)
    (out / "stale.txt").write_text("old")
    export.export_bundle(run, out)
    assert not (out / "stale.txt").exists()
    other = tmp_path / "photos"
    other.mkdir()
    (other / "keep.jpg").write_bytes(b"x")
    with pytest.raises(ExportError, match="not a TL Studio bundle"):
        export.export_bundle(run, other)
    assert [p.name for p in other.iterdir()] == ["keep.jpg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "photos"]


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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


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
    assert len(loads) == 1
