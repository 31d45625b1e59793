"""No module reaches into another module's private names.

Two checks over every tlstudio source file: no ``from tlstudio.x import _private``,
and no ``obj._private`` on an object unless this same file defines ``_private``
(an attribute set on ``self``, a function, a class or a module-level name), so the
loop cannot write a trainer's private history and a panel cannot call another
panel's private method.
"""
import ast
from pathlib import Path

import tlstudio

PACKAGE = Path(tlstudio.__file__).parent


def _own_private_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            names.add(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if n.startswith("_")}


def private_reaches(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = _own_private_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tlstudio"):
            found += [f"{path.name}:{node.lineno} imports {node.module}.{a.name}"
                      for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
        elif (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
              and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
              and node.attr not in own):
            found.append(f"{path.name}:{node.lineno} reads {ast.unparse(node)}")
    return found


def test_the_check_sees_a_private_reach(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from tlstudio.core.x import _hidden\n\ndef f(trainer):\n    trainer._history.append(1)\n"
                      "\nclass W:\n    def g(self):\n        self._own = 1\n        self.panel._refresh()\n")
    assert len(private_reaches(sample)) == 3


def test_no_module_reaches_into_private_names():
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) for hit in private_reaches(path)]
    assert found == []
