"""Shared test set-up: offscreen Qt, throw-away user folders, no network.

Before anything else is imported, every per-user folder (settings, feature cache, data/runs, logs,
torch and Hugging Face caches) is pointed at a sandbox in ``os.environ`` — module-scoped fixtures
and subprocesses (CLI, torchrun) inherit it — and the run fails if the user's real TL Studio
folders change (see tests/user_folders.py). ``TLSTUDIO_TEST_SHUFFLE=<seed>`` runs the test files,
and the tests in each file, in a random order, to find tests that depend on what ran before.
"""
import os
import random

from tests import user_folders

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

_REAL_FOLDERS = user_folders.real_user_folders()
_REAL_BEFORE = user_folders.snapshot(_REAL_FOLDERS)
_SANDBOX = user_folders.make_sandbox()
user_folders.redirect(_SANDBOX)

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


def pytest_report_header(config):
    lines = [f"user folders redirected to {_SANDBOX}"]
    if os.environ.get("TLSTUDIO_TEST_SHUFFLE"):
        lines.append(f"shuffled order, seed {os.environ['TLSTUDIO_TEST_SHUFFLE']}")
    return lines


def pytest_collection_modifyitems(session, config, items):
    seed = os.environ.get("TLSTUDIO_TEST_SHUFFLE")
    if not seed:
        return
    rng = random.Random(seed)
    by_file: dict[str, list] = {}
    for item in items:
        by_file.setdefault(str(item.path), []).append(item)
    files = list(by_file)
    rng.shuffle(files)
    items[:] = []
    for name in files:
        group = by_file[name]
        rng.shuffle(group)
        items.extend(group)


def pytest_sessionfinish(session, exitstatus):
    """Fail the run if the user's own TL Studio folders changed while it ran."""
    changed = user_folders.differences(_REAL_BEFORE, user_folders.snapshot(_REAL_FOLDERS))
    user_folders.remove_sandbox(_SANDBOX)
    if not changed:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = ("The test run changed the user's own TL Studio folders (or another program did "
               "meanwhile):\n  " + "\n  ".join(changed[:20]))
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep("=", "user folders changed", red=True)
        reporter.write_line(message)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
