"""Shared test set-up: offscreen Qt, isolated caches, no network."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    """Every test gets its own cache, data and torch-hub folders."""
    base = tmp_path_factory.mktemp("appdirs")
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("TLSTUDIO_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("TORCH_HOME", str(base / "torch"))
    monkeypatch.setenv("HF_HOME", str(base / "hf"))
    yield
