"""compare_models on a tiny real image set: a leaderboard with figures and a Pareto flag, cached re-runs,
a failing candidate kept as a row, cancel keeps the finished rows."""
from __future__ import annotations

import json

import pytest
import torch

from tlstudio.core.compare.compare import compare_models, default_candidates, macro_f1
from tlstudio.core.compare.leaderboard import load_leaderboard
from tlstudio.core.progress import Cancelled, JobState
from tlstudio.core.project import Project
from tests.cancel_job import CancelAtCheck
from tests.demo_subset import make_subset

TWO = [("tf_efficientnet_lite0", "auto"), ("tf_efficientnet_lite1", "auto")]


@pytest.fixture(autouse=True)
def threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def project(tmp_path):
    p = Project()
    p.data.path = str(make_subset(tmp_path / "data", per_class=8))     # 6 classes x 8 real photos
    p.model.image_size = 64
    p.data.test_fraction = 0.2
    return p


def test_default_candidates_are_the_bundled_lites_and_the_projects_own(project, tmp_path):
    assert default_candidates(project)[:3] == [("tf_efficientnet_lite0", "auto"), ("tf_efficientnet_lite1", "auto"),
                                               ("tf_efficientnet_lite2", "auto")]
    project.choose_model("tf_efficientnet_lite1", json.dumps({"kind": "file", "path": str(tmp_path / "w.pth")}))
    first = default_candidates(project)[0]
    assert first[0] == "tf_efficientnet_lite1" and first[1] != "auto"          # its imported weights
    assert ("tf_efficientnet_lite1", "auto") in default_candidates(project)


def test_leaderboard_on_real_images_then_cached(project, tmp_path):
    out = tmp_path / "p.compare.json"
    seen, phases = [], set()
    state = JobState(interval=0.0)
    state.on_progress = lambda done, total: (seen.append((done, total)), phases.add(state.phase))
    board = compare_models(project, TWO, job=state, device="cpu", save_to=out)
    assert board.complete and [r.model for r in board.candidates] == [m for m, _ in TWO]
    for r in board.candidates:
        assert r.error is None and not r.from_cache
        assert r.accuracy > 0.4 and 0.3 < r.macro_f1 <= 1     # 6 classes: chance is 0.17
        assert r.samples == 36 and "cross-validation" in r.method     # the test split (2 a class) never read
        assert r.latency_ms > 0 and "batch 1" in r.latency_how and r.extract_rate > 0
        # the exported model's latency: the dev install has the export extra
        assert r.latency_runtime == "onnxruntime" and r.latency_how.startswith("ONNX model in onnxruntime")
        assert r.latency_runs >= 5
        assert r.params > 3_000_000 and r.file_bytes > 4 * r.params * 0.95 and r.input_size == "64 px"
        assert r.feature_dim == 1280
    assert any(r.pareto for r in board.candidates)
    assert seen[-1][0] == seen[-1][1] and all(b >= a for (a, _), (b, _) in zip(seen, seen[1:]))
    assert any(p.startswith("1/2 tf_efficientnet_lite0: extracting") for p in phases)
    assert any(p.startswith("2/2 tf_efficientnet_lite1") for p in phases)
    saved = json.loads(out.read_text())
    assert saved["complete"] and {"accuracy", "macro_f1", "latency_ms", "extract_rate", "params", "file_bytes",
                                  "pareto"} <= set(saved["candidates"][0])
    # Again: every feature row comes from the cache, the same scores, throughput and latency kept from run 1.
    again = compare_models(project, TWO, device="cpu", previous=load_leaderboard(out), save_to=out)
    for first, second in zip(board.candidates, again.candidates):
        assert second.from_cache and second.accuracy == pytest.approx(first.accuracy)
        assert second.extract_rate == first.extract_rate and second.latency_ms == first.latency_ms


