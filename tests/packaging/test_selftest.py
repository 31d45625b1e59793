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
    assert {"tf_efficientnet_lite1", "tf_efficientnet_lite2"} <= set(result["bundled_models"])
    assert result["classes"] == 6 and result["epochs"] == 1
    assert result["val_accuracy"] > 1 / 6
    assert result["prediction"]["label"] in {p.name for p in (ROOT / "resources" / "demo_data").iterdir()}
    assert json.loads(out.read_text()) == result
    # the text half: the bundled encoder, a head on the text demo, one text predicted after reloading
    text = result["text"]
    assert text["weights"] == "bundled" and text["classes"] == 6
    assert text["val_accuracy"] > 0.5            # chance is 1/6
    assert text["encoder_passes"] == 360         # every demo text encoded once, into the feature cache
    assert text["prediction"]["label"] == text["prediction"]["true_label"] == "animal"
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


def test_selftest_reports_a_missing_text_demo(tmp_path):
    resources = tmp_path / "resources"
    resources.mkdir()
    for sub in ("demo_data", "icons"):         # everything but the text demo
        (resources / sub).symlink_to(ROOT / "resources" / sub)
    code, result = run_selftest("--epochs", "1", env_extra={"TLSTUDIO_RESOURCES": str(resources)})
    assert code == 1 and result["ok"] is False
    assert result["failed_step"] == "text_train"
    assert "demo text data" in result["error"]
    code, result = run_selftest("--epochs", "1", "--no-text", env_extra={"TLSTUDIO_RESOURCES": str(resources)})
    assert code == 0 and "text" not in result
