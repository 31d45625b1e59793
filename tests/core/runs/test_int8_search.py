"""The mixed-precision INT8 search on small real ONNX graphs quantized by onnxruntime: a node made
sensitive is kept in FP32, an ordinary graph stays all INT8, and the outcome is recorded."""
import numpy as np
import pytest

from tests.cancel_job import CancelAtCheck
from tlstudio.core.runs import int8_search, quantize
from tlstudio.core.runs.quantize import CalibrationSet, convert_precision

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

WIDTH, VOCAB, CLASSES, LAYERS = 256, 64, 4, 4


def _token_model(path, sensitive_layer: int | None) -> None:
    """ids (int64, batch x tokens) -> embedding -> mean over tokens -> LAYERS MatMul+Relu -> logits, like a
    text model (integer inputs: dynamic INT8). A sensitive layer holds one weight 1000x larger than the
    rest in every output channel, so even per-channel INT8 scales round its other weights to zero."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(0, 1, (VOCAB, WIDTH)).astype(np.float32), "embedding"),
             numpy_helper.from_array(np.array([1], np.int64), "token_axis")]
    nodes = [helper.make_node("Gather", ["embedding", "ids"], ["tokens"], name="embed"),
             helper.make_node("ReduceMean", ["tokens", "token_axis"], ["h0"], name="pool", keepdims=0)]
    for i in range(LAYERS):
        weights = rng.normal(0, 1 / np.sqrt(WIDTH), (WIDTH, WIDTH)).astype(np.float32)
        if i == sensitive_layer:
            weights[0, :] = 1000.0 / np.sqrt(WIDTH)      # in every output channel
        inits.append(numpy_helper.from_array(weights, f"w{i}"))
        nodes += [helper.make_node("MatMul", [f"h{i}", f"w{i}"], [f"m{i}"], name=f"layer{i}"),
                  helper.make_node("Relu", [f"m{i}"], [f"h{i + 1}"], name=f"relu{i}")]
    inits.append(numpy_helper.from_array(rng.normal(0, 1.0, (WIDTH, CLASSES)).astype(np.float32), "head"))
    nodes.append(helper.make_node("MatMul", [f"h{LAYERS}", "head"], ["logits"], name="head"))
    graph = helper.make_graph(nodes, "tokens", [helper.make_tensor_value_info("ids", TensorProto.INT64, ["b", "t"])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", CLASSES])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))


def _inputs(seed: int, batches: int = 8, rows: int = 16):
    """Batches keyed by the graph's input name, as calibration_inputs gives them."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    return [{"ids": torch.randint(0, VOCAB, (rows, 6), generator=generator)} for _ in range(batches)]


def _calibration():
    return CalibrationSet(_inputs(1), "64 training texts", _inputs(2), "128 other training texts")


def _float_matmuls(path) -> set[str]:
    model = onnx.load(str(path))
    return {n.name for n in model.graph.node if n.op_type == "MatMul"}


def test_search_keeps_the_sensitive_layer_in_fp32(tmp_path):
    _token_model(tmp_path / "fp32.onnx", sensitive_layer=2)
    conversion = convert_precision(tmp_path / "fp32.onnx", tmp_path / "int8.onnx", "int8", _calibration)
    mixed = conversion.mixed_precision
    assert mixed["all_int8"]["holdout_agreement"] < 0.7            # the outlier wrecks layer 2 when INT8
    assert "layer2" in mixed["kept_fp32_nodes"] and len(mixed["kept_fp32_nodes"]) <= 2
    assert mixed["chosen"]["holdout_agreement"] > mixed["all_int8"]["holdout_agreement"] + 0.3
    assert mixed["checked_on"] == "128 other training texts" and mixed["trials"] >= 2
    assert "layer2" in _float_matmuls(tmp_path / "int8.onnx")     # really left a float MatMul in the file
    assert "layer0" not in _float_matmuls(tmp_path / "int8.onnx")
    assert (tmp_path / "fp32.onnx").stat().st_size >= 2 * (tmp_path / "int8.onnx").stat().st_size
    assert "kept in FP32: layer2" in conversion.method and "->" in conversion.method


def test_a_graph_that_meets_the_target_stays_all_int8(tmp_path, monkeypatch):
    monkeypatch.setattr(quantize, "HOLDOUT_TARGET", 0.99)
    _token_model(tmp_path / "fp32.onnx", sensitive_layer=None)
    conversion = convert_precision(tmp_path / "fp32.onnx", tmp_path / "int8.onnx", "int8", _calibration)
    mixed = conversion.mixed_precision
    assert mixed["all_int8"]["holdout_agreement"] >= 0.99 and mixed["target_reached"]
    assert mixed["kept_fp32_nodes"] == [] and mixed["trials"] == 1
    assert not _float_matmuls(tmp_path / "int8.onnx")
    assert "every node INT8" in conversion.method


