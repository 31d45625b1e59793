"""FP16 / INT8 ONNX exports of real trained runs (images and text), their verification report and model card."""
import csv
import json
from pathlib import Path

import pytest

from tests.demo_subset import make_subset
from tlstudio.cli import commands as cli
from tlstudio.core.errors import ExportError
from tlstudio.core.paths import resources_dir
from tlstudio.core.runs import export, quantize

pytest.importorskip("onnxruntime")
TEXT_DEMO = resources_dir() / "demo_text_data" / "wordnet_definitions.csv"
REPORT_FIELDS = {"file", "kind", "precision", "method", "file_bytes", "fp32_file_bytes", "size_ratio",
                 "top1_agreement", "accuracy", "pytorch_accuracy", "accuracy_delta", "max_probability_difference",
                 "latency_ms_p50", "latency_ms_p95", "latency_runs", "throughput_per_s", "throughput_batch",
                 "warnings"}


def _train(argv) -> None:
    assert cli.main([str(a) for a in argv] + ["--quiet", "--no-search"]) == 0


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """EfficientNet-Lite0 (bundled weights) on 12 demo images per class at 64 px, with a test split."""
    base = tmp_path_factory.mktemp("imgprec")
    data = make_subset(base / "data", per_class=12)
    _train(["train", data, "--out", base / "run", "--image-size", "64", "--epochs", "15", "--test-split", "0.25"])
    return base / "run"


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """MiniLM (bundled) on 12 WordNet definitions per topic, max 32 tokens, with a test split."""
    base = tmp_path_factory.mktemp("txtprec")
    with open(TEXT_DEMO, encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    per_label: dict[str, int] = {}
    kept = [rows[0]]
    for text, label in rows[1:]:
        if per_label.get(label, 0) < 12:
            per_label[label] = per_label.get(label, 0) + 1
            kept.append([text, label])
    data = base / "topics.csv"
    with open(data, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(kept)
    _train(["train", data, "--out", base / "run", "--epochs", "20", "--lr", "0.01", "--max-length", "32",
            "--test-split", "0.25"])
    return base / "run"


def _split_len(run: Path, split: str) -> int:
    return len(json.loads((run / "split.json").read_text())[split])


def _check_entry(entry: dict, precision: str) -> None:
    assert REPORT_FIELDS <= set(entry)
    assert entry["precision"] == precision and entry["kind"] == "onnx"
    assert entry["top1_agreement"] >= 0.9                   # real data, real model: nearly all agree
    assert -0.1 <= entry["accuracy_delta"] <= 0.1
    assert 0.0 <= entry["max_probability_difference"] < 0.5
    assert 0 < entry["latency_ms_p50"] <= entry["latency_ms_p95"] and entry["throughput_per_s"] > 0
    assert entry["throughput_batch"] == 32 and entry["latency_runs"] >= 10
    # INT8: at least 2x smaller (the mixed-precision search may keep some blocks in FP32)
    assert entry["file_bytes"] * (2.0 if precision == "int8" else 1.8) <= entry["fp32_file_bytes"]


def test_image_int8_and_fp16_onnx_with_report_and_card(image_run, tmp_path):
    import onnxruntime as ort

    classes = json.loads((image_run / "model.json").read_text())["classes"]
    for precision in ("int8", "fp16"):
        out = tmp_path / f"clothes.{precision}.onnx"
        result = export.export_onnx(image_run, out, precision=precision)
        report = json.loads((tmp_path / f"clothes.{precision}.export_report.json").read_text())
        assert report["format"] == "tlstudio-export-report" and report["evaluated_on"] == "test split"
        assert report["samples"] == _split_len(image_run, "test") > 0 and report["labelled"]
        (entry,) = report["exports"]
        _check_entry(entry, precision)
        assert entry["file_bytes"] == out.stat().st_size and result["max_abs_diff"] < 1e-3   # FP32 parity kept
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        assert session.get_inputs()[0].type == "tensor(float)"     # fed like the FP32 file
        card = (tmp_path / f"clothes.{precision}.MODEL_CARD.md").read_text()
        assert all(f"| {name} |" in card for name in classes)
        assert "| Accuracy |" in card and "test split" in card and "## Calibration" in card
        assert "## Limits" in card and str(image_run.parent) not in card    # folder names, never machine paths
    int8_entry = json.loads((tmp_path / "clothes.int8.export_report.json").read_text())["exports"][0]
    assert "static INT8" in int8_entry["method"]
    mixed = int8_entry["mixed_precision"]                   # what the search measured and kept is recorded
    assert mixed["checked_on"].endswith("other training images") and mixed["trials"] >= 1
    assert isinstance(mixed["kept_fp32_nodes"], list) and mixed["search_seconds"] >= 0
    assert 0 <= mixed["all_int8"]["holdout_agreement"] <= mixed["chosen"]["holdout_agreement"] <= 1
    card = (tmp_path / "clothes.int8.MODEL_CARD.md").read_text()
    assert ("kept in FP32:" in card) == bool(mixed["kept_fp32_nodes"]) and "other training images" in card
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "clothes.fp16.MODEL_CARD.md", "clothes.fp16.export_report.json", "clothes.fp16.onnx",
        "clothes.int8.MODEL_CARD.md", "clothes.int8.export_report.json", "clothes.int8.onnx"]


def test_calibration_and_holdout_come_from_the_training_split_only(image_run):
    split = json.loads((image_run / "split.json").read_text())
    train = {row[0] for row in split["train"]}
    evaluated = {row[0] for row in (split.get("val") or []) + (split.get("test") or [])}
    name, calibrate, held = quantize.calibration_samples(image_run)
    calibrate, held = {s.path for s in calibrate}, {s.path for s in held}
    assert name == "training" and calibrate and held and not calibrate & held
    assert calibrate | held <= train and not (calibrate | held) & evaluated
    assert len(calibrate) <= quantize.CALIBRATION_SAMPLES and len(held) <= quantize.HOLDOUT_POOL
    assert len(calibrate) + len(held) == min(len(train), quantize.CALIBRATION_SAMPLES + quantize.HOLDOUT_POOL)


def test_fp32_onnx_is_unchanged_float_graph(image_run, tmp_path):
    import onnx

    result = export.export_onnx(image_run, tmp_path / "m.onnx")
    model = onnx.load(str(tmp_path / "m.onnx"))
    assert not {n.op_type for n in model.graph.node} & {"QuantizeLinear", "DequantizeLinear", "Cast"}
    assert {i.data_type for i in model.graph.initializer} <= {onnx.TensorProto.FLOAT, onnx.TensorProto.INT64}
    assert result["precision"] == "fp32" and result["max_abs_diff"] < 1e-3
    (entry,) = result["report"]["exports"]
    assert entry["top1_agreement"] == 1.0 and entry["accuracy_delta"] == 0.0 and entry["size_ratio"] is None
    assert entry["max_probability_difference"] < 1e-4


def test_text_bundle_with_int8_onnx_and_fp16_file(text_run, tmp_path):
    bundle = export.export_bundle(text_run, tmp_path / "bundle", onnx=True, precision="int8")
    names = {p.name for p in bundle.iterdir()}
    assert {"model.int8.onnx", "MODEL_CARD.md", "export_report.json", "model.safetensors"} <= names
    assert "model.onnx" not in names
    manifest = json.loads((bundle / ".tlstudio-export.json").read_text())
    assert {"MODEL_CARD.md", "export_report.json"} <= set(manifest["files"])    # replaced with the bundle
    report = json.loads((bundle / "export_report.json").read_text())
    weights, onnx_entry = report["exports"]
    assert weights["file"] == "model.safetensors" and weights["top1_agreement"] == 1.0
    _check_entry(onnx_entry, "int8")
    assert "dynamic INT8" in onnx_entry["method"]
    assert json.loads((bundle / "model.json").read_text())["exports"]["onnx"]["precision"] == "int8"
    card = (bundle / "MODEL_CARD.md").read_text()
    classes = json.loads((text_run / "model.json").read_text())["classes"]
    assert all(f"| {name} |" in card for name in classes) and "topics.csv" in card and "model.int8.onnx" in card

    result = export.export_onnx(text_run, tmp_path / "topics.onnx", precision="fp16")
    _check_entry(result["report"]["exports"][0], "fp16")


def test_precision_errors_are_one_line_and_write_nothing(image_run, tmp_path, capsys):
    for argv in (["--format", "onnx", "--precision", "int4"], ["--format", "torchscript", "--precision", "int8"],
                 ["--format", "bundle", "--precision", "fp16"]):
        assert cli.main(["export", str(image_run), "--out", str(tmp_path / "x.onnx"), *argv]) == 2
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(err) == 1 and "precision" in err[0].lower() and "Traceback" not in err[0], err
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ExportError, match="Unknown precision 'half'"):
        export.export_onnx(image_run, tmp_path / "x.onnx", precision="half")


