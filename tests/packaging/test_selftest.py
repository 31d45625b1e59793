"""The headless self-test works from the source tree and reports failures as JSON."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_selftest(*args: str, env_extra: dict | None = None) -> tuple[int, dict]:
    env = dict(os.environ, OMP_NUM_THREADS="2", **(env_extra or {}))
    proc = subprocess.run([sys.executable, "-m", "tlstudio.selftest", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    lines = proc.stdout.strip().splitlines()
    assert lines, f"no output; stderr: {proc.stderr[-2000:]}"
    return proc.returncode, json.loads(lines[-1])


def test_selftest_trains_and_predicts_from_source(tmp_path):
    out = tmp_path / "result.json"
    code, result = run_selftest("--epochs", "1", "--image-size", "64", "--output", str(out))
    assert code == 0, result
    assert result["ok"] is True and result["frozen"] is False
    assert result["window"]["start_button"] and result["window"]["qt_platform"] == "offscreen"
    assert result["weights"] == "bundled"
    assert result["classes"] == 6 and result["epochs"] == 1
    assert result["val_accuracy"] > 1 / 6
    assert result["prediction"]["label"] in {p.name for p in (ROOT / "resources" / "demo_data").iterdir()}
    assert json.loads(out.read_text()) == result
    # the cache went where the environment said (conftest isolates it), not into the source tree
    assert result["cache_dir"] == os.environ["TLSTUDIO_CACHE_DIR"]


def test_selftest_reports_the_failing_step(tmp_path):
    empty = tmp_path / "resources"
    empty.mkdir()
    code, result = run_selftest("--epochs", "1", env_extra={"TLSTUDIO_RESOURCES": str(empty)})
    assert code == 1
    assert result["ok"] is False
    assert result["failed_step"] == "train"
    assert "demo data" in result["error"]