def test_search_respects_the_size_target(tmp_path):
    """When keeping the sensitive layer would leave the file less than the size target smaller, it stays INT8."""
    _token_model(tmp_path / "fp32.onnx", sensitive_layer=2)
    from tlstudio.core.runs.quantize import _dynamic_quantizer, _measurer
    quantizer, op_types = _dynamic_quantizer(tmp_path / "fp32.onnx")
    groups = int8_search.node_groups(onnx.load(str(tmp_path / "fp32.onnx")), op_types)
    found = int8_search.search(groups, quantizer, _measurer(tmp_path / "fp32.onnx", _calibration().holdout)[0],
                               (tmp_path / "fp32.onnx").stat().st_size, tmp_path, tmp_path / "out.onnx",
                               size_target=3.5)
    assert "layer2" not in found.kept_nodes and not found.reached and "smaller" in found.stopped
    assert (tmp_path / "fp32.onnx").stat().st_size >= 3.5 * (tmp_path / "out.onnx").stat().st_size
    assert (tmp_path / "out.onnx").is_file() and not list(tmp_path.glob("trial*.onnx"))


def test_groups_follow_module_scopes_and_collect_depthwise_convolutions():
    weights = [numpy_helper.from_array(np.zeros((8, 1, 3, 3), np.float32), "dw"),
               numpy_helper.from_array(np.zeros((8, 8, 1, 1), np.float32), "pw")]
    nodes = [helper.make_node("Conv", ["x", "dw"], ["a"], name="/base/blocks.1/conv_dw/Conv", group=8),
             helper.make_node("Conv", ["a", "pw"], ["b"], name="/base/blocks.1/conv_pw/Conv"),
             helper.make_node("Conv", ["b", "pw"], ["c"], name="/base/blocks.2/conv_pw/Conv"),
             helper.make_node("Gemm", ["c", "pw"], ["d"], name="/head/fc/Gemm")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 4, 4])],
                              [helper.make_tensor_value_info("d", TensorProto.FLOAT, None)], weights)
    groups = int8_search.node_groups(helper.make_model(graph))
    assert groups == {"base.blocks.1": ["/base/blocks.1/conv_dw/Conv", "/base/blocks.1/conv_pw/Conv"],
                      "base.blocks.2": ["/base/blocks.2/conv_pw/Conv"], "head.fc": ["/head/fc/Gemm"],
                      int8_search.DEPTHWISE: ["/base/blocks.1/conv_dw/Conv"]}


def test_the_search_checks_the_least_certain_held_out_samples():
    outputs = np.log(np.array([[0.9, 0.1], [0.55, 0.45], [0.2, 0.8], [0.48, 0.52], [0.99, 0.01]]))
    assert int8_search.least_certain(outputs, 2).tolist() == [1, 3]
    assert int8_search.least_certain(outputs, 9).tolist() == [0, 1, 2, 3, 4]


def test_the_report_says_why_int8_still_disagrees():
    from tlstudio.core.runs.export_report import _warnings

    mixed = {"kept_fp32_groups": ["base.bn1", "base.blocks.0.0"], "checked_on": "the 128 least certain of 384 other "
             "training images", "target_reached": False, "stopped": "the time budget (240 s) ran out",
             "all_int8": {"holdout_agreement": 0.93}, "chosen": {"holdout_agreement": 0.97}}
    entry = {"precision": "int8", "top1_agreement": 0.98, "accuracy_delta": -0.003, "size_ratio": 3.4,
             "mixed_precision": mixed}
    (warning,) = _warnings(entry)
    assert warning.startswith("Top-1 agreement 98.0 % is below 99 %.")
    assert "(base.bn1, base.blocks.0.0) in FP32 gave 97.0 %" in warning and "all INT8: 93.0 %" in warning
    assert "time budget" in warning and "export FP16" in warning
    reached = dict(mixed, target_reached=True, chosen={"holdout_agreement": 1.0})
    (warning,) = _warnings(dict(entry, mixed_precision=reached))
    assert "agrees on 100.0 %" in warning and "close to a class boundary" in warning
    assert _warnings(dict(entry, top1_agreement=0.995)) == []


def test_a_cancel_stops_the_search_between_trials_and_writes_nothing(tmp_path):
    from tlstudio.core.progress import Cancelled

    _token_model(tmp_path / "fp32.onnx", sensitive_layer=2)
    job = CancelAtCheck(2)
    with pytest.raises(Cancelled):
        convert_precision(tmp_path / "fp32.onnx", tmp_path / "int8.onnx", "int8", _calibration, job=job)
    assert job.checks == 2 and not (tmp_path / "int8.onnx").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fp32.onnx"]      # the work folder went too