def test_a_failing_candidate_is_a_row_and_cancel_keeps_finished_rows(project, tmp_path):
    out = tmp_path / "p.compare.json"
    state = JobState()
    pairs = [("tf_efficientnet_lite0", json.dumps({"kind": "file", "path": str(tmp_path / "missing.pth")})),
             ("tf_efficientnet_lite0", "auto"), ("tf_efficientnet_lite1", "auto")]

    def on_row(row):
        if row.error is None:
            state.cancel()              # stop after the first model that has figures

    with pytest.raises(Cancelled):
        compare_models(project, pairs, job=state, device="cpu", save_to=out, on_row=on_row)
    kept = load_leaderboard(out)
    assert not kept.complete and len(kept.candidates) == 2
    broken = kept.candidates[1] if kept.candidates[0].ok else kept.candidates[0]
    assert "missing.pth" in broken.error and not broken.pareto
    assert kept.row("tf_efficientnet_lite0").ok


def test_macro_f1_by_hand():
    labels = torch.tensor([0, 0, 1, 1, 2])
    predicted = torch.tensor([0, 1, 1, 1, 0])
    # class 0: tp 1 fp 1 fn 1 -> 0.5; class 1: tp 2 fp 1 fn 0 -> 0.8; class 2: tp 0 -> 0
    assert macro_f1(predicted, labels, 4) == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_latency_falls_back_to_pytorch_and_says_why(project, monkeypatch):
    from tlstudio.core.compare import measure

    def broken_export(model, inputs):
        raise RuntimeError("Unsupported operator 'aten::made_up'\nmore lines")

    working = measure.onnx_model
    monkeypatch.setattr(measure, "onnx_model", broken_export)
    board = compare_models(project, TWO[:1], device="cpu")
    row = board.candidates[0]
    assert row.ok and row.latency_runtime == "pytorch" and row.latency_ms > 0
    assert row.latency_how.startswith("PyTorch model, batch 1, cpu")
    assert "the ONNX export failed: Unsupported operator 'aten::made_up')" in row.latency_how
    # a cached re-run with ONNX working again measures the exported model, not the old PyTorch figure
    monkeypatch.setattr(measure, "onnx_model", working)
    again = compare_models(project, TWO[:1], device="cpu", previous=board)
    assert again.candidates[0].from_cache and again.candidates[0].latency_runtime == "onnxruntime"


def test_latency_without_the_export_extra_is_pytorchs(monkeypatch):
    from tlstudio.core.compare import measure

    real = measure.importlib.util.find_spec
    monkeypatch.setattr(measure.importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    model = torch.nn.Sequential(torch.nn.Linear(8, 3))
    latency = measure.batch1_latency(model, torch.randn(1, 8), torch.device("cpu"))
    assert latency.runtime == "pytorch" and latency.ms > 0 and "not installed" in latency.how
    assert measure.preferred_runtime(torch.device("cpu")) == "pytorch"


def test_onnx_latency_of_a_small_model_and_cancel_between_passes():
    from tlstudio.core.compare import measure

    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    latency = measure.batch1_latency(model, torch.randn(1, 8), torch.device("cpu"))
    assert latency.runtime == "onnxruntime" and 0 < latency.ms < 1000 and "batch 1" in latency.how
    assert measure.LATENCY_MIN_RUNS <= latency.runs <= measure.LATENCY_RUNS
    job = CancelAtCheck(4)
    with pytest.raises(Cancelled):
        measure.batch1_latency(model, torch.randn(1, 8), torch.device("cpu"), job=job)
    assert job.checks == 4          # stopped at the first check after the cancel, not at the end


def test_weights_size_counts_every_tensor_once():
    from tlstudio.core.compare import measure

    model = torch.nn.Sequential(torch.nn.Linear(10, 4), torch.nn.BatchNorm1d(4))
    params, size = measure.footprint(model)
    assert params == 10 * 4 + 4 + 4 + 4
    # weights + BatchNorm's running mean/var (fp32) and its int64 batch counter
    assert size == 4 * (params + 4 + 4) + 8
