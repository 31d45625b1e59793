"""Imports point down the layers, and no module imports itself back through others.

An AST walk over every tlstudio file (imports inside functions count: they are the same design
dependency, only later; ``if TYPE_CHECKING:`` imports do not). Layers, lowest first:

- core's base modules (errors, atomic, paths, progress, device, events, threads, calibration) import
  no other layer;
- ``core.zoo`` (cards, their Preprocessing, weights, family adapters) imports only the base;
- ``core.model`` (head, TransferModel, assembly, freezing) and ``core.data`` (datasets, the
  modality seam) import the base and the zoo, not each other;
- ``core.task_types`` (single-/multi-label as a training object) imports the base, the data and the
  multi-label metrics (``runs.multilabel_metrics``, numpy only);
- ``core.features`` (the feature cache) imports the base, the zoo and the data;
- ``core.headsearch`` (fitting a head on stored features) imports the base, the model and the task
  types — neither of the two imports ``core.train``, which builds on them;
- ``core`` imports no ``gui`` and no ``cli``; ``gui.jobs`` imports no widget, panel or window.

A package's ``__init__`` importing its own submodules (the family adapters registering
themselves) is not counted as a cycle.
"""
import ast
from pathlib import Path

import tlstudio

PACKAGE = Path(tlstudio.__file__).parent
BASE = {"tlstudio.core", "tlstudio.core.errors", "tlstudio.core.atomic", "tlstudio.core.paths",
        "tlstudio.core.progress", "tlstudio.core.device", "tlstudio.core.heavy_imports", "tlstudio.core.events",
        "tlstudio.core.threads", "tlstudio.core.calibration"}
# (importing module prefix) -> the module prefixes it may import
LAYERS = {
    "tlstudio.core.errors": BASE, "tlstudio.core.atomic": BASE, "tlstudio.core.paths": BASE,
    "tlstudio.core.progress": BASE, "tlstudio.core.device": BASE, "tlstudio.core.heavy_imports": BASE,
    "tlstudio.core.events": BASE, "tlstudio.core.threads": BASE, "tlstudio.core.calibration": BASE,
    "tlstudio.core.zoo": BASE | {"tlstudio.core.zoo"},
    "tlstudio.core.model": BASE | {"tlstudio.core.zoo", "tlstudio.core.model"},
    "tlstudio.core.data": BASE | {"tlstudio.core.zoo", "tlstudio.core.data"},
    "tlstudio.core.task_types": BASE | {"tlstudio.core.zoo", "tlstudio.core.data",
                                        "tlstudio.core.runs.multilabel_metrics"},
    "tlstudio.core.features": BASE | {"tlstudio.core.zoo", "tlstudio.core.data", "tlstudio.core.features"},
    "tlstudio.core.headsearch": BASE | {"tlstudio.core.zoo", "tlstudio.core.model", "tlstudio.core.task_types",
                                        "tlstudio.core.headsearch"},
}
FORBIDDEN = {"tlstudio.core": ("tlstudio.gui", "tlstudio.cli"),
             "tlstudio.gui.jobs": ("tlstudio.gui.widgets", "tlstudio.gui.panels", "tlstudio.gui.main_window")}
# Each with its reason; keep it short.
ALLOWED: set[tuple[str, str]] = set()


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imported(tree: ast.AST, modules: set[str]) -> set[tuple[str, int]]:
    """(module, line) of every tlstudio module a file imports, outside ``if TYPE_CHECKING:``."""
    found = set()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tlstudio"):
            for alias in node.names:
                target = resolve(f"{node.module}.{alias.name}")
                if target:
                    found.add((target, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tlstudio") and resolve(alias.name):
                    found.add((resolve(alias.name), node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[tuple[str, int]]]:
    paths = {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    modules = set(paths)
    graph = {}
    for name, path in paths.items():
        edges = _imported(ast.parse(path.read_text(encoding="utf-8")), modules)
        # a package importing its own submodules, and a module importing itself, are no dependency
        graph[name] = {(t, line) for t, line in edges if t != name and not t.startswith(name + ".")}
    return graph


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def layer_violations(graph) -> list[str]:
    found = []
    for source, edges in graph.items():
        for target, line in edges:
            if (source, target) in ALLOWED:
                continue
            for layer, allowed in LAYERS.items():
                if _within(source, layer) and target.startswith("tlstudio.core") and \
                        not any(_within(target, a) if a != "tlstudio.core" else target == a for a in allowed):
                    found.append(f"{source}:{line} imports {target} (above {layer})")
            for layer, banned in FORBIDDEN.items():
                if _within(source, layer) and any(_within(target, b) for b in banned):
                    found.append(f"{source}:{line} imports {target}")
    return sorted(found)


def cycles(graph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    order, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        order[v] = low[v] = len(order)
        stack.append(v)
        on_stack.add(v)
        for w, _ in graph[v]:
            if w not in order:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], order[w])
        if low[v] == order[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in order:
            visit(v)
    return out


def _package(tmp_path, files: dict[str, str]) -> Path:
    root = tmp_path / "tlstudio"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_checks_see_an_upward_import_and_a_cycle(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "", "core/__init__.py": "", "core/errors.py": "", "core/zoo/__init__.py": "",
        "core/data/__init__.py": "", "gui/__init__.py": "", "gui/jobs/__init__.py": "", "gui/widgets/__init__.py": "",
        "core/zoo/cards.py": "def f():\n    from tlstudio.core.data.transforms import Pre\n",
        "core/data/transforms.py": "from tlstudio.core.zoo import cards\nfrom tlstudio.core.errors import E\n",
        "gui/jobs/work.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from tlstudio.gui.widgets.a import W\n"
                            "from tlstudio.gui.widgets.a import pil\n",
        "gui/widgets/a.py": "",
    })
    graph = import_graph(root)
    assert layer_violations(graph) == ["tlstudio.core.zoo.cards:2 imports tlstudio.core.data.transforms "
                                       "(above tlstudio.core.zoo)",
                                       "tlstudio.gui.jobs.work:4 imports tlstudio.gui.widgets.a"]
    assert cycles(graph) == [["tlstudio.core.data.transforms", "tlstudio.core.zoo.cards"]]


def test_no_import_points_up_a_layer():
    graph = import_graph()
    assert {"tlstudio.core.zoo.cards", "tlstudio.core.model.build", "tlstudio.gui.jobs.explain_jobs",
            "tlstudio.core.features.cache", "tlstudio.core.headsearch.search"} <= set(graph)
    assert layer_violations(graph) == []


def test_no_import_cycle():
    assert cycles(import_graph()) == []
