"""The leaderboard's Pareto front, order, JSON round trip and atomic save (pure Python)."""
from __future__ import annotations

import json

from tlstudio.core.compare.leaderboard import (CandidateResult, Leaderboard, format_leaderboard, leaderboard_path,
                                               load_leaderboard, mark_pareto, save_leaderboard)


def _row(model, acc, ms, **kw):
    return CandidateResult(model=model, accuracy=acc, macro_f1=acc - 0.01, latency_ms=ms, method="5-fold",
                           samples=100, params=1_000_000, file_bytes=4_000_000, extract_rate=50.0, **kw)


def test_pareto_front_accuracy_vs_latency():
    rows = [_row("fast", 0.80, 5.0), _row("best", 0.95, 40.0), _row("dominated", 0.85, 50.0),
            _row("middle", 0.90, 10.0), _row("tie", 0.90, 10.0), CandidateResult(model="broken", error="no weights")]
    mark_pareto(rows)
    flags = {r.model: r.pareto for r in rows}
    # "dominated" is slower and less accurate than "best"; equal rows both stay on the front
    assert flags == {"fast": True, "best": True, "dominated": False, "middle": True, "tie": True, "broken": False}


def test_ranked_json_round_trip_and_atomic_save(tmp_path):
    board = Leaderboard(task="image", noun="images", data="/d", classes=["a", "b"],
                        candidates=[_row("fast", 0.80, 5.0), CandidateResult(model="broken", error="no weights"),
                                    _row("best", 0.95, 40.0)], complete=True)
    mark_pareto(board.candidates)
    assert [r.model for r in board.ranked()] == ["best", "fast", "broken"] and board.best().model == "best"
    path = save_leaderboard(board, leaderboard_path(tmp_path / "proj.json", "/d"))
    assert path == tmp_path / "proj.compare.json"
    assert [p.name for p in tmp_path.iterdir()] == ["proj.compare.json"]      # no temporary file left
    data = json.loads(path.read_text())
    assert [r["model"] for r in data["candidates"]] == ["best", "fast", "broken"]
    again = load_leaderboard(path)
    assert again.to_dict() == board.to_dict() and again.row("best").pareto
    text = format_leaderboard(board)
    assert text.splitlines()[1].startswith("* best") and "broken" in text and "no weights" in text
    assert load_leaderboard(tmp_path / "missing.json") is None


def test_unsaved_project_path_is_in_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_DATA_DIR", str(tmp_path / "appdata"))
    path = leaderboard_path(None, str(tmp_path / "flowers"))
    assert path.parent == tmp_path / "appdata" / "compare" and path.name.startswith("flowers-")
    assert path != leaderboard_path(None, str(tmp_path / "other" / "flowers"))


def test_the_table_says_which_runtime_timed_each_row():
    rows = [_row("a", 0.9, 10.0, latency_how="ONNX model in onnxruntime 1.2, batch 1, cpu, 2 threads",
                 latency_runtime="onnxruntime", latency_runs=9),
            _row("b", 0.8, 20.0, latency_how="ONNX model in onnxruntime 1.2, batch 1, cpu, 2 threads",
                 latency_runtime="onnxruntime", latency_runs=14)]
    board = Leaderboard(task="image", noun="images", data="/d", candidates=rows, complete=True)
    mark_pareto(board.candidates)
    lines = format_leaderboard(board).splitlines()
    assert lines[-1] == "Latency: ONNX model in onnxruntime 1.2, batch 1, cpu, 2 threads; median of 9-14 passes."
    rows.append(_row("c", 0.7, 90.0, latency_how="PyTorch model, batch 1, cpu, 2 threads (the ONNX export "
                     "failed: no)", latency_runtime="pytorch", latency_runs=5))
    lines = format_leaderboard(board).splitlines()
    assert lines[-2].startswith("Latency: ONNX model") and "(a, b); median of 5-14 passes." in lines[-2]
    assert lines[-1].startswith("Latency: PyTorch model") and "failed: no) (c)" in lines[-1]