@pytest.mark.filterwarnings("ignore::FutureWarning")     # torch.jit's deprecation notices
def test_users_files_beside_the_export_are_never_overwritten(image_run, tmp_path):
    mine = tmp_path / "m.MODEL_CARD.md"
    mine.write_text("# my own notes")
    with pytest.raises(ExportError, match="not written by a TL Studio export"):
        export.export_onnx(image_run, tmp_path / "m.onnx", precision="fp16")
    assert mine.read_text() == "# my own notes" and sorted(p.name for p in tmp_path.iterdir()) == ["m.MODEL_CARD.md"]
    # An earlier export's own documents are replaced with --force, like the file itself.
    export.export_torchscript(image_run, tmp_path / "n.pt")
    before = (tmp_path / "n.export_report.json").read_text()
    assert json.loads(before)["exports"][0]["kind"] == "torchscript"
    with pytest.raises(ExportError, match="--force"):
        export.export_torchscript(image_run, tmp_path / "n.pt")
    export.export_torchscript(image_run, tmp_path / "n.pt", force=True)
    assert (tmp_path / "n.export_report.json").read_text() != before     # a new report (new timings)


def test_cli_export_int8_prints_the_report(image_run, tmp_path, capsys):
    assert cli.main(["export", str(image_run), "--format", "onnx", "--precision", "int8",
                     "--out", str(tmp_path / "q.onnx")]) == 0
    out = capsys.readouterr().out
    assert "Agreement" in out and "INT8" in out and "smaller" in out and "q.export_report.json" in out
