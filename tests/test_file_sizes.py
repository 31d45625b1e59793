"""Files stay small and named for what they hold: no module of tlstudio/ over MAX_LINES lines.

A file that grows past it is split along what it holds (issue 20: five files had passed 500 lines,
and two passed it again after merges)."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "tlstudio"
MAX_LINES = 500


def long_files(root: Path = ROOT, limit: int = MAX_LINES) -> dict[str, int]:
    sizes = {p.relative_to(root).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
             for p in root.rglob("*.py")}
    return {rel: n for rel, n in sorted(sizes.items()) if n > limit}


def test_the_check_sees_a_long_file(tmp_path):
    (tmp_path / "short.py").write_text("x = 1\n" * 3)
    (tmp_path / "long.py").write_text("x = 1\n" * 4)
    assert long_files(tmp_path, limit=3) == {"long.py": 4}


def test_no_module_is_over_the_limit():
    found = long_files()
    assert not found, f"Split these along what they hold (over {MAX_LINES} lines): {found}"
