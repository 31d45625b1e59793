"""What the frozen app can import and load, checked from the venv before a build.

The default installer once failed to load the bundled MiniLM ("Cannot load dependency data, is
`kernels` correctly installed?"): transformers imported its optional `kernels` integration, whose
package reads a JSON file PyInstaller never collected. These tests load the encoder the way the
bundle does (the spec's EXCLUDES unimportable) and check that every package that load imports
either ships its data files or needs none.
"""
from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.packaging.test_spec_collection import spec_lists

SITE = Path(sysconfig.get_paths()["purelib"])
# Non-Python files a package may hold that the frozen app does not read: PyInstaller collects compiled
# extensions as binaries, and typing stubs, C headers and licences are never opened at run time.
NOT_DATA = ["*.py", "*.pyc", "*.pyi", "*.so", "*.so.*", "*.pyd", "*.dll", "*.dylib", "py.typed", "*.pxd", "*.h",
            "*.hpp", "*.cuh", "*.c", "*.cpp", "*.cu", "LICENSE*", "*.md", "*.txt.gz"]
# Packages imported while loading the text model whose data files no code path of the app reads (checked
# by hand; a new package here needs the same look, not a reflex entry).
DATA_NOT_READ = {
    "sympy": "MathML style sheets, read only by sympy's MathML printer",
    "tokenizers": "the notebook visualizer's CSS",
    "torchgen": "autograd code-generation templates (building PyTorch itself)",
    "tqdm": "shell completion and man page",
}

LOAD_AS_FROZEN = r"""
import json, sys
for name in sys.argv[1:]:
    sys.modules[name] = None          # what an excluded module looks like in the bundle: find_spec() is None
from tlstudio.core.zoo.text_encoder import load_text_model
model = load_text_model(allow_download=False)
vectors = model.encode(["a short sentence", "another one"])
files = {}
for name, module in list(sys.modules.items()):
    path = getattr(module, "__file__", None) if module is not None and "." not in name else None
    if path:
        files[name] = path
print(json.dumps({"source": model.source, "shape": list(vectors.shape), "modules": files}))
"""


@pytest.fixture(scope="module")
def frozen_load():
    """Load the bundled text model in a fresh interpreter with the spec's EXCLUDES unimportable."""
    out = subprocess.run([sys.executable, "-c", LOAD_AS_FROZEN, *spec_lists()["EXCLUDES"]],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_bundled_encoder_loads_with_the_spec_excludes_missing(frozen_load):
    assert frozen_load["source"] == "bundled"
    assert frozen_load["shape"] == [2, 384]          # all-MiniLM-L6-v2's sentence vectors
    assert "transformers" in frozen_load["modules"] and "tokenizers" in frozen_load["modules"]
    assert not set(spec_lists()["EXCLUDES"]) & set(frozen_load["modules"])


def test_optional_integrations_stay_out():
    # transformers >= 5.25 depends on `kernels` and turns hub kernels on by default; the bundle leaves it out
    assert "kernels" in spec_lists()["EXCLUDES"]


def pyinstaller_hooks() -> set[str]:
    """Module names PyInstaller (and pyinstaller-hooks-contrib) carry a hook for."""
    names = set()
    for root in ("PyInstaller/hooks", "_pyinstaller_hooks_contrib/stdhooks", "_pyinstaller_hooks_contrib/hooks/stdhooks"):
        folder = SITE / root
        names.update(p.stem[len("hook-"):] for p in folder.glob("hook-*.py"))
    return names


def data_files(package_dir: Path) -> list[str]:
    out = []
    for path in package_dir.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts and "tests" not in path.parts \
                and not any(fnmatch.fnmatch(path.name, pat) for pat in NOT_DATA):
            out.append(str(path.relative_to(package_dir)))
    return out


def test_packages_imported_by_text_load_ship_their_data(frozen_load):
    hooks = pyinstaller_hooks()
    if not hooks:
        pytest.skip("PyInstaller is not installed in this venv (pip install -e '.[package]')")
    lists = spec_lists()
    collected = set(lists["DATA_PACKAGES"]) | set(lists["SOURCE_PACKAGES"])
    missing = []
    for top, path in sorted(frozen_load["modules"].items()):
        package_dir = Path(path).parent
        if Path(path).name != "__init__.py" or SITE not in package_dir.parents or top == "tlstudio":
            continue            # a single-file module, the standard library, or the app itself
        files = data_files(package_dir)
        if files and top not in collected | hooks | set(DATA_NOT_READ):
            missing.append(f"{top}: {files[:3]} ({len(files)} files) - add it to DATA_PACKAGES, or to EXCLUDES")
    assert not missing, "packages imported while loading the text model whose data files the bundle lacks:\n" + \
        "\n".join(missing)


def test_data_check_sees_the_kernels_case(tmp_path):
    # the check must flag a package shaped like `kernels` (a JSON file read at import), or it proves nothing
    pkg = tmp_path / "kernels"
    (pkg / "_internals").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "_rust.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    (pkg / "_internals" / "python_depends.json").write_text("{}")
    assert data_files(pkg) == [str(Path("_internals") / "python_depends.json")]

